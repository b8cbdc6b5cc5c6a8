"""Figures of notebook 07 (RLHF with PPO): the training run, reward hacking against the learned reward
model (proxy and gold against the KL to the reference, Gao et al. 2022's Fig. 1 shape), the β
sweep, DPO against PPO, and the cost of PPO against GRPO."""
from __future__ import annotations

from typing import Mapping

import matplotlib as mpl
import numpy as np

from ..core import check_finite_number
from . import PALETTE, finish, house_style, legend_below, new_figure


def _need(d: Mapping, keys, what: str) -> None:
    if not isinstance(d, Mapping):
        raise ValueError(f"{what} must be a dict (a history), got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"{what} must have the keys {list(keys)}; missing {missing}")


def rlhf_training_figure(hist: Mapping, sft_accuracy: float | None = None, title: str = "RLHF-PPO on the rule reward"):
    """Four panels of a ``train_rlhf`` history: held-out gold accuracy, KL to the reference, the value
    model's explained variance and the clip fraction, each against the training time.

    Args:
        hist: the history returned by ``course_lib.rlhf.train_rlhf``.
        sft_accuracy: drawn as a dashed line (default: the first evaluation).
    """
    _need(hist, ("step", "seconds", "eval_step", "eval_accuracy", "kl", "explained_variance", "clip_fraction"),
          "hist")
    if not hist["eval_step"] or not hist["step"]:
        raise ValueError("hist must hold at least one training step and one evaluation")
    secs = dict(zip(hist["step"], hist["seconds"]))
    secs[0] = 0.0
    t_eval = [secs.get(s, np.nan) for s in hist["eval_step"]]
    base = hist["eval_accuracy"][0] if sft_accuracy is None else check_finite_number("sft_accuracy", sft_accuracy)
    fig, axes = new_figure(ncols=4, width=14.0, height=3.2)
    with house_style():
        ax = axes[0]
        ax.plot(t_eval, np.array(hist["eval_accuracy"]) * 100, marker="o", color=PALETTE[0], label="RLHF-PPO")
        ax.axhline(base * 100, color="0.4", linestyle="--", linewidth=1, label="SFT model")
        ax.axhline(base * 100 + 20, color=PALETTE[3], linestyle=":", linewidth=1, label="SFT + 20 points")
        ax.set_ylabel("held-out accuracy (%)")
        ax.set_title("gold accuracy (greedy)", fontsize=10)
        ax.legend(fontsize=8)
        for ax, key, label in ((axes[1], "kl", "KL[π ‖ π_ref] per completion (nats)"),
                               (axes[2], "explained_variance", "explained variance of V"),
                               (axes[3], "clip_fraction", "share of tokens clipped")):
            ax.plot(hist["seconds"], hist[key], color=PALETTE[1 if key == "kl" else 2])
            ax.set_title(label, fontsize=10)
        for ax in axes:
            ax.set_xlabel("training time (s)")
    return finish(fig, title)


def hacking_figure(run: Mapping, ax=None, highlight: bool = True, label: str | None = None,
                   legend_loc: str | None = None):
    """Proxy (the reward model's score) and gold (the verifier's accuracy) against d = sqrt(KL to the reference).

    The shape of Gao et al. 2022 (arXiv 2210.10760), Fig. 1, measured on answers sampled from the
    policy on the held-out prompts (as the policy is trained: at its sampling temperature): the proxy
    keeps rising with d while the gold accuracy peaks, then falls. The greedy answers' gold accuracy
    is drawn thin and dotted; the peak of the sampled gold curve is marked.

    Args:
        run: a run of ``experiments.rlhf_sweep`` or a ``train_rlhf`` history on a reward model (keys
            "eval_kl", "eval_sampled_reward", "eval_sampled_accuracy", "eval_accuracy").
        ax: draw on this axis (a second y axis is added for the proxy); default a new figure.
        highlight: full colours (False: faded, for the runs behind the chosen one: they get no legend
            entry; ``label`` is written at the end of each of their two curves instead).
        label: legend suffix (e.g. "β = 0.05").
        legend_loc: where the figure legend goes (``legend_below``'s ``loc``; default below the figure, or
            below on the left when drawn on a given axis).
    """
    _need(run, ("eval_kl", "eval_sampled_reward", "eval_sampled_accuracy", "eval_accuracy"), "run")
    d = np.sqrt(np.clip(np.asarray(run["eval_kl"], dtype=float), 0, None))
    gold = np.asarray(run["eval_sampled_accuracy"], dtype=float) * 100
    greedy = np.asarray(run["eval_accuracy"], dtype=float) * 100
    proxy = np.asarray(run["eval_sampled_reward"], dtype=float)
    if not (len(d) == len(gold) == len(proxy) == len(greedy)) or len(d) == 0:
        raise ValueError("eval_kl, eval_sampled_reward, eval_sampled_accuracy and eval_accuracy must be non-empty "
                         "lists of one length")
    own = ax is None
    if own:
        fig, ax = new_figure(width=6.8, height=3.8)
    else:
        fig = ax.figure
    alpha = 1.0 if highlight else 0.25
    suffix = f" ({label})" if label and not own else ""  # a figure of its own names the run in its title
    with house_style():
        ax.plot(d, gold, marker="o", color=PALETTE[0], alpha=alpha,
                label=f"gold: accuracy of samples{suffix}" if highlight else None)
        if not highlight and label:
            ax.annotate(label, (d[-1], gold[-1]), xytext=(4, 0), textcoords="offset points", fontsize=7,
                        color=PALETTE[0], alpha=0.8, va="center")
        if highlight:
            ax.plot(d, greedy, linestyle=":", linewidth=1.2, color=PALETTE[0], label="gold: accuracy of greedy answers")
            best = int(np.argmax(gold))
            ax.plot([d[best]], [gold[best]], marker="*", markersize=14, color=PALETTE[3], zorder=5, linestyle="none",
                    label=f"gold peak {gold[best]:.1f}%")
        ax.set_xlabel("d = sqrt(KL[π ‖ π_SFT]) (sqrt nats)")
        ax.set_ylabel("held-out accuracy (%)", color=PALETTE[0])
        twin = getattr(ax, "_proxy_twin", None)
        if twin is None:
            twin = ax.twinx()
            ax._proxy_twin = twin
        twin.plot(d, proxy, marker="s", linestyle="--", color=PALETTE[1], alpha=alpha,
                  label=f"proxy: reward-model score of samples{suffix}" if highlight else None)
        if not highlight and label:
            twin.annotate(label, (d[-1], proxy[-1]), xytext=(4, 0), textcoords="offset points", fontsize=7,
                          color=PALETTE[1], alpha=0.8, va="center")
        twin.set_ylabel("reward-model score", color=PALETTE[1])
        twin.grid(False)
        if highlight:  # one legend for both y axes, below the panel, where it covers no curve
            lines, lines2 = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
            ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7)
            where = legend_loc or ("outside lower center" if own else "outside lower left")
            legend_below(fig, ax, where, ncols=2)
    title = f"Proxy against gold: {label}" if label else "Optimising a learned reward: proxy against gold"
    return finish(fig, title) if own else fig


def _spread_end_labels(axes, gap_pt: float = 8.5) -> None:
    """Move the labels written at the ends of the faded curves apart vertically (and keep them inside
    the axes): runs that end close together would otherwise print their β values over each other."""
    labels = [t for a in axes for t in a.texts if isinstance(t, mpl.text.Annotation)]
    if not labels:
        return
    ax = axes[0]
    right = max(t.xy[0] for t in labels)
    lo, hi = ax.get_xlim()
    ax.set_xlim(lo, max(hi, right + 0.14 * (right - lo)))  # room for the text after the last point
    to_pt = 72.0 / ax.figure.dpi
    placed: list[float] = []
    for t in sorted(labels, key=lambda t: t.axes.transData.transform(t.xy)[1]):
        y = t.axes.transData.transform(t.xy)[1] * to_pt
        target = max([y] + [p + gap_pt for p in placed if p > y - gap_pt])
        t.xyann = (t.xyann[0], target - y)
        placed.append(target)


def beta_sweep_figure(sweep: Mapping, beta: float, reward_model: str = "strong"):
    """The β slider's figure: proxy and gold against sqrt(KL) for the chosen β (the other runs faded),
    and the share of greedy answers longer than the truth (the annotators' bias) against sqrt(KL).

    Args:
        sweep: from ``experiments.rlhf_sweep.load_sweep()``.
        beta: one of the sweep's β values for ``reward_model``.
        reward_model: "strong" (the strong-length-bias reward model) or "shipped" (notebook 06's).
    """
    from ..runs_cache import find_rlhf_run as find_run, rlhf_runs_of as runs_of

    beta = check_finite_number("beta", beta, low=0.0)
    chosen = find_run(sweep, beta, reward_model)
    others = runs_of(sweep, reward_model)
    fig, axes = new_figure(ncols=2, width=13.0, height=3.9)
    for run in others:  # faint, each curve's β written at its end
        if run is not chosen:
            hacking_figure(run, ax=axes[0], highlight=False, label=f"β = {run['beta']:g}")
    hacking_figure(chosen, ax=axes[0], highlight=True, label=f"β = {beta:g}")
    _spread_end_labels([axes[0], axes[0]._proxy_twin])
    with house_style():
        ax = axes[1]
        for i, run in enumerate(others):
            d = np.sqrt(np.clip(np.asarray(run["eval_kl"], dtype=float), 0, None))
            share = np.asarray(run["eval_longer_than_truth"], dtype=float) * 100
            ax.plot(d, share, marker="o", color=PALETTE[i % len(PALETTE)],
                    alpha=1.0 if run is chosen else 0.3, label=f"β = {run['beta']:g}")
        ax.set_xlabel("d = sqrt(KL[π ‖ π_SFT]) (sqrt nats)")
        ax.set_ylabel("greedy answers longer than the truth (%)")
        ax.set_title("what the policy learned: the annotators' length bias", fontsize=10)
        ax.legend(fontsize=8)
        legend_below(fig, ax, "outside lower right", ncols=len(others))
    which = "the strong-length-bias reward model" if reward_model == "strong" else "notebook 06's reward model"
    return finish(fig, f"PPO against {which}, β = {beta:g}: the KL penalty as a leash")


def dpo_vs_ppo_figure(runs: Mapping[str, Mapping]):
    """Held-out gold accuracy against the KL to the reference for several runs (e.g. DPO, PPO on the
    reward model, PPO on the rule reward).

    Args:
        runs: name -> a history with "eval_kl" and "eval_accuracy".
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty dict name -> history")
    fig, ax = new_figure(width=6.8, height=3.8)
    with house_style():
        for colour, (name, h) in zip(PALETTE, runs.items()):
            _need(h, ("eval_kl", "eval_accuracy"), f"runs[{name!r}]")
            kl = np.clip(np.asarray(h["eval_kl"], dtype=float), 0, None)
            ax.plot(kl, np.asarray(h["eval_accuracy"], dtype=float) * 100, marker="o", color=colour, label=name)
        ax.set_xlabel("KL[π ‖ π_SFT] per completion (nats)")
        ax.set_ylabel("held-out accuracy (%)")
        ax.legend(fontsize=8)
    return finish(fig, "Gold accuracy against the distance travelled from the SFT model")


def cost_figure(summary: Mapping):
    """Time per step split into sampling, scoring and update, and model state, for each method.

    Args:
        summary: from ``experiments.bench_rlhf.summarize`` (name -> {"sampling_s", "scoring_s",
            "update_s", "state_bytes", "peak_bytes"}).
    """
    if not isinstance(summary, Mapping) or not summary:
        raise ValueError("summary must be a non-empty dict method -> figures")
    names = list(summary)
    for n in names:
        _need(summary[n], ("sampling_s", "scoring_s", "update_s", "state_bytes"), f"summary[{n!r}]")
    fig, axes = new_figure(ncols=2, width=11.0, height=3.2)
    with house_style():
        left = np.zeros(len(names))
        for colour, phase in zip(PALETTE, ("sampling", "scoring", "update")):
            vals = np.array([summary[n][f"{phase}_s"] for n in names])
            axes[0].barh(names, vals, left=left, color=colour, label=phase)
            left += vals
        axes[0].set_xlabel("seconds per step")
        axes[0].legend(fontsize=8)
        axes[0].set_title("time per step", fontsize=10)
        state = np.array([summary[n]["state_bytes"] for n in names]) / 2**20
        peak = np.array([summary[n].get("peak_bytes") or 0 for n in names]) / 2**20
        y = np.arange(len(names))
        axes[1].barh(y - 0.2, state, 0.4, color=PALETTE[0], label="model state")
        axes[1].barh(y + 0.2, peak, 0.4, color=PALETTE[3], label="peak of a step (above what was in use)")
        axes[1].set_yticks(y)
        axes[1].set_yticklabels(names)
        axes[1].set_xlabel("MiB")
        axes[1].legend(fontsize=8)
        axes[1].set_title("memory", fontsize=10)
    return finish(fig, "What a step costs, measured on this machine")


__all__ = ["rlhf_training_figure", "hacking_figure", "beta_sweep_figure", "dpo_vs_ppo_figure", "cost_figure"]
