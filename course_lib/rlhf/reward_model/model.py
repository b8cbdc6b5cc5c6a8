"""The reward model r(x, y) (notebook 06): the course's GPT with a scalar head, scoring, and its file.

The reward model is the course's GPT (notebook 05), started from the shipped SFT checkpoint, with a
scalar head read at the last real token of ``<bos> prompt completion <eos>`` (``course_lib.lm.heads``),
plus the completion's log-likelihood under the trunk's own language-model head (``RewardModel``
says why). ``reward_model_reward`` wraps it as a reward function in TRL's convention;
``load_shipped_reward_model()`` loads ``data/rm/reward_model.pt``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from ... import tasks
from ...lm.generate import logprobs_from_logits
from ...lm.heads import ScalarHeadModel, last_token_values, load_scalar_head, save_scalar_head
from ...lm.model import GPT
from ...lm.tokenizer import CharTokenizer
from ..preferences import PreferencePair

KIND = "reward_model"

REBUILD = "python -m course_lib train-rm"

FILE = "rm/reward_model.pt"



class RewardModel(ScalarHeadModel):
    """r(x, y) = log π_φ(y | x) + v_φ(x, y): a GPT trunk, its language-model head and a scalar head.

    v_φ is the scalar head read at the last real token of ``<bos> x y <eos>``; log π_φ(y | x) is the
    log-likelihood of the completion (its <eos> included) under the trunk's own language-model
    head, which starts as the SFT model's. Both are trained together by the Bradley–Terry loss.

    Why the log-likelihood term (``loglik=True``, the default): checking an answer means comparing
    each written digit with the digit the model computes for that place, a product of two
    positions' features. The language-model head computes exactly that (the logit of the written
    token); a linear head at the last token cannot, and for this small model fine-tuning does not
    learn it within minutes (measured in notebook 06 and docs/reward-model.md: the scalar head
    alone stays near 58% agreement with the truth; with the log-likelihood term the model starts
    at 88%). Large reward models get the same ability from a large pretrained backbone.
    ``loglik=False`` gives the plain scalar-head reward model for comparison.

    Args:
        trunk: the GPT to start from (copied), usually the shipped SFT model.
        tokenizer: the task's tokenizer (default ``tasks.make_tokenizer()``).
        loglik: add log π_φ(y | x) to the scalar head's value.
    """

    def __init__(self, trunk: GPT, tokenizer: CharTokenizer | None = None, loglik: bool = True):
        super().__init__(trunk)
        self.tokenizer = tokenizer or tasks.make_tokenizer()
        if self.tokenizer.vocab_size != self.config.vocab_size:
            raise ValueError(f"the tokenizer has {self.tokenizer.vocab_size} tokens, the trunk {self.config.vocab_size}")
        if not isinstance(loglik, bool):
            raise ValueError(f"loglik must be True or False, got {loglik!r}")
        self.loglik = loglik

    @classmethod
    def from_sft(cls, loglik: bool = True) -> "RewardModel":
        """A reward model whose trunk is a copy of the shipped SFT model and whose scalar head is zero."""
        from ...lm import load_shipped

        gpt, tok, _ = load_shipped("sft")
        return cls(gpt, tok, loglik)

    def encode(self, prompts: Sequence[str], completions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token ids of ``<bos> prompt completion <eos>``, right-padded.

        Returns:
            (idx, lengths, starts): (B, T) ids, (B,) the number of real tokens per row, (B,) the
            column of each row's first completion token.
        """
        prompts, completions = _check_batch(prompts, completions)
        heads = [self.tokenizer.encode(p, bos=True) for p in prompts]
        rows = [h + self.tokenizer.encode(c, eos=True) for h, c in zip(heads, completions)]
        T = max(len(r) for r in rows)
        if T > self.config.block_size:
            raise ValueError(f"a prompt plus completion of {T} tokens exceeds block_size {self.config.block_size}")
        idx = torch.full((len(rows), T), self.tokenizer.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            idx[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        return (idx, torch.tensor([len(r) for r in rows], dtype=torch.long),
                torch.tensor([len(h) for h in heads], dtype=torch.long))

    def rewards(self, idx: torch.Tensor, lengths: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """(B,) r(x, y) for encoded rows (see ``encode``); with gradients."""
        dev = self.device
        idx, lengths, starts = idx.to(dev), lengths.to(dev), starts.to(dev)
        h = self.trunk.hidden(idx)  # (B, T, n_embd); right padding: plain causal attention
        r = last_token_values(self.head(h).squeeze(-1), lengths)  # (B,) v at the <eos>
        if self.loglik:
            cols = torch.arange(idx.shape[1], device=dev)[None, :]
            mask = (cols >= starts[:, None]) & (cols < lengths[:, None])  # (B, T) the completion and <eos>
            r = r + logprobs_from_logits(self.trunk.lm_head(h), idx, mask)  # + log π(y | x)
        return r


def _check_batch(prompts, completions) -> tuple[list[str], list[str]]:
    from ...rewards import check_completions  # strings, or TRL's conversational messages

    prompts, completions = check_completions(prompts), check_completions(completions)
    if not prompts:
        raise ValueError("the batch is empty: pass at least one prompt and one completion")
    if len(prompts) != len(completions):
        raise ValueError(f"prompts has {len(prompts)} entries but completions has {len(completions)}; "
                         "pass one prompt per completion")
    return prompts, completions


@torch.no_grad()
def score(model: RewardModel, prompts: Sequence[str], completions: Sequence[str],
          batch_size: int = 1024) -> torch.Tensor:
    """r(x, y) for a batch of prompts and their completions (no gradients).

    Args:
        model: a RewardModel.
        prompts: B prompt texts such as "34+58=" (no <bos>).
        completions: B completion texts (before <eos>).

    Returns:
        (B,) float tensor on the CPU.

    Raises:
        ValueError: an empty batch, or prompts and completions of different counts.
    """
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")
    prompts, completions = _check_batch(prompts, completions)
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(prompts), batch_size):
        out.append(model.rewards(*model.encode(prompts[s:s + batch_size], completions[s:s + batch_size])).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def score_pairs(model: RewardModel, pairs: Sequence[PreferencePair]) -> tuple[torch.Tensor, torch.Tensor]:
    """(r_chosen, r_rejected): (B,) scores of each pair's two answers."""
    if not pairs:
        raise ValueError("pairs must be a non-empty list of PreferencePair")
    prompts = [p.prompt for p in pairs]
    r = score(model, prompts + prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    return r[:len(pairs)], r[len(pairs):]


def reward_model_reward(model: RewardModel) -> Callable[..., list]:
    """A reward function ``fn(completions, prompts=..., **kwargs) -> list[float]`` scoring with ``model``.

    It follows the convention of ``course_lib.rewards`` (and of TRL's reward functions), so RLHF
    (notebook 07) can train a policy against the learned reward exactly as GRPO trains against
    the rule rewards. ``prompts`` is required: the same question may deserve different answers.
    """
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")

    def reward_model_score(completions, prompts=None, **kwargs) -> list[float]:
        if prompts is None:
            raise ValueError("prompts is required: pass one prompt per completion as prompts=...")
        return score(model, prompts, completions).tolist()

    return reward_model_score


def save_reward_model(path: str | Path, model: RewardModel, meta: dict | None = None) -> Path:
    """Write the reward model (weights, config, tokenizer, ``meta``) to ``path``."""
    if not isinstance(model, RewardModel):
        raise ValueError(f"model must be a RewardModel, got {type(model).__name__}")
    return save_scalar_head(path, model, model.tokenizer, KIND, {**(meta or {}), "loglik": model.loglik})


def load_reward_model(path: str | Path, device=None) -> tuple[RewardModel, dict]:
    """Load a reward model written by ``save_reward_model`` (``torch.load(weights_only=True)``).

    Returns:
        (model, meta), the model in eval mode.

    Raises:
        FileNotFoundError, ValueError: as ``course_lib.lm.load_checkpoint`` (damaged, truncated,
        wrong format or version), naming the file and the command that rebuilds it.
    """
    model, tok, meta = load_scalar_head(path, KIND, REBUILD, RewardModel, device)
    model.tokenizer = tok
    loglik = meta.get("loglik", True)
    if not isinstance(loglik, bool):
        raise ValueError(f"{path} has an invalid 'loglik' entry in its metadata: {loglik!r}")
    model.loglik = loglik
    return model, meta


def load_shipped_reward_model(device=None) -> tuple[RewardModel, dict]:
    """The shipped reward model ``data/rm/reward_model.pt`` and its metadata (training, figures)."""
    from ...data import verified_path

    return load_reward_model(verified_path(FILE), device)  # checked against data/MANIFEST.json



__all__ = ["KIND", "REBUILD", "FILE", "RewardModel", "score", "score_pairs", "reward_model_reward", "save_reward_model",
           "load_reward_model", "load_shipped_reward_model"]
