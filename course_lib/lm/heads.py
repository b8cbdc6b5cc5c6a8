"""A scalar head on the course's GPT: one number per position instead of next-token logits.

Two models of the course share this one class:

* the **reward model** r(x, y) of notebook 06 reads the number at the last real token of
  ``prompt + completion + <eos>`` (one score per sequence: ``last_token_values``);
* the **value model** V(s_t) of RLHF-PPO (notebook 07) reads it at every position (one estimate
  of the return per prefix of the text).

Both start as a copy of a trained language model (the trunk: embeddings, transformer blocks,
final layer norm) with a fresh linear head ``n_embd -> 1`` in place of the language-model head,
as InstructGPT starts its reward model from a language model with the unembedding layer removed
(Ouyang et al. 2022, arXiv 2203.02155, §3.5).

Saved files hold the trunk's config and weights, the head, the tokenizer and plain metadata, and
load with ``torch.load(weights_only=True)`` (no code runs on loading), like the LM's checkpoints
(``course_lib.lm.checkpoint``).
"""
from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

from .checkpoint import check_finite_state, read_payload, write_payload
from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer

FORMAT = "course_lib.lm.heads"
FORMAT_VERSION = 1


class ScalarHeadModel(nn.Module):
    """The GPT trunk with a scalar linear head at every position.

    Args:
        trunk: a GPT; it is deep-copied, so the model given stays untouched.

    Attributes:
        trunk: the copy (its ``lm_head`` is kept, tied to the embeddings, but unused).
        head: nn.Linear(n_embd, 1), initialised to zero, so every score starts at 0.
    """

    def __init__(self, trunk: GPT):
        super().__init__()
        if not isinstance(trunk, GPT):
            raise ValueError(f"trunk must be a course_lib GPT, got {type(trunk).__name__}")
        self.trunk = copy.deepcopy(trunk)
        self.config: GPTConfig = self.trunk.config
        self.head = nn.Linear(self.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @classmethod
    def from_gpt(cls, gpt: GPT) -> "ScalarHeadModel":
        """A scalar-head model whose trunk starts as a copy of ``gpt`` (e.g. the shipped SFT model)."""
        return cls(gpt)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def forward(self, idx: torch.Tensor, key_valid: torch.Tensor | None = None) -> torch.Tensor:
        """One scalar per position.

        Args:
            idx: (B, T) token ids.
            key_valid: (B, T) bool, True for real tokens; None when rows have no left padding
                (right padding is harmless: a causal model never looks ahead).

        Returns:
            (B, T) values; values[:, t] has seen idx[:, :t+1].
        """
        h = self.trunk.hidden(idx, key_valid)  # (B, T, n_embd)
        return self.head(h).squeeze(-1)  # (B, T)


def last_token_index(key_valid_or_lengths: torch.Tensor, T: int | None = None) -> torch.Tensor:
    """The column of each row's last real token.

    Args:
        key_valid_or_lengths: either a (B, T) bool mask of real tokens (left or right padding),
            or (B,) integer lengths of right-padded rows.
        T: the width of the batch, to check lengths against (optional).

    Returns:
        (B,) long tensor of column indices.
    """
    x = key_valid_or_lengths
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"key_valid_or_lengths must be a tensor, got {type(x).__name__}")
    if x.dim() == 2:
        valid = x.to(torch.bool)
        if not bool(valid.any(1).all()):
            raise ValueError("every row of key_valid needs at least one real token")
        W = valid.shape[1]
        # the last True of each row: flip, find the first True, count back from the end
        return (W - 1 - valid.flip(1).long().argmax(1)).long()
    if x.dim() == 1:
        if x.dtype.is_floating_point or x.dtype == torch.bool:
            raise ValueError(f"lengths must be an integer tensor, got dtype {x.dtype}")
        if bool((x < 1).any()) or (T is not None and bool((x > T).any())):
            raise ValueError(f"lengths must lie in 1..{T if T is not None else 'T'}, got {x.tolist()}")
        return (x - 1).long()
    raise ValueError(f"key_valid_or_lengths must be (B, T) bool or (B,) lengths, got shape {tuple(x.shape)}")


def last_token_values(values: torch.Tensor, key_valid_or_lengths: torch.Tensor) -> torch.Tensor:
    """The value at each row's last real token: a reward model's score of the whole sequence.

    Args:
        values: (B, T) from ``ScalarHeadModel.forward``.
        key_valid_or_lengths: (B, T) bool mask of real tokens, or (B,) lengths of right-padded rows.

    Returns:
        (B,) values, with gradients.
    """
    if not isinstance(values, torch.Tensor) or values.dim() != 2:
        raise ValueError(f"values must be a (B, T) tensor, got {getattr(values, 'shape', values)!r}")
    B, T = values.shape
    if not isinstance(key_valid_or_lengths, torch.Tensor):
        raise ValueError(f"key_valid_or_lengths must be a tensor, got {type(key_valid_or_lengths).__name__}")
    if key_valid_or_lengths.shape[0] != B or (key_valid_or_lengths.dim() == 2 and key_valid_or_lengths.shape[1] != T):
        raise ValueError(f"key_valid_or_lengths must have {B} rows (and {T} columns if a mask), "
                         f"got shape {tuple(key_valid_or_lengths.shape)}")
    idx = last_token_index(key_valid_or_lengths, T).to(values.device)
    return values.gather(1, idx[:, None]).squeeze(1)  # (B,)


# ---------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------


def save_scalar_head(path: str | Path, model: ScalarHeadModel, tokenizer: CharTokenizer, kind: str,
                     meta: dict | None = None) -> Path:
    """Write ``model`` (trunk config and weights, head), ``tokenizer`` and ``meta`` to ``path``.

    Args:
        kind: what the model is, e.g. "reward_model" or "value_model"; checked on loading.
        meta: plain JSON-like values to keep with it (how it was trained, measured figures).

    The bytes depend only on the weights and the arguments, so the same training gives the same file.
    """
    if not isinstance(model, ScalarHeadModel):
        raise ValueError(f"model must be a ScalarHeadModel, got {type(model).__name__}")
    if not isinstance(tokenizer, CharTokenizer) or tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError("tokenizer must be the CharTokenizer of the model's vocabulary")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string, got {kind!r}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
             if k != "trunk.lm_head.weight"}  # tied to trunk.wte.weight
    payload = {"format": FORMAT, "version": FORMAT_VERSION, "kind": kind, "config": asdict(model.config),
               "tokenizer": tokenizer.to_dict(), "state_dict": state, "meta": dict(meta or {})}
    return write_payload(path, payload)


def load_scalar_head(path: str | Path, kind: str, rebuild: str, model_cls: type = ScalarHeadModel,
                     device=None) -> tuple[ScalarHeadModel, CharTokenizer, dict]:
    """Load a file written by ``save_scalar_head``.

    Args:
        kind: the kind the file must hold ("reward_model", ...).
        rebuild: the command that rebuilds the file, named in error messages.
        model_cls: ScalarHeadModel or a subclass constructed as ``model_cls(GPT(config))``.

    Returns:
        (model, tokenizer, meta); the model is in eval mode on ``device`` (default CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is damaged or truncated, not such a checkpoint, of another kind, or
            of an unsupported format version.
    """
    path = Path(path)
    payload = read_payload(path, FORMAT, FORMAT_VERSION, rebuild, "scalar-head")
    if payload.get("kind") != kind:
        raise ValueError(f"{path} holds a {payload.get('kind')!r} model, not a {kind!r}")
    try:
        model = model_cls(GPT(GPTConfig(**payload["config"])))
        tokenizer = CharTokenizer.from_dict(payload["tokenizer"])
        state = dict(payload["state_dict"])
        state["trunk.lm_head.weight"] = state["trunk.wte.weight"]
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is an incomplete or inconsistent checkpoint: {exc}") from exc
    if tokenizer.vocab_size != model.config.vocab_size or tokenizer.pad_id != model.config.pad_id:
        raise ValueError(f"{path} is an inconsistent checkpoint: its tokenizer does not match the model")
    check_finite_state(path, state, rebuild)
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer, dict(payload.get("meta", {}))


__all__ = ["ScalarHeadModel", "last_token_index", "last_token_values", "save_scalar_head", "load_scalar_head",
           "FORMAT", "FORMAT_VERSION"]
