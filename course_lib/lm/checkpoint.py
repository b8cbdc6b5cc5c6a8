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
    problem = _mismatch(tokenizer, model.config)
    if problem:
        raise ValueError(f"tokenizer and model do not match: {problem}")
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
    return write_payload(path, payload)


def write_payload(path: str | Path, payload: dict) -> Path:
    """Write a checkpoint dict with ``torch.save`` in one write (the writer of ``read_payload``'s files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.write_bytes(buf.getvalue())
    return path


def _mismatch(tokenizer: CharTokenizer, config: GPTConfig) -> str | None:
    """What makes ``tokenizer`` unusable with a model of ``config``, or None."""
    if tokenizer.vocab_size != config.vocab_size:
        return (f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                f"{config.vocab_size}")
    if tokenizer.pad_id != config.pad_id:
        return f"the tokenizer's <pad> is id {tokenizer.pad_id} but the model's pad_id is {config.pad_id}"
    return None


def read_payload(path: str | Path, fmt: str, version: int, rebuild: str, what: str) -> dict:
    """The dict saved at ``path``, loaded with ``weights_only=True`` and checked to be of format ``fmt``.

    The one reader of the course's torch checkpoints (the language model here, scalar-head models
    in ``course_lib.lm.heads``): a missing file, a damaged or truncated one, another format or
    another version each get a clear error that names the file and ``rebuild``, the command that
    makes it again.
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
            f"Rebuild it with `{rebuild}`.") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is a torch file but not a course_lib {what} checkpoint (expected format {fmt!r})")
    if payload.get("version") != version:
        raise ValueError(f"{path} has checkpoint format version {payload.get('version')!r}; this course_lib reads "
                         f"version {version}. Rebuild it with `{rebuild}`.")
    return payload


def check_finite_state(path, state: dict, rebuild: str) -> None:
    """Refuse weights that hold NaN or inf (a checkpoint saved from a diverged run)."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path} holds non-finite weights (NaN or inf) in {name}: it was saved from a "
                             f"diverged run; retrain it (or rebuild the shipped one with `{rebuild}`)")


def load_checkpoint(path: str | Path, device=None) -> tuple[GPT, CharTokenizer, dict]:
    """Load a checkpoint written by ``save_checkpoint``.

    Returns:
        (model, tokenizer, meta); the model is in eval mode on ``device`` (default CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is damaged or truncated, not a course_lib LM checkpoint, of an
            unsupported format version, holds a tokenizer that does not match the model, or
            holds non-finite weights (saved from a diverged run).
    """
    path = Path(path)
    payload = read_payload(path, FORMAT, FORMAT_VERSION, "python -m course_lib train-lm", "language-model")
    try:
        config = GPTConfig(**payload["config"])
        tokenizer = CharTokenizer.from_dict(payload["tokenizer"])
        model = GPT(config)
        state = dict(payload["state_dict"])
        state["lm_head.weight"] = state["wte.weight"]
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is an incomplete or inconsistent checkpoint: {exc}") from exc
    problem = _mismatch(tokenizer, config)
    if problem:
        raise ValueError(f"{path} is an inconsistent checkpoint: {problem}")
    check_finite_state(path, state, "python -m course_lib train-lm")
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer, dict(payload.get("meta", {}))
