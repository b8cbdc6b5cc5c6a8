"""Figures of notebook 02 (learning from experience)."""
from __future__ import annotations

import numpy as np

from ..core import check_finite_array, check_finite_number, check_indices, check_positive_int
from . import finish, house_style, learning_curves, new_figure
from .mdp import grid_heatmap


def prediction_error(runs: dict, V_true, states=None, title: str | None = None):
    """RMS error of predicted values against the exact ones, per episode, for several methods.

    Args:
        runs: {method name: [TabularHistory per seed]} from ``mc_prediction`` / ``td0_prediction``.
        V_true: shape (S,), the exact values (``policy_evaluation_exact``).
        states: which states count in the error (default: all).
    """
    V_true = check_finite_array("V_true", V_true, ndim=1)
    idx = np.arange(len(V_true)) if states is None else check_indices("states", states, len(V_true))
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {method name: [TabularHistory per seed]}")
    curves = {}
    for name, hists in runs.items():
        curves[name] = []
        for h in hists:
            rms = np.sqrt(((h.snapshots[:, idx] - V_true[idx]) ** 2).mean(axis=1))
            curves[name].append((np.arange(1, len(rms) + 1), rms))
    fig, ax = new_figure(width=7.0, height=3.4)
    learning_curves(ax, curves, xlabel="episode", ylabel="RMS error of V vs exact")
    return finish(fig, title)


def control_curves(runs: dict, smooth_window: int = 20, title: str | None = None, ylim=None):
    """Episode returns during learning (ε-greedy behaviour included) for several methods.

    Args:
        runs: {method name: [TabularHistory per seed]}.
    """
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {method name: [TabularHistory per seed]}")
    smooth_window = check_positive_int("smooth_window", smooth_window)
    curves = {name: [(np.arange(1, len(h.returns) + 1), h.returns) for h in hists]
              for name, hists in runs.items()}
    fig, ax = new_figure(width=7.0, height=3.4)
    learning_curves(ax, curves, xlabel="episode", ylabel="return of the episode",
                    smooth_window=smooth_window)
    if ylim is not None:
        ax.set_ylim(*ylim)
    return finish(fig, title)


def q_policy(Q, shape, walls=(), terminals=None, start=None, path=None, title: str | None = None,
             ax=None):
    """A learned Q as a picture: max_a Q(s, a) as a heatmap and the greedy action as arrows."""
    Q = check_finite_array("Q", Q, nonempty=False)
    rows, cols = check_positive_int("shape[0]", shape[0]), check_positive_int("shape[1]", shape[1])
    if Q.ndim != 2 or Q.shape[0] != rows * cols:
        raise ValueError(f"Q must have shape ({rows * cols}, A) for a {rows}x{cols} grid, got {Q.shape}")
    own = ax is None
    if own:
        fig, ax = new_figure(width=0.6 * cols + 1.5, height=0.6 * rows + 0.9)
    else:
        fig = ax.figure
    grid_heatmap(ax, Q.max(axis=1), shape, np.argmax(Q, axis=1), walls, terminals, path=path,
                 start=start, annotate=False)
    if title:
        ax.set_title(title, fontsize=10)
    return finish(fig) if own else fig


def epsilon_runs(sweep: dict, epsilon: float, env=None, smooth_window: int = 20, alpha: float | None = None):
    """The figure behind the ε slider: learning curves of SARSA and Q-learning at one ε, and
    (for a course GridWorld) the greedy policies they learned.

    Args:
        sweep: the output of ``course_lib.tabular.epsilon_sweep`` (keyed by ε, or by (ε, α)).
        epsilon: the ε to show (the nearest one run is used).
        env: the GridWorld the sweep ran on (for the policy panels), or None.
        alpha: for a sweep keyed by (ε, α), the α to show (the nearest one run).
    """
    if not isinstance(sweep, dict) or not sweep:
        raise ValueError("sweep must be a non-empty dict from epsilon_sweep")
    epsilon = check_finite_number("epsilon", epsilon)
    smooth_window = check_positive_int("smooth_window", smooth_window)
    if isinstance(next(iter(sweep)), tuple):
        a = check_finite_number("alpha", alpha) if alpha is not None else next(iter(sweep))[1]
        key = min(sweep, key=lambda k: (abs(k[0] - float(epsilon)), abs(k[1] - a)))
        eps, label = key[0], f"ε = {key[0]:g}, α = {key[1]:g}"
    else:
        key = eps = min(sweep, key=lambda e: abs(e - float(epsilon)))
        label = f"ε = {eps:g}"
    runs = sweep[key]
    if env is None:
        fig, ax = new_figure(width=7.0, height=3.4)
        top = ax
    else:
        import matplotlib.pyplot as plt

        with house_style():
            fig = plt.figure(figsize=(10.0, 5.6))
            gs = fig.add_gridspec(2, 2, height_ratios=[1.1, 1])
            top = fig.add_subplot(gs[0, :])
            bottom = [fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])]
    curves = {name: [(np.arange(1, len(h.returns) + 1), h.returns) for h in hists]
              for name, hists in runs.items()}
    learning_curves(top, curves, xlabel="episode", ylabel="return (while exploring)",
                    smooth_window=smooth_window)
    lo = min(np.percentile(h.returns, 5) for hists in runs.values() for h in hists)
    top.set_ylim(max(lo, -150), None)
    top.set_title(f"{label}: returns while learning (mean of {len(next(iter(runs.values())))} seeds, "
                  f"smoothed over {smooth_window})", fontsize=10)
    if env is not None:
        for ax, (name, hists) in zip(bottom, runs.items()):
            Q = hists[0].values
            path = env.path(np.argmax(Q, axis=1))
            ends = path[-1] in env.terminals
            what = f"{len(path) - 1} steps to {env.terminals[path[-1]]:+g}" if ends else "it loops (not learned yet)"
            q_policy(Q, env.shape, env.walls, env.terminals, start=env.start, path=path, ax=ax,
                     title=f"{name} (seed 0): greedy path, {what}")
    return finish(fig)
