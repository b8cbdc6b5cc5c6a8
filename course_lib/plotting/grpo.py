"""Figures of notebook 08 (GRPO): group vs batch advantages, clipping under reuse, the training
run, the cached G × β sweep, and GRPO against more SFT."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..core import check_finite_array, check_finite_number
from . import PALETTE, finish, house_style, learning_curves, new_figure, smooth


def _as_1d(name: str, x) -> np.ndarray:
    """A non-empty 1-D array of finite numbers (``core.check_finite_array``)."""
    return check_finite_array(name, x, ndim=1)


def advantages_figure(rewards: Sequence[float], group_size: int, group_labels: Sequence[str] | None = None):
    """Each completion's reward and its advantage normalised per group (GRPO) or over the whole batch.

    Args:
        rewards: (B,) rewards, the G completions of a prompt consecutive.
        group_size: G (B must be a multiple of it).
        group_labels: optional name per group (e.g. the prompt), shown under its bars.
    """
    from ..grpo.losses import group_advantages

    r = _as_1d("rewards", rewards)
    try:
        group_size = check_finite_number("group_size", group_size, low=2, integer=True)
    except ValueError:
        group_size = None
    if group_size is None or r.size % group_size:
        raise ValueError(f"group_size must be an integer >= 2 dividing len(rewards)={r.size}, got {group_size!r}")
    n_groups = r.size // group_size
    if group_labels is not None and len(group_labels) != n_groups:
        raise ValueError(f"group_labels must have one label per group ({n_groups}), got {len(group_labels)}")
    per_group = group_advantages(r.tolist(), group_size).numpy()
    batch = group_advantages(r.tolist(), r.size).numpy() if r.size >= 2 else np.zeros_like(r)
    fig, axes = new_figure(ncols=2, width=11.0, height=3.4)
    x = np.arange(r.size)
    with house_style():
        axes[0].bar(x, r, color=[PALETTE[(i // group_size) % len(PALETTE)] for i in range(r.size)])
        axes[0].set_ylabel("reward")
        axes[0].set_title("rewards (one colour per prompt)", fontsize=10)
        w = 0.4
        axes[1].bar(x - w / 2, per_group, w, color=PALETTE[2], label="per group (GRPO)")
        axes[1].bar(x + w / 2, batch, w, color=PALETTE[3], label="whole batch (the report's snippet)")
        axes[1].axhline(0, color="0.3", linewidth=0.8)
        axes[1].set_ylabel("advantage")
        axes[1].set_title("advantages", fontsize=10)
        axes[1].legend(fontsize=8)
        for ax in axes:
            for g in range(1, n_groups):
                ax.axvline(g * group_size - 0.5, color="0.5", linestyle=":", linewidth=1)
            centres = [g * group_size + (group_size - 1) / 2 for g in range(n_groups)]
            ax.set_xticks(centres)
            ax.set_xticklabels(list(group_labels) if group_labels is not None
                               else [f"prompt {g + 1}" for g in range(n_groups)])
    return finish(fig, f"Group-relative vs batch-normalised advantages (G = {group_size})")


def clip_reuse_figure(records: Mapping[str, Mapping[str, Sequence[float]]]):
    """How far μ updates on one batch move the policy, with and without clipping.

    Args:
        records: name -> {"kl": per update, "ratio_max": per update, "clip_fraction": per update},
            the statistics measured before each update (update 1 is on-policy: ratio 1, KL 0).
    """
    if not isinstance(records, Mapping) or not records:
        raise ValueError("records must be a non-empty dict name -> {'kl', 'ratio_max', 'clip_fraction'}")
    panels = [("kl", "divergence from π_old (k3, per token)"), ("ratio_max", "largest ratio ρ"),
              ("clip_fraction", "share of tokens clipped")]
    fig, axes = new_figure(ncols=3, width=12.0, height=3.2)
    with house_style():
        for colour, (name, rec) in zip(PALETTE, records.items()):
            for ax, (key, label) in zip(axes, panels):
                if key not in rec:
                    raise ValueError(f"records[{name!r}] must have a {key!r} list")
                y = _as_1d(f"records[{name!r}][{key!r}]", rec[key])
                ax.plot(np.arange(1, y.size + 1), y, marker="o", color=colour, label=name)
                ax.set_title(label, fontsize=10)
                ax.set_xlabel("update on the same batch")
        axes[0].legend(fontsize=8)
    return finish(fig, "Reusing one batch for μ updates: the ratio to π_old and its clip")


def training_curves(history: Mapping, target: float | None = None, smooth_window: int = 5):
    """A ``train_grpo`` run: held-out greedy accuracy and format rate, the share of zero-variance
    groups with the sampled training accuracy, and the entropy proxy (plus the KL if measured).

    Args:
        history: from ``course_lib.grpo.train.train_grpo``.
        target: an accuracy to mark (e.g. the start + 0.25).
    """
    if not isinstance(history, Mapping):
        raise ValueError(f"history must be the dict returned by train_grpo, got {type(history).__name__}")
    if target is not None:
        target = check_finite_number("target", target, low=0.0, high=1.0)
    smooth_window = check_finite_number("smooth_window", smooth_window, low=1, integer=True)
    for k in ("step", "eval_step", "eval_accuracy", "eval_format_rate", "zero_variance_frac", "accuracy",
              "entropy_proxy"):
        if k not in history:
            raise ValueError(f"history must have a {k!r} entry (from train_grpo)")
    fig, axes = new_figure(ncols=3, width=13.0, height=3.4)
    es = np.asarray(history["eval_step"], float)
    s = np.asarray(history["step"], float)
    with house_style():
        ax = axes[0]
        ax.plot(es, history["eval_accuracy"], marker="o", color=PALETTE[0], label="exact-match accuracy")
        ax.plot(es, history["eval_format_rate"], marker=".", color=PALETTE[2], label="format rate")
        if target is not None:
            ax.axhline(target, color="0.4", linestyle="--", linewidth=1, label=f"target {target:.1%}")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("GRPO step")
        ax.set_title("held-out, greedy", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
        if len(s):
            ax = axes[1]
            ax.plot(s, smooth(history["zero_variance_frac"], smooth_window), color=PALETTE[3],
                    label="groups with equal rewards")
            ax.plot(s, smooth(history["accuracy"], smooth_window), color=PALETTE[1],
                    label="sampled accuracy (training)")
            ax.set_ylim(0, 1.02)
            ax.set_xlabel("GRPO step")
            ax.set_title(f"training batches (mean of {smooth_window})", fontsize=10)
            ax.legend(fontsize=8)
            ax = axes[2]
            ax.plot(s, smooth(history["entropy_proxy"], smooth_window), color=PALETTE[4],
                    label="−mean log π of sampled tokens")
            kl = np.asarray(history.get("kl", []), float)
            if kl.size == s.size and np.nanmax(np.abs(kl)) > 0:
                ax.plot(s, smooth(kl, smooth_window), color=PALETTE[5], label="KL to the reference (k3)")
            ax.set_xlabel("GRPO step")
            ax.set_title("entropy proxy (nats per token)", fontsize=10)
            ax.legend(fontsize=8)
    return finish(fig, "GRPO from the SFT checkpoint")


def sweep_figure(sweep: Mapping, G: int, beta: float):
    """One (G, β) run of the cached sweep, bold, against the others: held-out accuracy, KL to the
    reference, share of zero-variance groups. Runs with the same β are drawn thin in their G's
    colour; the rest faint grey."""
    from ..runs_cache import find_grpo_run as find_run

    G = check_finite_number("G", G, low=2, integer=True)
    beta = check_finite_number("beta", beta, low=0.0)
    chosen = find_run(sweep, G, beta)
    sizes = sorted({r["G"] for r in sweep["runs"]})
    colour = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(sizes)}
    panels = [("eval_accuracy", "eval_step", "held-out greedy accuracy"),
              ("kl", "step", "KL to the SFT reference (k3, per token)"),
              ("zero_variance_frac", "step", "groups with equal rewards")]
    fig, axes = new_figure(ncols=3, width=13.0, height=3.4)
    with house_style():
        for ax, (key, x_key, title) in zip(axes, panels):
            window = 1 if key == "eval_accuracy" else 5
            for r in sweep["runs"]:
                if r is chosen:
                    continue
                y = smooth(np.asarray(r[key], float), window)
                if abs(r["beta"] - chosen["beta"]) < 1e-12:
                    ax.plot(r[x_key], y, color=colour[r["G"]], linewidth=0.9, alpha=0.6, label=f"G = {r['G']}")
                else:
                    ax.plot(r[x_key], y, color="0.75", linewidth=0.6, alpha=0.6)
            ax.plot(chosen[x_key], smooth(np.asarray(chosen[key], float), window), color=colour[chosen["G"]],
                    linewidth=2.6, label=f"G = {chosen['G']}, β = {chosen['beta']:g}")
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("GRPO step")
        axes[0].legend(fontsize=7, loc="lower right")
    per_step = sweep.get("settings", {}).get("completions_per_step", "?")
    return finish(fig, f"G = {chosen['G']} ({chosen['prompts_per_step']} prompts × G = {per_step} completions per "
                       f"step), β = {chosen['beta']:g} (bold); grey: other β")


def sweep_grid(sweep: Mapping):
    """Heat maps over G × β of the final held-out accuracy and the final KL to the reference.

    When the sweep holds "over_seeds" (``grpo_sweep.run_seeds``) the accuracy map shows the mean over
    the seeds, each cell with its standard deviation and number of seeds; otherwise the one seed's run.
    """
    from ..runs_cache import find_grpo_run as find_run, grpo_seed_values as seed_values

    if not isinstance(sweep, Mapping) or "runs" not in sweep:
        raise ValueError("sweep must be the dict returned by load_sweep()")
    sizes = sorted({r["G"] for r in sweep["runs"]})
    betas = sorted({r["beta"] for r in sweep["runs"]})
    over = bool(sweep.get("over_seeds"))
    fig, axes = new_figure(ncols=2, width=10.0, height=3.6)
    with house_style():
        for ax, (key, title, fmt, cmap) in zip(axes, (("eval_accuracy", "final held-out accuracy", "{:.1%}", "Blues"),
                                                       ("kl", "final KL to the reference", "{:.3f}", "Oranges"))):
            grid = np.full((len(betas), len(sizes)), np.nan)
            note = [["" for _ in sizes] for _ in betas]
            for i, b in enumerate(betas):
                for j, g in enumerate(sizes):
                    try:
                        if key == "eval_accuracy" and over:
                            vals = seed_values(sweep, g, b)
                            grid[i, j] = float(np.mean(vals))
                            if len(vals) > 1:
                                note[i][j] = f"\n±{100 * np.std(vals, ddof=1):.1f} ({len(vals)} seeds)"
                        else:
                            grid[i, j] = find_run(sweep, g, b)[key][-1]
                    except ValueError:
                        pass
            ax.imshow(grid, cmap=cmap, aspect="auto")
            ax.grid(False)
            lo, hi = np.nanmin(grid), np.nanmax(grid)
            for i in range(len(betas)):
                for j in range(len(sizes)):
                    if np.isfinite(grid[i, j]):
                        dark = hi > lo and (grid[i, j] - lo) / (hi - lo) > 0.55  # white text on dark cells
                        ax.text(j, i, fmt.format(grid[i, j]) + note[i][j], ha="center", va="center",
                                fontsize=8 if note[i][j] else 9, color="white" if dark else "black")
            ax.set_xticks(range(len(sizes)))
            ax.set_xticklabels([f"G={g}" for g in sizes])
            ax.set_yticks(range(len(betas)))
            ax.set_yticklabels([f"β={b:g}" for b in betas])
            ax.set_title(title + (" (mean ± std over seeds)" if key == "eval_accuracy" and over else
                                  f" (seed {sweep.get('seed', 0)})"), fontsize=10)
    steps = sweep.get("settings", {}).get("steps", "?")
    return finish(fig, f"The sweep after {steps} steps")


def compute_comparison(results: Mapping[str, Mapping[str, float]]):
    """Held-out greedy accuracy of several ways to spend training, with their wall-clock.

    Args:
        results: name -> {"accuracy": float in [0, 1], "seconds": float (training time; may be 0),
            optionally "n": how many problems it was measured on}. With "n" each bar carries its 95 %
            Wilson interval (``course_lib.stats.accuracy_interval``).
    """
    from ..stats import accuracy_interval

    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict name -> {'accuracy', 'seconds'}")
    names = list(results)
    acc, secs, err = [], [], []
    for n in names:
        r = results[n]
        if not isinstance(r, Mapping) or "accuracy" not in r:
            raise ValueError(f"results[{n!r}] must be a dict with 'accuracy' (and 'seconds')")
        a = float(r["accuracy"])
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"results[{n!r}]['accuracy'] must be in [0, 1], got {a!r}")
        acc.append(a)
        secs.append(float(r.get("seconds", 0.0)))
        if r.get("n"):
            iv = accuracy_interval(round(a * int(r["n"])), int(r["n"]))
            err.append((a - iv.low, iv.high - a))
        else:
            err.append((0.0, 0.0))
    fig, ax = new_figure(width=8.0, height=0.55 * len(names) + 1.2)
    with house_style():
        y = np.arange(len(names))[::-1]
        ax.barh(y, acc, color=[PALETTE[i % len(PALETTE)] for i in range(len(names))],
                xerr=np.array(err).T if any(e != (0.0, 0.0) for e in err) else None, capsize=3, ecolor="0.25")
        for yi, a, s, e in zip(y, acc, secs, err):
            ax.text(min(a + e[1], 1.0) + 0.01, yi, f"{a:.1%}" + (f"  ({s:.0f} s)" if s > 0 else ""), va="center",
                    fontsize=9)
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        ax.set_xlim(0, 1.18)
        ax.set_xlabel("held-out greedy accuracy, 95 % interval (training wall-clock in brackets)"
                      if any(e != (0.0, 0.0) for e in err) else "held-out greedy accuracy (training wall-clock in brackets)")
    return finish(fig, "The same number of updates spent on RL or on more SFT")


def ablation_figure(ablation: Mapping):
    """Held-out greedy accuracy against steps for each variant of the ablation (the report's
    snippet, the snippet with the completion mask, GRPO): mean over seeds and min–max band.

    Args:
        ablation: from ``course_lib.experiments.grpo_sweep.load_ablation()``.
    """
    if not isinstance(ablation, Mapping) or not ablation.get("runs"):
        raise ValueError("ablation must be the dict returned by load_ablation(), with at least one run")
    curves: dict[str, list] = {}
    for r in ablation["runs"]:
        if "eval_step" not in r or "eval_accuracy" not in r:
            raise ValueError("every run of ablation must have 'eval_step' and 'eval_accuracy'")
        curves.setdefault(r["name"], []).append((r["eval_step"], r["eval_accuracy"]))
    fig, ax = new_figure(width=7.0, height=3.6)
    learning_curves(ax, curves, xlabel="training step (G = 8, 64 prompts per step, same learning rate)",
                    ylabel="held-out greedy accuracy")
    return finish(fig, "What the report's snippet leaves out, measured")
