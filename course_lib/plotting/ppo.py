"""Figures of notebook 04 (PPO on CartPole): the clipped surrogate, GAE, training curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from matplotlib.ticker import FuncFormatter

from ..core import check_finite_number, check_positive_int, check_probability
from ..ppo.math import clipped_objective, gae
from . import PALETTE, finish, house_style, learning_curves, legend_below, new_figure, smooth


def clip_objective(eps: float = 0.2, ratio_max: float = 2.0):
    """L^CLIP = min(ρA, clip(ρ, 1−ε, 1+ε)A) against ρ for A = +1 and A = −1.

    Shaded: where the clipped term is the min and is flat, so the gradient with respect to ρ is
    zero (ρ > 1+ε for A > 0, ρ < 1−ε for A < 0).
    """
    eps = check_finite_number("eps", eps, low=0.0)
    ratio_max = check_finite_number("ratio_max", ratio_max, low=1.0, low_open=True)
    rho = np.linspace(0.0, ratio_max, 401)
    fig, axes = new_figure(ncols=2, width=9.0, height=3.4)
    with house_style():
        for ax, adv in zip(axes, (1.0, -1.0)):
            unclipped = rho * adv
            clipped = np.clip(rho, 1 - eps, 1 + eps) * adv
            objective = clipped_objective(torch.from_numpy(rho), torch.tensor(adv, dtype=torch.float64), eps, eps).numpy()
            if adv > 0:
                ax.axvspan(1 + eps, ratio_max, color=PALETTE[3], alpha=0.12, label="gradient is zero")
            else:
                ax.axvspan(0.0, max(1 - eps, 0.0), color=PALETTE[3], alpha=0.12, label="gradient is zero")
            ax.plot(rho, unclipped, color="0.55", linestyle="--", linewidth=1.2, label=r"$\rho A$")
            ax.plot(rho, clipped, color=PALETTE[1], linestyle=":", linewidth=1.6,
                    label=r"clip$(\rho, 1-\varepsilon, 1+\varepsilon)A$")
            ax.plot(rho, objective, color=PALETTE[0], linewidth=2.4, label=r"$L^{CLIP}$ = min of the two")
            ax.axvline(1.0, color="0.3", linewidth=0.8)
            ax.set_xlabel(r"probability ratio $\rho = \pi_\theta(a|s)\,/\,\pi_{old}(a|s)$")
            ax.set_ylabel(r"$L^{CLIP}$")
            ax.set_xlim(0, ratio_max)
            ax.set_ylim(-ratio_max - 0.1, ratio_max + 0.1)
            ax.set_title(f"A = {adv:+.0f}: " + ("a good action, made likelier up to 1+ε" if adv > 0
                                                else "a bad action, made rarer down to 1−ε"), fontsize=10)
        # one legend for both panels, below them, so it never hides a curve whatever ε is
        legend_below(fig, axes[0])
    return finish(fig, f"The clipped surrogate, ε = {eps:.2f}")


def gae_weights(lam: float, rollout: dict, gamma: float | None = None, horizon: int = 60):
    """The λ slider's figure: the weights (γλ)^l of δ_{t+l} in A_t, and A_t on a recorded rollout.

    Args:
        lam: GAE λ in [0, 1].
        rollout: a dict with rewards, values, next_values, terminated, truncated (one env),
            e.g. ``course_lib.experiments.ppo_sweep.load_recorded_rollout()``; it may carry its ``gamma``.
        gamma: discount; default the rollout's (else 0.98).
    """
    lam = check_probability("lam", lam)
    horizon = check_positive_int("horizon", horizon)
    if not isinstance(rollout, dict):
        raise ValueError(f"rollout must be a dict (e.g. load_recorded_rollout()), got {type(rollout).__name__}")
    for key in ("rewards", "values", "next_values", "terminated", "truncated"):
        if key not in rollout:
            raise ValueError(f"rollout must have a {key!r} entry")
    gamma = check_probability("gamma", rollout.get("gamma", 0.98) if gamma is None else gamma)
    args = [np.asarray(rollout[k]) for k in ("rewards", "values", "next_values", "terminated", "truncated")]
    adv = gae(*args, gamma=gamma, lam=lam)[0]
    adv0 = gae(*args, gamma=gamma, lam=0.0)[0]
    adv1 = gae(*args, gamma=gamma, lam=1.0)[0]
    ends = np.flatnonzero(np.asarray(rollout["terminated"]) | np.asarray(rollout["truncated"]))
    fig, axes = new_figure(ncols=2, width=10.0, height=3.4)
    with house_style():
        ax = axes[0]
        lags = np.arange(horizon)
        ax.bar(lags, (gamma * lam) ** lags, color=PALETTE[0], width=0.8)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("l, steps after t")
        ax.set_ylabel(r"weight $(\gamma\lambda)^l$ of $\delta_{t+l}$")
        ax.set_title(f"γλ = {gamma * lam:.3f}: half the weight within {_half_life(gamma * lam)}", fontsize=10)
        ax = axes[1]
        t = np.arange(len(adv))
        ax.plot(t, adv1, color="0.75", linewidth=1.0, label="λ = 1 (Monte Carlo − V: unbiased, noisy)")
        ax.plot(t, adv0, color=PALETTE[1], linewidth=1.0, label="λ = 0 (one TD error: trusts V)")
        ax.plot(t, adv, color=PALETTE[0], linewidth=1.8, label=f"λ = {lam:.2f}")
        for i, e in enumerate(ends):
            ax.axvline(e + 0.5, color=PALETTE[3], linewidth=0.8, alpha=0.6, label="an episode ends" if i == 0 else None)
        ax.set_xlabel("step t of the recorded rollout")
        ax.set_ylabel(r"advantage $A_t$")
        ax.set_title(f"std of A over the rollout: λ=0 {adv0.std():.2f}, λ={lam:.2f} {adv.std():.2f}, "
                     f"λ=1 {adv1.std():.2f}", fontsize=9)
        # below the panels: inside, the curves of some λ and the episode ends would cross it
        legend_below(fig, ax)
    return finish(fig, "GAE: λ trades the critic's bias against the variance of sampled rewards")


_THOUSANDS = FuncFormatter(lambda x, _pos: f"{x / 1000:g}k" if x else "0")


def _half_life(x: float) -> str:
    if x <= 0:
        return "1 step"
    if x >= 1:
        return "∞ steps"
    return f"{max(1, int(np.ceil(np.log(0.5) / np.log(x))))} steps"


def _curves(histories: Sequence[dict], x_key: str, window: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for h in histories:
        x = np.asarray(h[x_key], float)
        y = np.asarray(h["episode_returns"], float)
        if len(x):
            out.append((x, smooth(y, window)))
    return out


def side_by_side(runs: dict[str, Sequence[dict]], smooth_window: int = 20, target: float | None = 475.0):
    """Episode return of each library against env steps and against training wall-clock.

    Args:
        runs: name -> list of histories (one per seed) from ``train_ppo`` / ``train_sb3``.
    """
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict of name -> list of histories")
    smooth_window = check_positive_int("smooth_window", smooth_window)
    if target is not None:
        target = check_finite_number("target", target)
    fig, axes = new_figure(ncols=2, width=10.0, height=3.6)
    for ax, (x_key, label) in zip(axes, (("episode_steps", "environment steps"),
                                         ("episode_seconds", "training wall-clock (s, evaluation excluded)"))):
        learning_curves(ax, {name: _curves(hs, x_key, smooth_window) for name, hs in runs.items()},
                        xlabel=label, ylabel=f"episode return\n(moving average of {smooth_window} episodes)",
                        target=target, band_label="shaded: min–max over seeds")
        if x_key == "episode_steps":
            ax.xaxis.set_major_formatter(_THOUSANDS)
    # both panels have the same entries: one legend below them, clear of the curves and the target line
    legend_below(fig, axes[0])
    axes[1].get_legend().remove()
    return finish(fig, "PPO on CartPole-v1, same hyperparameters: course_lib vs Stable-Baselines3")


def diagnostics(history: dict, window: int = 10):
    """Per-update diagnostics of a ``train_ppo`` run: clip fraction, approximate KL, entropy,
    explained variance against env steps; each as a thin line (every update) and a thick one
    (its moving average over ``window`` updates)."""
    window = check_positive_int("window", window)
    keys = [("clip_fraction", "clip fraction"), ("approx_kl", "approx. KL(old ‖ new)"),
            ("entropy", "policy entropy (nats)"), ("explained_variance", "explained variance of V")]
    for k, _ in keys:
        if k not in history:
            raise ValueError(f"history must have a {k!r} entry (from train_ppo)")
    fig, axes = new_figure(ncols=4, width=13.0, height=2.8)
    with house_style():
        x = np.asarray(history["env_steps"], float)
        for ax, (k, label), colour in zip(axes, keys, PALETTE):
            y = np.asarray(history[k], float)
            ax.plot(x, y, color=colour, alpha=0.35, linewidth=0.8)
            ax.plot(x, smooth(y, window), color=colour)
            ax.set_title(label, fontsize=10)
            ax.set_xlabel("environment steps")
            ax.xaxis.set_major_formatter(_THOUSANDS)
    return finish(fig, f"thin: the value at each update; thick: its moving average over {window} updates")


def clip_sweep(sweep: dict, eps: float, smooth_window: int = 10):
    """One ε of the clip sweep against the others: return, clip fraction and approximate KL.

    Args:
        sweep: from ``course_lib.experiments.ppo_sweep.load_clip_sweep()``.
        eps: one of ``sweep["eps"]``; its seeds are drawn as strong lines, the other ε as faint means;
            one legend below the panels.
    """
    from ..runs_cache import eps_label

    if not isinstance(sweep, dict) or "runs" not in sweep:
        raise ValueError("sweep must be the dict returned by load_clip_sweep()")
    eps = check_finite_number("eps", eps, low=0.0)
    smooth_window = check_positive_int("smooth_window", smooth_window)
    values = sorted({r["eps"] for r in sweep["runs"]})
    chosen = min(values, key=lambda v: abs(v - float(eps)))
    if abs(chosen - float(eps)) > 1e-9 * max(1.0, abs(float(eps))):
        raise ValueError(f"eps must be one of the sweep's values {[eps_label(v) for v in values]}, got {eps!r}")
    fig, axes = new_figure(ncols=3, width=13.0, height=3.4)
    panels = [("episode_return", "episode return"), ("clip_fraction", "clip fraction"),
              ("approx_kl", "approx. KL per update (log)")]
    with house_style():
        for ax, (key, label) in zip(axes, panels):
            for colour, v in zip(PALETTE, values):
                runs = [r for r in sweep["runs"] if r["eps"] == v]
                ys = np.array([np.asarray(r[key], float) for r in runs])
                x = np.asarray(runs[0]["env_steps"], float)
                if v == chosen:
                    for y in ys:
                        ax.plot(x, smooth(y, smooth_window), color=colour, linewidth=1.2, alpha=0.8)
                    ax.plot([], [], color=colour, linewidth=2, label=f"ε = {eps_label(v)} (each of {len(ys)} seeds)")
                else:
                    ax.plot(x, smooth(np.nanmean(ys, 0), smooth_window), color=colour, linewidth=0.8,
                            alpha=0.35, label=f"ε = {eps_label(v)} (mean of {len(ys)})")
            ax.set_title(label, fontsize=10)
            ax.set_xlabel("environment steps")
            ax.xaxis.set_major_formatter(_THOUSANDS)
            if key == "approx_kl":
                ax.set_yscale("log")
        # one legend below the panels: inside the return panel it would hide curves for some ε
        legend_below(fig, axes[0])
    return finish(fig, f"Clip sweep: each seed of ε = {eps_label(chosen)} (strong lines) against the mean "
                       f"of each other ε (faint lines)")
