"""The shipped results of long runs (sweeps, recorded rollouts), read where figures need them.

A foundation of the library: the sweeps in ``course_lib.experiments`` compute and write these
files (``python -m course_lib sweep ...``), the figures and sliders of notebooks 04, 07 and 08
(``plotting``, ``widgets``) only read them, so the views never import the experiments.

* ``cached``: the one "cached, or recompute" reader every sweep's ``load_*`` goes through;
* ``rounded``: how a sweep stores a series (4 significant digits, None for a non-finite value);
* the readers the views use: the PPO clip sweep and recorded rollout (04), the RLHF β sweep (07),
  the GRPO G × β sweep (08), and how to pick one run out of each.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from .data import load_json

PPO_CLIP_SWEEP_FILE = "ppo/clip_sweep.json"
PPO_ROLLOUT_FILE = "ppo/recorded_rollout.json"
RLHF_SWEEP_FILE = "rlhf/sweep.json"
GRPO_SWEEP_FILE = "grpo/sweep.json"
GRPO_ABLATION_FILE = "grpo/ablation.json"


def rounded(xs: Iterable, digits: int = 4) -> list:
    """``xs`` as a list of floats with ``digits`` significant digits; None for a missing or non-finite value."""
    return [None if x is None or not np.isfinite(x) else float(f"{x:.{digits}g}") for x in xs]


def cached(path: str, recompute: bool = False, compute: Callable[..., Any] | None = None, **kwargs) -> Any:
    """The shipped result ``data/<path>`` (checked against the manifest), or ``compute(**kwargs)``
    when ``recompute`` is true (the shipped file is left as it is)."""
    if recompute:
        if compute is None:
            raise ValueError(f"recompute=True needs the function that computes {path}")
        return compute(**kwargs)
    return load_json(path)


def eps_label(eps: float) -> str:
    """How an ε of the PPO clip sweep is shown: '0.2', or 'no clip' for the huge one."""
    return "no clip" if eps >= 1e6 else f"{eps:g}"


def ppo_clip_sweep() -> dict:
    """The shipped PPO clip sweep of notebook 04 (``experiments.ppo_sweep``)."""
    return cached(PPO_CLIP_SWEEP_FILE)


def recorded_rollout() -> dict:
    """The shipped CartPole rollout of notebook 04 (``experiments.ppo_sweep.record_rollout``)."""
    return cached(PPO_ROLLOUT_FILE)


def rlhf_sweep() -> dict:
    """The shipped RLHF β sweep of notebook 07 (``experiments.rlhf_sweep``)."""
    return cached(RLHF_SWEEP_FILE)


def grpo_sweep() -> dict:
    """The shipped GRPO G × β sweep of notebook 08 (``experiments.grpo_sweep``)."""
    return cached(GRPO_SWEEP_FILE)


def _check_sweep(sweep) -> None:
    if not isinstance(sweep, dict) or "runs" not in sweep:
        raise ValueError("sweep must be the dict returned by load_sweep()")


def find_grpo_run(sweep: dict, G: int, beta: float) -> dict:
    """The run of the GRPO sweep with this G and β (ValueError naming the values it has otherwise)."""
    _check_sweep(sweep)
    for run in sweep["runs"]:
        if run["G"] == G and abs(run["beta"] - beta) < 1e-12:
            return run
    have = sorted({(r["G"], r["beta"]) for r in sweep["runs"]})
    raise ValueError(f"no run with G={G!r} and beta={beta!r} in the sweep; it has (G, beta) in {have}")


GRPO_SEED_SUMMARY = ("final_accuracy", "best_accuracy", "final_kl", "zero_variance_mean")


def grpo_run_summary(run: dict) -> dict:
    """The figures of one GRPO sweep run that are compared over seeds (``GRPO_SEED_SUMMARY``)."""
    return {"final_accuracy": run["eval_accuracy"][-1], "best_accuracy": max(run["eval_accuracy"]),
            "final_kl": run["kl"][-1], "zero_variance_mean": float(np.mean(run["zero_variance_frac"]))}


def grpo_seed_values(sweep: dict, G: int, beta: float, key: str = "final_accuracy") -> list[float]:
    """``key`` of the GRPO sweep's run with this G and β on every seed of its "over_seeds" (seed 0 alone without it)."""
    if key not in GRPO_SEED_SUMMARY:
        raise ValueError(f"key must be one of {GRPO_SEED_SUMMARY}, got {key!r}")
    over = sweep.get("over_seeds") if isinstance(sweep, dict) else None
    if not over:
        return [grpo_run_summary(find_grpo_run(sweep, G, beta))[key]]
    runs = over["runs"].get(f"{G},{beta:g}")
    if runs is None:
        raise ValueError(f"no run with G={G!r} and beta={beta!r} in the sweep's seeds; it has {sorted(over['runs'])}")
    return [runs[str(s)][key] for s in over["seeds"] if str(s) in runs]


RLHF_SEED = 0  # the seed of the sweep's first runs; the strong-bias runs also exist on seeds 1 and 2


def find_rlhf_run(sweep: dict, beta: float, reward_model: str = "strong", seed: int = RLHF_SEED) -> dict:
    """The run of the RLHF sweep against ``reward_model`` ("strong" or "shipped") with this β and seed."""
    _check_sweep(sweep)
    for run in sweep["runs"]:
        if run["reward_model"] == reward_model and abs(run["beta"] - beta) < 1e-12 and run.get("seed", RLHF_SEED) == seed:
            return run
    have = sorted((r["reward_model"], r["beta"], r.get("seed", RLHF_SEED)) for r in sweep["runs"])
    raise ValueError(f"no run with reward_model={reward_model!r}, beta={beta!r} and seed={seed!r} in the sweep; "
                     f"it has {have}")


def rlhf_runs_of(sweep: dict, reward_model: str = "strong", seed: int = RLHF_SEED) -> list[dict]:
    """The runs of one seed of the RLHF sweep against one reward model, in order of β."""
    _check_sweep(sweep)
    return sorted((r for r in sweep["runs"] if r["reward_model"] == reward_model and r.get("seed", RLHF_SEED) == seed),
                  key=lambda r: r["beta"])


__all__ = ["cached", "rounded", "eps_label", "ppo_clip_sweep", "recorded_rollout", "rlhf_sweep", "grpo_sweep",
           "find_grpo_run", "grpo_seed_values", "grpo_run_summary", "GRPO_SEED_SUMMARY", "find_rlhf_run", "rlhf_runs_of", "PPO_CLIP_SWEEP_FILE", "PPO_ROLLOUT_FILE",
           "RLHF_SWEEP_FILE", "GRPO_SWEEP_FILE", "GRPO_ABLATION_FILE"]
