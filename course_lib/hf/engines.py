"""The course's reward in the conventions of two Ray-based RL engines: a few lines of glue each.

Neither engine installs without GPUs, so these adapters are tested against each engine's documented
call, not run inside it (notebook 10 §3):

* **verl** ("Implement Reward Function for Dataset", verl documentation,
  ``docs/preparation/reward_function.rst``): a function in a file named by
  ``custom_reward_function.path`` (and ``.name``, default ``compute_score``), called once per response
  as ``fn(data_source, solution_str, ground_truth, extra_info=None)`` and returning a number.
* **OpenRLHF** v0.11.0 (README, "Reinforced Fine-tuning"; ``openrlhf/utils/agent.py``,
  ``SingleTurnAgentExecutor``; Aug 2026): a file with
  ``reward_func(queries, prompts, labels)`` passed as ``--reward.remote_url /path/to/reward_func.py``,
  with ``--data.label_key answer`` naming the dataset field that arrives as ``labels``. ``queries`` are
  the prompt and the response decoded together **with** special tokens. It must return a dict:
  ``rewards`` (for the advantages), ``scores`` (in [0, 1], for dynamic filtering; ``rewards`` when
  missing) and ``extra_logs`` (logged). A bare tensor is not read: the engine logs the failure and the
  sample gets no reward. Releases before v0.10.2 named the flags ``--remote_rm_url`` and ``--label_key``.
"""
from __future__ import annotations

from typing import Sequence

from ..rewards import accuracy_reward, r1_reward


def verl_compute_score(data_source: str, solution_str: str, ground_truth, extra_info=None) -> float:
    """verl's convention: one response at a time; the course's accuracy + format reward."""
    return float(r1_reward([solution_str], answer=[ground_truth])[0])


def openrlhf_reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence, *,
                         eos: str = "<eos>") -> dict:
    """OpenRLHF's convention: a batch of queries (prompt + response, special tokens kept).

    Args:
        queries, prompts, labels: as OpenRLHF passes them (labels from ``--data.label_key``).
        eos: the tokenizer's end-of-sequence text; the response is cut there.

    Returns:
        ``{"rewards": tensor (B,), "scores": tensor (B,), "extra_logs": dict}``: rewards = accuracy +
        format (R1's sum, ``r1_reward``), scores = accuracy alone (0 or 1: what dynamic filtering reads).
    """
    import torch

    if not (len(queries) == len(prompts) == len(labels)):
        raise ValueError(f"queries, prompts and labels must have one entry per sample, got "
                         f"{len(queries)}, {len(prompts)} and {len(labels)}")
    completions = []
    for q, p in zip(queries, prompts):
        if not q.startswith(p):
            raise ValueError(f"queries must start with their prompt: {q!r} does not start with {p!r}")
        completions.append(q[len(p):].split(eos)[0])
    rewards = torch.tensor(r1_reward(completions, answer=list(labels)), dtype=torch.float32)
    scores = torch.tensor(accuracy_reward(completions, answer=list(labels)), dtype=torch.float32)
    return {"rewards": rewards, "scores": scores,
            "extra_logs": {"accuracy": float(scores.mean()), "format": float((rewards - scores).mean())}}
