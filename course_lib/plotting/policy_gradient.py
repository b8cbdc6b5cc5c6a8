"""Figures of notebook 03 (policy gradient)."""
from __future__ import annotations

import numpy as np

from ..core import check_finite_array, check_finite_number
from . import PALETTE, finish, house_style, learning_curves, legend_below, new_figure


def reinforce_runs(runs: dict, target: float | None = 195.0, title: str | None = None):
    """Left: mean episode return per batch against environment steps (mean over seeds, shaded
    min–max). Right: the measured per-episode gradient variance of the estimator each run used,
    one line per seed, on a log scale (the variance spans decades as the episodes grow).

    Args:
        runs: {name: [the History of ``reinforce`` per seed]} (series "env_steps", "batch_mean_return"
            and, where the run measured it, "grad_variance").
    """
    if not isinstance(runs, dict) or not runs or not all(
            isinstance(rs, (list, tuple)) and rs and all(isinstance(h, dict) and {"env_steps", "batch_mean_return"} <= set(h)
                                                         for h in rs) for rs in runs.values()):
        raise ValueError("runs must be a non-empty dict {name: [History of reinforce, ...]}")
    if target is not None:
        target = check_finite_number("target", target)
    fig, (a1, a2) = new_figure(ncols=2, width=10.0, height=3.6)
    curves = {name: [(h["env_steps"], h["batch_mean_return"]) for h in rs] for name, rs in runs.items()}
    learning_curves(a1, curves, xlabel="environment steps", ylabel="mean return of the batch", target=target,
                    band_label="shaded: min–max over seeds")
    a1.set_title("learning curves")
    with house_style():
        for colour, (name, rs) in zip(PALETTE, runs.items()):
            measured = [h for h in rs if h.get("grad_variance")]
            label = f"{name} (one line per seed)" if len(measured) > 1 else name
            for i, h in enumerate(measured):
                a2.plot(h["env_steps"][: len(h["grad_variance"])], h["grad_variance"], color=colour, alpha=0.7,
                        label=label if i == 0 else None)
        a2.set_yscale("log")
        a2.set_xlabel("environment steps")
        a2.set_ylabel("gradient variance per parameter\n(log scale)")
        a2.set_title("variance of the per-episode gradient")
        # the legends below the panels: inside, the curves of some runs and the target line would cross them
        legend_below(fig, a1, "outside lower left", ncols=2)
        legend_below(fig, a2, "outside lower right", ncols=1)
    return finish(fig, title)


def variance_comparison(measurements: list[dict], title: str | None = None):
    """Bars of the gradient variance without and with the baseline, on the same episodes.

    The axis is linear from zero, so the bars' heights compare as the variances do; the ratio
    is written above each pair.

    Args:
        measurements: dicts from ``compare_gradient_variance`` (one per seed).
    """
    if not measurements or not all(isinstance(m, dict) and {"no_baseline", "baseline", "ratio"} <= set(m)
                                   for m in measurements):
        raise ValueError("measurements must be a non-empty list of dicts from compare_gradient_variance")
    for i, m in enumerate(measurements):
        for key in ("no_baseline", "baseline", "ratio"):
            check_finite_number(f"measurements[{i}][{key!r}]", m[key], low=0.0)
    fig, ax = new_figure(width=6.0, height=3.4)
    with house_style():
        x = np.arange(len(measurements))
        without = [m["no_baseline"] for m in measurements]
        with_baseline = [m["baseline"] for m in measurements]
        ax.bar(x - 0.2, without, 0.4, color=PALETTE[3], label="weight Ĝ_t (no baseline)")
        ax.bar(x + 0.2, with_baseline, 0.4, color=PALETTE[0], label="weight Ĝ_t − V(s_t) (baseline)")
        top = max(without + with_baseline) or 1.0
        for xi, m in zip(x, measurements):
            ax.text(xi, max(m["no_baseline"], m["baseline"]) + 0.03 * top, f"baseline: ÷{m['ratio']:.1f}",
                    ha="center", va="bottom", fontsize=9)
        ax.set_xticks(x, [f"seed {m.get('seed', i)}" for i, m in enumerate(measurements)])
        ax.set_ylabel("gradient variance per parameter")
        ax.set_ylim(0, 1.15 * top)
        legend_below(fig, ax)
    return finish(fig, title)


def return_distribution(rtg_by_step, title: str | None = None):
    """Reward-to-go Ĝ_t of one batch against the step t: what the log-probabilities are weighted by."""
    rtg_by_step = [check_finite_array(f"rtg_by_step[{i}]", g, ndim=1) for i, g in enumerate(rtg_by_step)]
    if not rtg_by_step:
        raise ValueError("rtg_by_step must hold at least one episode's reward-to-go")
    fig, ax = new_figure(width=6.0, height=3.0)
    with house_style():
        for colour, g in zip(PALETTE * 10, rtg_by_step):
            ax.plot(np.arange(len(g)), g, color=colour, alpha=0.6)
        ax.set_xlabel("step t of the episode")
        ax.set_ylabel("reward-to-go Ĝ_t")
    return finish(fig, title)
