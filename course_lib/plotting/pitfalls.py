"""Figures of notebook 09 (pitfalls and fixes): diversity and pass@k, PPO-ptx's mix weight, the
length bias of the loss, clip-higher, dynamic sampling, verification, the reward search."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..core import check_finite_array, check_finite_number
from . import PALETTE, finish, house_style, new_figure


def _runs(cache: Mapping) -> Mapping:
    if not isinstance(cache, Mapping) or "runs" not in cache:
        raise ValueError("cache must be the runs file of sweep pitfalls (pitfalls.load_cached('runs'))")
    return cache["runs"]


def _run(cache: Mapping, name: str) -> Mapping:
    runs = _runs(cache)
    if name not in runs:
        raise ValueError(f"no run named {name!r} in the cache; it has {sorted(runs)}")
    return runs[name]


def _seed_runs(cache: Mapping, name: str) -> list[Mapping]:
    """The summaries of run ``name`` on every cached seed (runs.json's "seeds"); [] without them."""
    return [v for _, v in sorted(cache.get("seeds", {}).get(name, {}).items(), key=lambda kv: int(kv[0]))]


def _seed_band(ax, cache: Mapping, name: str, color, x_of=None) -> int:
    """Shade the range (min to max) of the held-out accuracy curve over the cached seeds of ``name``.

    ``x_of(summary)`` gives the x of each evaluation (default: its step). Returns how many seeds were drawn.
    """
    seeds = _seed_runs(cache, name)
    if len(seeds) < 2:
        return len(seeds)
    xs = [list(x_of(v)) if x_of else list(v["eval_step"]) for v in seeds]
    m = min(len(x) for x in xs)
    ys = np.array([v["eval_accuracy"][:m] for v in seeds], dtype=float)
    x = np.mean([x[:m] for x in xs], axis=0)
    ax.fill_between(x, ys.min(0), ys.max(0), color=color, alpha=0.18, linewidth=0)
    return len(seeds)


def _pass_curve(counts: Sequence[int], n: int, ks: Sequence[int]) -> list[float]:
    from ..pitfalls import pass_at_k_curve

    return pass_at_k_curve(counts, n, ks)


def _ks(n: int) -> list[int]:
    return [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= n]


def diversity_figure(cache: Mapping, run: str = "grpo_long"):
    """Entropy and distinct answers over a GRPO run, and pass@k against k for the SFT and RL models."""
    r = _run(cache, run)
    n = int(cache["pass_n"])
    ks = _ks(n)
    fig, axes = new_figure(ncols=3, width=13.0, height=3.6)
    d = r["diversity"]
    with house_style():
        axes[0].plot(d["step"], d["entropy"], marker="o", color=PALETTE[0])
        axes[0].set_xlabel("GRPO step")
        axes[0].set_ylabel("token entropy (nats, T = 1)")
        axes[0].set_title("entropy of the samples (seed 0)")
        axes[1].plot(d["step"], d["distinct"], marker="o", color=PALETTE[1])
        axes[1].set_xlabel("GRPO step")
        axes[1].set_ylabel(f"distinct answers among G = {r['config']['group_size']}")
        axes[1].set_title("distinct answers per prompt (seed 0)")
        sft = _pass_curve(cache["sft"]["correct_counts"], n, ks)
        rl = _pass_curve(r["pass"]["correct_counts"], n, ks)
        axes[2].plot(ks, sft, marker="o", label="SFT", color=PALETTE[3])
        seeds = _seed_runs(cache, run)
        if len(seeds) > 1:
            curves = np.array([_pass_curve(v["pass"]["correct_counts"], n, ks) for v in seeds])
            axes[2].fill_between(ks, curves.min(0), curves.max(0), color=PALETTE[0], alpha=0.2, linewidth=0,
                                 label=f"GRPO, range over {len(seeds)} seeds")
        axes[2].plot(ks, rl, marker="s", label=f"GRPO ({r['config']['steps']} steps, seed 0)", color=PALETTE[0])
        axes[2].set_xscale("log", base=2)
        axes[2].set_xticks(ks)
        axes[2].set_xticklabels([str(k) for k in ks])
        axes[2].set_xlabel("k (samples per problem)")
        axes[2].set_ylabel("pass@k (unbiased)")
        axes[2].set_ylim(0, 1.02)
        axes[2].set_title(f"pass@k on {len(cache['sft']['correct_counts'])} held-out problems")
        axes[2].legend()
    return finish(fig, "Diversity over a GRPO run, and what it does to pass@k")


def ptx_figure(cache: Mapping, coef: float = 0.0):
    """PPO-ptx runs: held-out accuracy, loss on pretraining text, pass@k and entropy; ``coef`` highlighted.

    The curves are seed 0's; the accuracy panel shades the chosen coefficient's range over the cached seeds.
    ``coef`` is ``GRPOConfig.ptx_coef`` (InstructGPT's γ; the course keeps γ for the discount).
    """
    coef = check_finite_number("coef", coef, low=0.0)
    runs = _runs(cache)
    by_coef = {}
    for name, r in runs.items():
        if name == "grpo" or name.startswith("ptx_"):
            by_coef[float(r["config"]["ptx_coef"])] = r
    if coef not in by_coef:
        raise ValueError(f"coef must be one of the cached mix weights {sorted(by_coef)}, got {coef!r}")
    n = int(cache["pass_n"])
    ks = _ks(n)
    fig, axes = new_figure(ncols=4, width=15.0, height=3.6)
    with house_style():
        for i, (g, r) in enumerate(sorted(by_coef.items())):
            on = g == coef
            style = dict(color=PALETTE[i % len(PALETTE)], alpha=1.0 if on else 0.3, linewidth=2.4 if on else 1.2,
                         label=f"ptx_coef = {g:g}")
            axes[0].plot(r["eval_step"], r["eval_accuracy"], **style)
            if on:
                name = next(k for k, v in runs.items() if v is r)
                drawn = _seed_band(axes[0], cache, name, style["color"])
                if drawn > 1:
                    axes[0].set_title(f"shaded: range over {drawn} seeds", fontsize=9)
            axes[1].plot(r["eval_step"], r["eval_ptx_loss"], **style)
            axes[2].plot(ks, _pass_curve(r["pass"]["correct_counts"], n, ks), marker="o" if on else None, **style)
            axes[3].plot(r["diversity"]["step"], r["diversity"]["entropy"], **style)
        axes[0].set_ylabel("held-out accuracy (greedy)")
        axes[1].set_ylabel("loss on pretraining text (nats/token)")
        axes[2].set_ylabel("pass@k")
        axes[2].set_xscale("log", base=2)
        axes[2].set_xticks(ks)
        axes[2].set_xticklabels([str(k) for k in ks])
        axes[2].set_xlabel("k")
        axes[3].set_ylabel("token entropy (T = 1)")
        for ax in (axes[0], axes[1], axes[3]):
            ax.set_xlabel("GRPO step")
        axes[0].legend(fontsize=8)
    r = by_coef[coef]
    return finish(fig, f"PPO-ptx with ptx_coef = {coef:g} (seed 0): accuracy {r['eval_accuracy'][-1]:.1%}, "
                       f"pretraining-text loss {r['eval_ptx_loss'][-1]:.3f}")


def length_bias_figure(weights: Mapping[str, Sequence[float]], labels: Sequence[str], lengths: Sequence[int]):
    """Gradient weight per token and per completion for each aggregation.

    Args:
        weights: {aggregation: per-token weight of each completion shown} (one value per completion).
        labels: a label per completion (e.g. "wrong, 1 token").
        lengths: tokens of each completion.
    """
    lengths = check_finite_array("lengths", lengths, ndim=1)
    if len(labels) != len(lengths):
        raise ValueError(f"labels has {len(labels)} entries for {len(lengths)} completions")
    names = list(weights)
    fig, axes = new_figure(ncols=2, width=11.0, height=3.6)
    x = np.arange(len(names))
    w = 0.8 / max(len(labels), 1)
    with house_style():
        for j, lab in enumerate(labels):
            per_tok = [abs(float(weights[a][j])) for a in names]
            axes[0].bar(x + j * w, per_tok, w, label=lab, color=PALETTE[j % len(PALETTE)])
            axes[1].bar(x + j * w, [p * lengths[j] for p in per_tok], w, label=lab, color=PALETTE[j % len(PALETTE)])
        for ax, t in zip(axes, ("|gradient weight| per token", "|gradient weight| × tokens (whole answer)")):
            ax.set_xticks(x + w * (len(labels) - 1) / 2)
            ax.set_xticklabels(names)
            ax.set_ylabel(t)
        axes[0].legend(fontsize=8)
    return finish(fig, "How hard the loss pushes down a wrong short and a wrong long answer")


def clip_higher_figure(cache: Mapping, runs: Sequence[str] = ("clip_0.2_mu4", "clip_0.28_mu4")):
    """Entropy over training and the share of clipped tokens, ε_high = 0.2 against 0.28 (μ > 1)."""
    fig, axes = new_figure(ncols=3, width=13.0, height=3.6)
    with house_style():
        for i, name in enumerate(runs):
            r = _run(cache, name)
            lab = f"ε_high = {r['config']['eps_high']:g}, μ = {r['config']['n_epochs']}"
            axes[0].plot(r["diversity"]["step"], r["diversity"]["entropy"], marker="o", label=lab, color=PALETTE[i])
            axes[1].plot(r["step"], _smooth(r["clip_fraction"]), label=lab, color=PALETTE[i])
            axes[2].plot(r["eval_step"], r["eval_accuracy"], marker="o", label=lab, color=PALETTE[i])
            drawn = _seed_band(axes[2], cache, name, PALETTE[i])
        axes[0].set_ylabel("token entropy (T = 1, seed 0)")
        axes[1].set_ylabel("share of tokens clipped (smoothed, seed 0)")
        axes[2].set_ylabel("held-out accuracy (greedy)")
        if drawn > 1:
            axes[2].set_title(f"lines: seed 0; shaded: range over {drawn} seeds", fontsize=9)
        for ax in axes:
            ax.set_xlabel("GRPO step")
        axes[0].legend(fontsize=8)
    return finish(fig, "Clip-higher (DAPO): entropy and clipping with the upper clip raised")


def _smooth(y, window: int = 5) -> np.ndarray:
    from . import smooth

    return smooth([np.nan if v is None else v for v in y], window)


def dynamic_sampling_figure(cache: Mapping, runs: Sequence[str] = ("grpo", "dynamic")):
    """Zero-variance groups per step, and held-out accuracy against completions sampled."""
    fig, axes = new_figure(ncols=2, width=11.0, height=3.6)
    with house_style():
        for i, name in enumerate(runs):
            r = _run(cache, name)
            lab = "dynamic sampling (DAPO)" if r["config"]["dynamic_sampling"] else "every group kept"
            axes[0].plot(r["step"], _smooth(r["zero_variance_frac"]), label=lab, color=PALETTE[i])
            cum = [0] + list(r["completions_cum"])
            axes[1].plot([cum[s] for s in r["eval_step"]], r["eval_accuracy"], marker="o", label=lab, color=PALETTE[i])
            drawn = _seed_band(axes[1], cache, name, PALETTE[i],
                               x_of=lambda v: [([0] + list(v["completions_cum"]))[st] for st in v["eval_step"]])
        if drawn > 1:
            axes[1].set_title(f"lines: seed 0; shaded: range over {drawn} seeds", fontsize=9)
        axes[0].set_xlabel("GRPO step")
        axes[0].set_ylabel("share of groups with zero variance (seed 0)")
        axes[1].set_xlabel("completions sampled")
        axes[1].set_ylabel("held-out accuracy (greedy)")
        axes[1].legend(fontsize=8)
    return finish(fig, "Dynamic sampling: zero-variance groups dropped, more sampled")


def length_drift_figure(cache: Mapping, runs: Sequence[str] = ("grpo", "dr_grpo")):
    """Mean completion length per step under GRPO's and Dr. GRPO's aggregation."""
    fig, ax = new_figure(width=6.0, height=3.4)
    with house_style():
        for i, name in enumerate(runs):
            r = _run(cache, name)
            ax.plot(r["step"], _smooth(r["completion_len"]), label=f"{r['config']['loss_aggregation']}",
                    color=PALETTE[i])
        ax.set_xlabel("GRPO step")
        ax.set_ylabel("tokens per completion (with <eos>)")
        ax.legend()
    return finish(fig, "Completion length during training")


def verification_figure(curves: Mapping[str, Mapping[str, Sequence[float]]], n_problems: int | None = None):
    """Accuracy against k: pass@k, maj@k, best-of-n by verifier and by reward model, per model.

    Args:
        curves: {model name: ``pitfalls.verification_curves(...)``}.
        n_problems: how many problems the curves average over; when given, maj@k and best-of-n by the
            reward model carry the 95 % Wilson interval of an accuracy on that many problems (shaded).
    """
    from ..stats import accuracy_interval

    if not curves:
        raise ValueError("curves must hold at least one model")
    fig, axes = new_figure(ncols=len(curves), width=5.5 * len(curves), height=3.8)
    axes = np.atleast_1d(axes)
    names = {"pass@k": "pass@k (some sample right)", "best_of_n_verifier": "best-of-k, rule verifier",
             "maj@k": "maj@k (majority vote)", "best_of_n_rm": "best-of-k, reward model (nb 06)"}
    with house_style():
        for ax, (model, c) in zip(axes, curves.items()):
            for i, key in enumerate(names):
                if key in c:
                    ax.plot(c["k"], c[key], marker="o", label=names[key], color=PALETTE[i],
                            linestyle="--" if key == "pass@k" else "-")
                    if n_problems and key in ("maj@k", "best_of_n_rm"):
                        ivs = [accuracy_interval(round(v * n_problems), n_problems) for v in c[key]]
                        ax.fill_between(c["k"], [iv.low for iv in ivs], [iv.high for iv in ivs], color=PALETTE[i],
                                        alpha=0.15, linewidth=0)
            ax.set_xscale("log", base=2)
            ax.set_xticks(c["k"])
            ax.set_xticklabels([str(k) for k in c["k"]])
            ax.set_xlabel("k (samples per problem)")
            ax.set_ylabel("accuracy")
            ax.set_ylim(0, 1.02)
            ax.set_title(model + (f" (shaded: 95 % interval, {n_problems} problems)" if n_problems else ""), fontsize=9)
        axes[0].legend(fontsize=8)
    return finish(fig, "Verification at inference time: turning k samples into one answer")


def eureka_figure(search: Mapping):
    """Held-out accuracy of every candidate reward (bars, by round) and its shaped reward over training."""
    results = [r for rnd in search["rounds"] for r in rnd]
    if not results:
        raise ValueError("search must hold at least one scored candidate")
    fig, axes = new_figure(ncols=2, width=13.0, height=4.0)
    with house_style():
        names = [r["name"] for r in results]
        y = np.arange(len(results))
        colors = [PALETTE[r.get("round", 0) % len(PALETTE)] for r in results]
        axes[0].barh(y, [r["gold_end"] for r in results], color=colors)
        axes[0].axvline(results[0]["gold_start"], color="0.3", linestyle="--", linewidth=1, label="SFT start")
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(names, fontsize=8)
        axes[0].invert_yaxis()
        axes[0].set_xlabel("held-out accuracy after training (gold)")
        axes[0].legend(fontsize=8)
        for i, r in enumerate(results):
            steps = np.arange(1, len(r["shaped"]) + 1)
            axes[1].plot(steps, _smooth(r["shaped"]), color=PALETTE[i % len(PALETTE)], label=r["name"])
        axes[1].set_xlabel("GRPO step")
        axes[1].set_ylabel("the candidate's own reward (smoothed)")
        axes[1].legend(fontsize=7, ncol=2)
    return finish(fig, f"Eureka-style search: best '{search['best']}'")


def eureka_cartpole_figure(search: Mapping, reference: Mapping | None = None):
    """CartPole: the true return of PPO trained with each candidate reward, true against shaped return,
    and (when the search holds them) the seed candidates over several training seeds with their range.

    ``reference`` (or the search's own "reference"): the mean true return of a uniformly random policy
    and of one that always pushes the same way (``eureka_cartpole.reference_returns``), drawn as lines.
    """
    results = search.get("results") if isinstance(search, Mapping) else None
    if not results:
        raise ValueError("search must hold at least one scored candidate under 'results'")
    reference = reference if reference is not None else search.get("reference")
    over = search.get("over_seeds")
    fig, axes = new_figure(ncols=3 if over else 2, width=16.0 if over else 13.0, height=4.4)

    def ref_lines(ax, horizontal=True):
        if not reference:
            return
        for key, label, style in (("random", "uniformly random policy", "-."), ("one_way", "always push left", ":")):
            (ax.axhline if horizontal else ax.axvline)(reference[key]["mean"], color="0.45", linestyle=style,
                                                       linewidth=1, label=f"{label} ({reference[key]['mean']:.1f})")

    with house_style():
        for i, r in enumerate(results):
            style = "-" if not r.get("parent") else "--"
            axes[0].plot(r["eval_steps"], r["true_return"], style, color=PALETTE[i % len(PALETTE)],
                         label=r["name"] + (" (mutation)" if r.get("parent") else ""))
        axes[0].axhline(475, color="0.4", linestyle=":", linewidth=1, label="solved (475)")
        ref_lines(axes[0])
        axes[0].set_xlabel("environment steps")
        axes[0].set_ylabel("true return (greedy, unmodified CartPole)")
        axes[0].set_title(f"one search, seed {search.get('seed', 0)}", fontsize=9)
        axes[0].legend(fontsize=6, ncol=2, loc="center right")
        x = [r["shaped_return"] for r in results]
        y = [r["auc"] for r in results]
        axes[1].scatter(x, y, color=[PALETTE[i % len(PALETTE)] for i in range(len(results))])
        for r, xi, yi in zip(results, x, y):
            axes[1].annotate(r["name"], (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ref_lines(axes[1])
        axes[1].set_xlabel("shaped return per training episode (what the candidate rewards)")
        axes[1].set_ylabel("mean true return over the evaluations")
        if reference:
            axes[1].legend(fontsize=7, loc="center right")
        if over:
            names = list(over["scores"])
            for j, name in enumerate(names):
                vals = np.asarray(over["scores"][name]["auc"], dtype=float)
                axes[2].errorbar([vals.mean()], [j], xerr=[[vals.mean() - vals.min()], [vals.max() - vals.mean()]],
                                 fmt="o", color=PALETTE[j % len(PALETTE)], capsize=4)
                axes[2].scatter(vals, [j] * len(vals), color=PALETTE[j % len(PALETTE)], s=12, alpha=0.5)
            ref_lines(axes[2], horizontal=False)
            axes[2].set_yticks(range(len(names)))
            axes[2].set_yticklabels(names, fontsize=8)
            axes[2].invert_yaxis()
            axes[2].set_xlabel("mean true return over the evaluations")
            axes[2].set_title(f"seed candidates on {len(over['seeds'])} seeds: mean, range, each seed", fontsize=9)
            if reference:
                axes[2].legend(fontsize=7, loc="lower right")
    return finish(fig, "Eureka-style search on CartPole: the true return decides, not the shaped one")
