"""Saving and loading the small LM: weights, config and tokenizer in one file.

Loading uses ``torch.load(weights_only=True)``, which unpickles only tensors and plain
containers, so a checkpoint file cannot run code. A file that is not a checkpoint, a truncated
one, or one written by an incompatible version fails with a message saying which.
"""
from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path

import torch

from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer

FORMAT = "course_lib.lm.checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, model: GPT, tokenizer: CharTokenizer, meta: dict | None = None) -> Path:
    """Write ``model`` (weights and config), ``tokenizer`` and ``meta`` to ``path``.

    Args:
        meta: plain JSON-like values (str, int, float, lists, dicts) to keep with it, e.g. how
            it was trained.

    The bytes depend only on the weights and the arguments, so the same training run gives the
    same file.
    """
    if not isinstance(model, GPT):
        raise ValueError(f"model must be a GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, CharTokenizer):
        raise ValueError(f"tokenizer must be a CharTokenizer, got {type(tokenizer).__name__}")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{model.config.vocab_size}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()
             if k != "lm_head.weight"}  # tied to wte.weight
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": asdict(model.config),
        "tokenizer": tokenizer.to_dict(),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    return path


def load_checkpoint(path: str | Path, device=None) -> tuple[GPT, CharTokenizer, dict]:
    """Load a checkpoint written by ``save_checkpoint``.

    Returns:
        (model, tokenizer, meta); the model is in eval mode on ``device`` (default CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is damaged or truncated, not a course_lib LM checkpoint, or of an
            unsupported format version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{path} could not be read as a torch checkpoint: it is damaged, truncated or not a "
            f"checkpoint at all ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "Rebuild it with `python -m course_lib train-lm`.") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is a torch file but not a course_lib language-model checkpoint "
                         f"(expected format {FORMAT!r})")
    version = payload.get("version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format version {version!r}; this course_lib reads "
                         f"version {FORMAT_VERSION}. Rebuild it with `python -m course_lib train-lm`.")
    try:
        config = GPTConfig(**payload["config"])
        tokenizer = CharTokenizer.from_dict(payload["tokenizer"])
        model = GPT(config)
        state = dict(payload["state_dict"])
        state["lm_head.weight"] = state["wte.weight"]
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path} is an incomplete or inconsistent checkpoint: {exc}") from exc
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer, dict(payload.get("meta", {}))
