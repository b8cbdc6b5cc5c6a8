"""Pitfalls of RL on a language model and their fixes, as small measurements (notebook 09).

* ``diversity(model, ...)``: token entropy and distinct answers among G samples per prompt;
* ``pass_at_k_curve`` / ``verification_curves``: pass@k, maj@k and best-of-n against k from
  cached samples (``course_lib.pitfalls.verify``);
* ``token_gradient_weights``: the weight each token's log-prob gets in the loss under each
  aggregation (GRPO's per-sequence mean, Dr. GRPO's constant, DAPO's per-token mean over the batch), read off
  the loss itself with autograd: the length bias of per-sequence normalisation (Dr. GRPO,
  Liu et al. 2025, arXiv 2503.20783);
* ``load_cached``: the cached runs of ``python -m course_lib sweep pitfalls``
  (``course_lib.experiments.pitfalls_sweep``), stored in data/pitfalls/.
"""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import torch

from . import verify
from ..grpo.config import current_names
from ..lmrl import aggregate_token_loss

KS = (1, 2, 4, 8, 16, 32, 64)  # the k of every pass@k / maj@k / best-of-n curve
FILES = {"runs": "pitfalls/runs.json", "samples": "pitfalls/samples.json", "eureka": "pitfalls/eureka.json"}
FORMAT_VERSION = 1

__all__ = ["KS", "FILES", "diversity", "pass_at_k_curve", "verification_curves", "token_gradient_weights",
           "load_cached"]


def diversity(model, tokenizer, problems: Sequence, group_size: int = 8, temperature: float = 1.0,
              seed: int = 0) -> dict:
    """How diverse a model's samples are: G samples for each of P prompts.

    Returns:
        {"entropy": mean next-token entropy (nats) over the sampled tokens, "distinct": mean
        number of distinct answers among the G samples of a prompt (an unparsable answer counts
        as one), "accuracy": share of samples that are right}.
    """
    s = verify.sample_answers(model, tokenizer, problems, group_size, temperature=temperature, seed=seed)
    return {"entropy": float(s["entropy"]), "distinct": float(np.mean(s["distinct"])),
            "accuracy": float(s["correct"].mean())}


def pass_at_k_curve(correct_counts: Sequence[int], n: int, ks: Sequence[int] = KS) -> list[float]:
    """Mean unbiased pass@k over problems for each k (``correct_counts``: one count per problem)."""
    return [verify.mean_pass_at_k(correct_counts, n, k) for k in ks]


def verification_curves(answers: Sequence[Sequence], truths: Sequence, rm_scores: Sequence[Sequence[float]] | None = None,
                        ks: Sequence[int] = KS) -> dict:
    """Accuracy against k of four ways to turn k samples into one answer.

    Returns:
        {"k", "pass@k" (unbiased; what a perfect verifier reaches), "maj@k" (majority vote),
        "best_of_n_verifier" (best-of-k by the rule verifier, over disjoint groups),
        "best_of_n_rm" (best-of-k by the reward model's score; only with rm_scores)}.
    """
    n = len(answers[0])
    counts = [sum(a == t for a in row) for row, t in zip(answers, truths)]
    verifier = [[1.0 if a == t else 0.0 for a in row] for row, t in zip(answers, truths)]
    out = {"k": list(ks), "pass@k": pass_at_k_curve(counts, n, ks),
           "maj@k": [verify.maj_at_k(answers, truths, k) for k in ks],
           "best_of_n_verifier": [verify.best_of_n_at_k(answers, verifier, truths, k) for k in ks]}
    if rm_scores is not None:
        out["best_of_n_rm"] = [verify.best_of_n_at_k(answers, rm_scores, truths, k) for k in ks]
    return out


def token_gradient_weights(mask: torch.Tensor, advantages: torch.Tensor, aggregation: str,
                           max_completion_length: int | None = None) -> torch.Tensor:
    """(B, T) ∂loss/∂log π(token) at ρ = 1, read off the loss with autograd.

    The loss is ``aggregate_token_loss(−Â · log π, mask, aggregation)``, the GRPO loss on the
    first update (ρ = 1, no KL). The gradient each token's log-prob receives is −Â times the
    aggregation's weight: 1/(G·|o_i|) for "grpo" (a long completion's tokens each get less),
    1/(B·L_max) for "dr_grpo", 1/Σ|o_i| over the batch's completions for "dapo" (as verl and TRL do;
    DAPO's paper, arXiv 2503.14476, sums over the G outputs of one prompt). Summed over a completion's tokens, "grpo"
    gives every completion the same total whatever its length, so a wrong long answer is pushed
    down less per token than a wrong short one.

    Args:
        mask: (B, T) 1 on real completion tokens.
        advantages: (B,) one advantage per completion.
        aggregation: "grpo", "dr_grpo" or "dapo".
        max_completion_length: the constant of "dr_grpo".
    """
    if not isinstance(mask, torch.Tensor) or mask.dim() != 2:
        raise ValueError(f"mask must be a (B, T) tensor, got {getattr(mask, 'shape', mask)!r}")
    adv = torch.as_tensor(advantages, dtype=torch.float32)
    if adv.shape != (mask.shape[0],):
        raise ValueError(f"advantages must have shape ({mask.shape[0]},), one per completion, got {tuple(adv.shape)}")
    logp = torch.zeros(mask.shape, requires_grad=True)
    loss = aggregate_token_loss(-adv[:, None] * logp, mask.bool(), aggregation, max_completion_length)
    (grad,) = torch.autograd.grad(loss, logp)
    return grad * mask.float()


def load_cached(what: str) -> dict:
    """A cached file of ``sweep pitfalls``: "runs", "samples" or "eureka" (checked against the manifest)."""
    from ..data import verified_path

    if what not in FILES:
        raise ValueError(f"what must be one of {tuple(FILES)}, got {what!r}")
    with open(verified_path(FILES[what])) as f:
        data = json.load(f)
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"data/{FILES[what]} has format version {data.get('format_version')!r}, expected "
                         f"{FORMAT_VERSION}; rebuild it with: python -m course_lib sweep pitfalls")
    if what == "runs":  # runs stored before a GRPOConfig field was renamed read with today's names
        for run in data.get("runs", {}).values():
            if isinstance(run, dict) and isinstance(run.get("config"), dict):
                run["config"] = current_names(run["config"])
    return data
