"""Figures of notebook 06 (rewards and reward models): weighted rule rewards, the reward model's
training, its calibration, its score across answers and the length bias it learned."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..core import check_finite_number
from . import PALETTE, finish, house_style, legend_below, new_figure, smooth


def weighted_rewards_figure(answers: Sequence[str], r_acc: Sequence[float], r_fmt: Sequence[float],
                            w_acc: float, w_fmt: float, prompt: str = "", counts: Sequence[int] | None = None):
    """The sampled answers of one prompt ranked by w_acc·R_acc + w_fmt·R_fmt, and their group advantages.

    Args:
        answers: the distinct completions (text before <eos>).
        r_acc, r_fmt: their accuracy and format rewards (0 or 1).
        w_acc, w_fmt: the weights.
        prompt: shown in the title.
        counts: how often each answer was sampled (the group the advantages are computed over).
    """
    from ..grpo.losses import group_advantages

    n = len(answers)
    if n == 0 or len(r_acc) != n or len(r_fmt) != n or (counts is not None and len(counts) != n):
        raise ValueError("answers, r_acc, r_fmt (and counts) must be non-empty and of the same length")
    for name, w in (("w_acc", w_acc), ("w_fmt", w_fmt)):
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating)) or not np.isfinite(w):
            raise ValueError(f"{name} must be a finite number, got {w!r}")
    total = w_acc * np.asarray(r_acc, float) + w_fmt * np.asarray(r_fmt, float)
    order = np.argsort(-total, kind="stable")
    best = total[order[0]]
    show_counts = counts is not None
    counts = np.ones(n, int) if counts is None else np.asarray(counts, int)
    if (counts < 1).any():
        raise ValueError(f"counts must be positive integers, got {counts.tolist()}")
    group = np.repeat(total, counts)
    adv = group_advantages(group.tolist(), len(group)).numpy() if len(group) >= 2 else np.zeros(len(group))
    adv_per_answer = np.array([adv[int(counts[:i].sum())] for i in range(n)])
    fig, axes = new_figure(ncols=2, width=10.5, height=3.4)
    labels = [f"{answers[i]!r}" + (f" ×{counts[i]}" if show_counts else "") for i in order]
    colours = [PALETTE[2] if total[i] == best else PALETTE[0] for i in order]
    panels = ((total[order], "reward r", "r = w_acc·R_acc + w_fmt·R_fmt per sampled answer (green: first)"),
              (adv_per_answer[order], "advantage (r − mean) / std", "GRPO advantage within the group"))
    with house_style():
        for ax, (heights, ylabel, title) in zip(axes, panels):
            ax.bar(range(n), heights, color=colours)
            ax.set_xticks(range(n))
            ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
            ax.axhline(0, color="0.3", linewidth=0.8)
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=10)
    return finish(fig, f"{prompt}  w_acc = {w_acc:g}, w_fmt = {w_fmt:g}")


def rm_training_figure(history: Mapping[str, Sequence[float]], ceiling: float | None = None,
                       smooth_window: int = 25):
    """Bradley–Terry loss per step, and pair accuracy on training and validation pairs.

    Args:
        history: from ``reward_model.train_reward_model`` (or the shipped model's meta["history"]).
        ceiling: the agreement the annotators' own utility would reach (a dashed line).
    """
    for key in ("step", "loss", "eval_step", "train_accuracy"):
        if key not in history or len(history[key]) == 0:
            raise ValueError(f"history must have a non-empty {key!r} list (from train_reward_model)")
    fig, axes = new_figure(ncols=2, width=10.0, height=3.3)
    with house_style():
        ax = axes[0]
        ax.plot(history["step"], history["loss"], color=PALETTE[0], alpha=0.25, linewidth=0.8)
        ax.plot(history["step"], smooth(history["loss"], smooth_window), color=PALETTE[0], label="batch loss")
        ax.axhline(np.log(2), color="0.4", linestyle=":", linewidth=1, label="log 2 (no preference)")
        ax.set_xlabel("step")
        ax.set_ylabel("Bradley–Terry loss")
        ax.legend()
        ax = axes[1]
        ax.plot(history["eval_step"], history["train_accuracy"], marker="o", color=PALETTE[0], label="training pairs")
        if history.get("val_accuracy"):
            ax.plot(history["eval_step"], history["val_accuracy"], marker="o", color=PALETTE[1],
                    label="validation pairs")
        if ceiling is not None:
            ax.axhline(ceiling, color="0.4", linestyle="--", linewidth=1, label="annotators' own utility")
        ax.axhline(0.5, color="0.4", linestyle=":", linewidth=1)
        ax.set_xlabel("step")
        ax.set_ylabel("agreement with the labels")
        ax.legend()
    return finish(fig, "Training the reward model")


def calibration_figure(cal: Mapping[str, Sequence[float]]):
    """Reliability diagram: predicted P(y₁ ≻ y₂) = σ(r₁ − r₂) per bin against the observed rate.

    Args:
        cal: from ``reward_model.calibration``.
    """
    for key in ("bin_edges", "predicted", "observed", "count"):
        if key not in cal:
            raise ValueError(f"cal must have {key!r} (from reward_model.calibration)")
    pred, obs = np.asarray(cal["predicted"], float), np.asarray(cal["observed"], float)
    count = np.asarray(cal["count"], float)
    edges = np.asarray(cal["bin_edges"], float)
    fig, axes = new_figure(ncols=2, width=9.0, height=3.4)
    ok = count > 0
    with house_style():
        ax = axes[0]
        ax.plot([0, 1], [0, 1], color="0.5", linestyle="--", linewidth=1, label="perfectly calibrated")
        ax.plot(pred[ok], obs[ok], marker="o", color=PALETTE[0], label="reward model")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted P(first ≻ second)")
        ax.set_ylabel("observed share first chosen")
        ax.set_title(f"ECE = {cal.get('ece', float('nan')):.3f}", fontsize=10)
        ax.legend(loc="upper left")
        ax = axes[1]
        ax.bar((edges[:-1] + edges[1:]) / 2, count, width=np.diff(edges) * 0.9, color=PALETTE[5])
        ax.set_xlabel("predicted P(first ≻ second)")
        ax.set_ylabel("pairs (both orders)")
    return finish(fig, "Calibration on the test pairs")


def score_curve_figure(values: Sequence[int], scores: Sequence[float], answer: int, prompt: str = "",
                       utility: Sequence[float] | None = None):
    """The reward model's score of every answer to one prompt, coloured by its number of digits.

    Args:
        values: the answers scored (numbers).
        scores: r(x, y) for each.
        answer: the truth (a vertical line).
        utility: optionally the annotators' utility of each answer, shifted to the scores' mean.
    """
    v, s = np.asarray(values, float), np.asarray(scores, float)
    if v.ndim != 1 or v.shape != s.shape or v.size == 0:
        raise ValueError("values and scores must be non-empty 1-D lists of the same length")
    digits = np.array([len(str(int(x))) for x in v])
    fig, ax = new_figure(width=7.5, height=3.4)
    with house_style():
        for d, colour in zip((1, 2, 3), (PALETTE[1], PALETTE[0], PALETTE[3])):
            sel = digits == d
            if sel.any():
                ax.plot(v[sel], s[sel], marker=".", linestyle="-", color=colour, label=f"{d}-digit answers")
        if utility is not None:
            u = np.asarray(utility, float)
            if u.shape != v.shape:
                raise ValueError("utility must have one value per answer")
            ax.plot(v, u - u.mean() + s.mean(), color="0.5", linestyle=":", linewidth=1.2,
                    label="annotators' utility (shifted)")
        ax.axvline(answer, color=PALETTE[2], linestyle="--", linewidth=1.2, label=f"truth {answer}")
        ax.set_xlabel("answer")
        ax.set_ylabel("reward-model score")
        ax.legend(fontsize=8)
    return finish(fig, f"Scores of every answer to {prompt}")


def length_bias_figure(by_distance: Mapping[int, float], annotator_bonus: float | None = None,
                       overall: float | None = None):
    """Mean score gap r(longer) − r(shorter) per extra digit, between answers equally far from the truth.

    Args:
        by_distance: distance k -> mean gap (from ``reward_model.length_bias``).
        annotator_bonus: the annotators' length bonus (the gap their utility gives), a dashed line.
        overall: the mean gap over all pairs (``length_bias``'s "score_gap", the number the notebook
            prints), a dotted line; without it the dotted line is the plain mean of the bars, which
            weighs every distance alike and so differs a little.
    """
    if not by_distance:
        raise ValueError("by_distance must be a non-empty dict distance -> mean score gap")
    k = np.array(sorted(by_distance), float)
    g = np.array([by_distance[int(x)] if int(x) in by_distance else by_distance[x] for x in sorted(by_distance)], float)
    if overall is None:
        mean, mean_label = float(np.mean(g)), f"mean of the bars {np.mean(g):+.2f}"
    else:
        mean = check_finite_number("overall", overall)
        mean_label = f"mean over all pairs {mean:+.2f}"
    fig, ax = new_figure(width=7.0, height=3.5)
    with house_style():
        ax.bar(k, g, color=PALETTE[0], label="reward model, mean per distance")
        ax.axhline(0, color="0.3", linewidth=0.8)
        ax.axhline(mean, color=PALETTE[0], linestyle=":", linewidth=1.2, label=mean_label)
        if annotator_bonus is not None:
            ax.axhline(annotator_bonus, color=PALETTE[3], linestyle="--", linewidth=1.2,
                       label=f"annotators' bias {annotator_bonus:+.2f}")
        ax.set_xlabel("distance of both answers from the truth")
        ax.set_ylabel("r(longer) − r(shorter) per digit")
        legend_below(fig, ax)  # below the axes: the bars reach every height
    return finish(fig, "The length bias, between equally wrong answers")


__all__ = ["weighted_rewards_figure", "rm_training_figure", "calibration_figure", "score_curve_figure",
           "length_bias_figure"]
