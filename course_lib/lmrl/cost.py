"""One measurement of what an RL step on the language model costs (notebooks 07 and 08).

Three numbers answer "PPO needs 2x the memory, GRPO is 3.2x faster?" (a claim no paper makes;
DeepSeekMath, arXiv 2402.03300, §4.1.1, says only that PPO's value model is a substantial burden)
with the learner's own measurements:

* **model state**: parameters and bytes of every network a method keeps. A trained network holds
  its weights, their gradients and Adam's two moment estimates (4 copies); a frozen one (the
  reference, a reward model) only its weights. Activations are not state: they are in the peak.
* **peak memory of one training step**: on a GPU ``torch.cuda.max_memory_allocated`` above what
  was allocated before the step (exact, tensors only); on a Linux CPU the growth of the process's
  peak resident memory (VmHWM, reset through ``/proc/self/clear_refs``) above its resident memory
  before the step, after the C allocator has returned its free memory to the OS (glibc
  ``malloc_trim``): it counts everything the step touched (tensors, autograd's saved activations,
  Python objects), at page granularity, so it is noisier than the GPU figure. The result says which
  method measured it.
* **time per step split into sampling** (generating the completions), **scoring** (the reward,
  the reference's and the value model's forward passes, advantages) **and update** (the gradient
  steps), measured with ``course_lib.timing.PhaseTimer``, which waits for the GPU at each phase
  boundary.

``measure_step`` runs a step function under these measurements. The steps themselves are the
trainers' own: ``course_lib.grpo.grpo_step`` and ``course_lib.rlhf.ppo_step`` wrap the step that
``train_grpo`` and ``train_rlhf`` take (``GRPOState.step``, ``RLHFState.step``), so notebooks 07
and 08 and ``python -m course_lib bench rlhf`` measure what training does.
"""
from __future__ import annotations

import re
import sys
from typing import Callable, Mapping

import numpy as np
import torch

from ..timing import PHASES, PhaseTimer

ADAM_MOMENTS = 2  # Adam keeps m and v per parameter


def state_bytes(trained: Mapping[str, torch.nn.Module], frozen: Mapping[str, torch.nn.Module] | None = None) -> dict:
    """Parameters and bytes of model state: weights, gradients and Adam moments of each trained network,
    weights of each frozen one.

    Args:
        trained: name -> network trained with Adam (the policy; PPO's value model).
        frozen: name -> network only run forward (the reference; a reward model).

    Returns:
        {"rows": [{"name", "role", "params", "weights", "gradients", "adam", "total"}], "params", "total"}
        with sizes in bytes (parameters shared between networks, e.g. tied embeddings, counted once per network).
    """
    rows = []
    for role, nets in (("trained", trained), ("frozen", frozen or {})):
        if not isinstance(nets, Mapping):
            raise ValueError(f"{role} must be a dict name -> torch.nn.Module, got {type(nets).__name__}")
        for name, net in nets.items():
            if not isinstance(net, torch.nn.Module):
                raise ValueError(f"{role}[{name!r}] must be a torch.nn.Module, got {type(net).__name__}")
            params = list(net.parameters())  # nn.Module.parameters() yields a tied tensor once
            n = sum(p.numel() for p in params)
            w = sum(p.numel() * p.element_size() for p in params)
            grads = w if role == "trained" else 0
            adam = ADAM_MOMENTS * w if role == "trained" else 0
            rows.append({"name": name, "role": role, "params": n, "weights": w, "gradients": grads, "adam": adam,
                         "total": w + grads + adam})
    return {"rows": rows, "params": sum(r["params"] for r in rows), "total": sum(r["total"] for r in rows)}


def _proc_status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


def _trim_heap() -> None:
    """Give memory the C allocator holds but does not use back to the OS (glibc's malloc_trim), so
    that what a step allocates shows up as resident-memory growth instead of reusing freed pages."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux >= 4.0: reset VmHWM to the current resident size
        return True
    except OSError:
        return False


def peak_memory(fn: Callable[[], object], device=None) -> tuple[object, int | None, str]:
    """Run ``fn()`` and measure the peak memory it adds.

    Returns:
        (fn's result, peak bytes above the memory in use before the call or None when it cannot
        be measured here, the method: "cuda max_memory_allocated", "peak RSS growth (Linux VmHWM)"
        or "unavailable").
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        before = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        out = fn()
        torch.cuda.synchronize(dev)
        return out, int(torch.cuda.max_memory_allocated(dev) - before), "cuda max_memory_allocated"
    if sys.platform.startswith("linux"):
        _trim_heap()
    if sys.platform.startswith("linux") and _reset_peak_rss():
        before = _proc_status("VmRSS")
        out = fn()
        peak = _proc_status("VmHWM")
        if before is not None and peak is not None:
            return out, max(0, peak - before), "peak RSS growth (Linux VmHWM)"
        return out, None, "unavailable"
    return fn(), None, "unavailable"


def measure_step(step: Callable[[PhaseTimer], object], device=None, repeats: int = 3, warmup: int = 1) -> dict:
    """Time one training step split into phases, and its peak memory.

    Args:
        step: runs one step, charging its work to ``timer.phase("sampling" | "scoring" | "update")``.
        device: where the step runs.
        repeats: measured steps (the median of each phase is reported).
        warmup: steps run first and not measured (allocator and caches warm up).

    Returns:
        {"sampling", "scoring", "update", "total": median seconds per step, "peak_bytes",
        "peak_method", "repeats"}.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    timer = PhaseTimer(device)
    for _ in range(warmup):
        step(timer)
    per_phase: dict[str, list[float]] = {p: [] for p in PHASES}
    peaks = []
    method = "unavailable"
    for _ in range(repeats):
        timer.reset()
        _, peak, method = peak_memory(lambda: step(timer), device)
        peaks.append(peak)
        for p in PHASES:
            per_phase[p].append(timer.seconds[p])
    out = {p: float(np.median(v)) for p, v in per_phase.items()}
    out["total"] = float(np.median([sum(per_phase[p][i] for p in PHASES) for i in range(repeats)]))
    known = [p for p in peaks if p is not None]
    out.update(peak_bytes=max(known) if known else None, peak_method=method, repeats=repeats)
    return out


__all__ = ["state_bytes", "peak_memory", "measure_step"]
