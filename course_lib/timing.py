"""Wall-clock time of a step split into its phases (sampling, scoring, update).

A foundation of the library: the RLHF-PPO and GRPO steps charge their work to a ``PhaseTimer``,
and ``course_lib.lmrl.cost`` measures steps with it (notebooks 07 and 08).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable

import torch

PHASES = ("sampling", "scoring", "update")


def _sync(device) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class PhaseTimer:
    """Wall-clock seconds per phase of a step, summed over every ``with timer.phase(name):`` block.

    Args:
        device: the device the work runs on; on CUDA each phase waits for the GPU at its end, so
            the time of a kernel is charged to the phase that launched it.
    """

    def __init__(self, device=None):
        self.device = device
        self.seconds: dict[str, float] = {p: 0.0 for p in PHASES}

    @contextmanager
    def phase(self, name: str):
        if name not in PHASES:
            raise ValueError(f"name must be one of {PHASES}, got {name!r}")
        _sync(self.device)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            _sync(self.device)
            self.seconds[name] += time.perf_counter() - t0

    def moved(self, fn: Callable, to: str = "scoring", inside: str = "sampling") -> Callable:
        """``fn`` wrapped for a call made inside phase ``inside``: its time is charged to ``to`` instead.

        ``sample_rollouts`` calls the reward while it samples; wrapping the reward this way keeps
        scoring out of the sampling time.
        """
        for name in (to, inside):
            if name not in PHASES:
                raise ValueError(f"phases must be among {PHASES}, got {name!r}")

        def wrapped(*args, **kwargs):
            _sync(self.device)
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync(self.device)
            dt = time.perf_counter() - t0
            self.seconds[inside] -= dt
            self.seconds[to] += dt
            return out
        wrapped.__name__ = getattr(fn, "__name__", "moved")
        return wrapped

    def reset(self) -> None:
        self.seconds = {p: 0.0 for p in PHASES}


__all__ = ["PHASES", "PhaseTimer"]
