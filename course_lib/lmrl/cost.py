"""One measurement of what an RL step on the language model costs (notebooks 07 and 08).

Three numbers answer "PPO needs 2x the memory, GRPO is 3.2x faster?" (a claim no paper makes:
FACTS #3) with the learner's own measurements:

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
  steps), measured with ``PhaseTimer``, which waits for the GPU at each phase boundary.

``measure_step`` runs a step function under these measurements; ``grpo_step`` and ``ppo_step``
build one step of each method from the library's own pieces (``course_lib.grpo`` and
``course_lib.rlhf``), so notebooks 07 and 08 and ``python -m course_lib bench rlhf`` measure the
same thing.
"""
from __future__ import annotations

import re
import sys
import time
from contextlib import contextmanager
from typing import Callable, Mapping

import numpy as np
import torch

PHASES = ("sampling", "scoring", "update")
ADAM_MOMENTS = 2  # Adam keeps m and v per parameter


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


# ---------------------------------------------------------------------------------------------
# One step of each method, built from the library's pieces
# ---------------------------------------------------------------------------------------------


def grpo_step(policy, tokenizer, problems, *, cfg=None, reward_fn=None, ref_model=None, seed: int = 0):
    """A GRPO step as ``train_grpo`` takes it (sample G per prompt, score, group advantages, μ updates).

    Returns:
        (step, trained, frozen): ``step(timer)`` for ``measure_step``, and the networks for ``state_bytes``.
    """
    from ..grpo import GRPOConfig, group_advantages, grpo_loss
    from ..rewards import r1_reward
    from .rollout import sample_rollouts

    cfg = cfg or GRPOConfig()
    reward_fn = reward_fn or r1_reward
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    problems = list(problems)

    def step(timer: PhaseTimer):
        picked = [problems[i] for i in rng.integers(0, len(problems), size=cfg.prompts_per_step)]
        with timer.phase("sampling"):
            batch = sample_rollouts(policy, tokenizer, [p.prompt for p in picked], group_size=cfg.group_size,
                                    max_new_tokens=cfg.max_completion_length, temperature=cfg.temperature,
                                    generator=gen, reward_fn=timer.moved(reward_fn),
                                    columns={"answer": [p.answer for p in picked]})
        with timer.phase("scoring"):
            adv = group_advantages(batch.rewards, cfg.group_size, scale=cfg.advantage_scale)
            logp_ref = None
            if ref_model is not None:
                with torch.no_grad():
                    logp_ref = batch.token_logprobs(ref_model)
        with timer.phase("update"):
            policy.train()
            for _ in range(cfg.mu):
                loss, _ = grpo_loss(batch.token_logprobs(policy), batch.logprobs, logp_ref, adv, batch.mask, cfg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                opt.step()
            policy.eval()

    frozen = {"reference": ref_model} if ref_model is not None else {}
    return step, {"policy": policy}, frozen



def ppo_step(policy, tokenizer, problems, *, cfg=None, reward=None, ref_model=None, value_model=None,
             seed: int = 0):
    """An RLHF-PPO step as ``course_lib.rlhf.train_rlhf`` takes it (sample, score with the reward, the
    reference and the value model, GAE, epochs of minibatch updates of the policy and the value model).

    Returns:
        (step, trained, frozen) as ``grpo_step``; a reward model given as ``reward`` is frozen state.
    """
    from ..rlhf.train import RLHFState

    state = RLHFState.create(policy, reward, cfg, tokenizer=tokenizer, ref_model=ref_model,
                             value_model=value_model)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    problems = list(problems)

    def step(timer: PhaseTimer):
        picked = [problems[i] for i in rng.integers(0, len(problems), size=state.cfg.prompts_per_step)]
        state.step(picked, gen, rng, timer)

    frozen = {"reference": state.ref_model}
    if state.reward_model is not None:
        frozen["reward model"] = state.reward_model
    return step, {"policy": policy, "value model": state.value_model}, frozen


__all__ = ["PHASES", "PhaseTimer", "state_bytes", "peak_memory", "measure_step", "grpo_step", "ppo_step"]
