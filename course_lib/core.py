"""What every notebook needs first: fast/full mode, seeding, the device, argument checks."""
from __future__ import annotations

import os
import random
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """True when the environment variable ``COURSE_FAST`` asks for shrunken budgets.

    ``COURSE_FAST=1`` (or true/yes/on) is what CI sets so the whole notebook suite runs in
    minutes; unset (or 0/false/no/off) is full mode, the budgets the notebooks' claims are
    measured with.
    """
    raw = os.environ.get("COURSE_FAST", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"COURSE_FAST must be one of 1/0/true/false/yes/no/on/off, got {raw!r}")


def budget(full: T, fast: T) -> T:
    """Pick a training budget: ``fast`` under ``COURSE_FAST=1``, otherwise ``full``."""
    return fast if fast_mode() else full


def set_seed(seed: int, env: Any = None) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA).

    Args:
        seed: a non-negative integer.
        env: optionally a gymnasium environment (or vector environment); it is reset with
            ``seed`` and its action space is seeded, which is how gymnasium 1.x seeds.

    Returns:
        A fresh ``numpy.random.Generator`` seeded with ``seed``, for code that prefers an
        explicit generator to the global one.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # the course needs torch, but seeding should not be what fails
        pass
    else:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    if env is not None:
        if not hasattr(env, "reset") or not hasattr(env, "action_space"):
            raise ValueError(f"env must be a gymnasium environment, got {type(env).__name__}")
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return np.random.default_rng(seed)


def get_device(prefer: str | None = None):
    """The torch device to train on: CUDA when present, else the CPU.

    Args:
        prefer: "cpu" or "cuda" to force one; None reads ``COURSE_DEVICE`` and otherwise
            picks CUDA when available.
    """
    import torch

    choice = (prefer or os.environ.get("COURSE_DEVICE", "")).strip().lower()
    if choice in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice not in ("cpu", "cuda"):
        raise ValueError(f"prefer must be 'cpu', 'cuda' or None, got {prefer!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("prefer='cuda' was asked for, but torch sees no CUDA device")
    return torch.device(choice)


def check_probability(name: str, value: float) -> float:
    """Return ``value`` as a float if it lies in [0, 1]; otherwise a ValueError naming it."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v
