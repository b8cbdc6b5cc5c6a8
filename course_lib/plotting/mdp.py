"""Figures of notebooks 00 and 01 (discounting, MDPs)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core import check_finite_array, check_indices, check_positive_int, check_probability
from ..mdp import discounted_returns, effective_horizon
from . import PALETTE, finish, house_style, new_figure


def discount_weights(gamma: float, horizon: int = 50, rewards: Sequence[float] | None = None):
    """The weights γ^t, the effective horizon 1/(1−γ) and (optionally) a reward sequence's return.

    The figure behind the first γ slider (notebooks 00 and 01).
    """
    horizon = check_positive_int("horizon", horizon)
    gamma = check_probability("gamma", gamma)
    h = effective_horizon(gamma)
    t = np.arange(horizon)
    fig, ax = new_figure(width=7.0, height=3.2)
    with house_style():
        ax.bar(t, float(gamma) ** t, color=PALETTE[0], width=0.8, label=r"weight $\gamma^t$")
        if np.isfinite(h) and h <= horizon:
            ax.axvline(h, color=PALETTE[3], linestyle="--", label=f"effective horizon 1/(1−γ) = {h:.1f}")
        ax.set_xlabel("steps into the future, t")
        ax.set_ylabel(r"$\gamma^t$")
        ax.set_ylim(0, 1.05)
        title = f"γ = {float(gamma):.3g}: effective horizon " + ("∞" if not np.isfinite(h) else f"{h:.1f} steps")
        if rewards is not None:
            g0 = discounted_returns(rewards, gamma)[0]
            title += f";  return of the reward sequence G₀ = {g0:.2f}"
        ax.set_title(title, fontsize=10)
        ax.legend(loc="upper right")
    return finish(fig)


_ARROW_DXY = {0: (0.0, -0.32), 1: (0.32, 0.0), 2: (0.0, 0.32), 3: (-0.32, 0.0)}  # up, right, down, left


def grid_heatmap(ax, values, shape, policy=None, walls=(), terminals=None, path=None,
                 start=None, cmap: str = "viridis", annotate: bool = True, vmin=None, vmax=None):
    """Draw state values on a grid, with policy arrows, walls, terminal cells and a path.

    Args:
        ax: the axes to draw on.
        values: shape (rows*cols,), one value per cell (state = row * cols + col).
        shape: (rows, cols).
        policy: optional shape (rows*cols,) actions 0 up, 1 right, 2 down, 3 left.
        walls: cells drawn dark grey. terminals: {(row, col): reward} drawn with their reward.
        path: optional list of cells drawn as a line (e.g. the greedy path from the start).
        start: optional start cell, marked "S".
    """
    rows, cols = check_positive_int("shape[0]", shape[0]), check_positive_int("shape[1]", shape[1])
    values = check_finite_array("values", values, nonempty=False)
    if values.shape != (rows * cols,):
        raise ValueError(f"values must have shape ({rows * cols},) for a {rows}x{cols} grid, got {values.shape}")
    terminals = dict(terminals or {})
    walls = set(map(tuple, walls))
    if policy is not None:
        policy = check_indices("policy", np.asarray(policy), 4)
        if policy.shape != (rows * cols,):
            raise ValueError(f"policy must have shape ({rows * cols},) for a {rows}x{cols} grid, got {policy.shape}")
    grid = values.reshape(rows, cols).copy()
    masked = np.ma.array(grid, mask=np.zeros_like(grid, dtype=bool))
    for r, c in walls | set(terminals):
        masked.mask[r, c] = True
    with house_style():
        im = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        ax.grid(False)
        for r, c in walls:
            ax.add_patch(_rect(r, c, "0.25"))
        best = max(terminals.values()) if terminals else 0
        for (r, c), rew in terminals.items():
            good = rew > 0 or (rew == best and len(set(terminals.values())) > 1)  # the goal, even when it pays 0
            ax.add_patch(_rect(r, c, PALETTE[2] if good else PALETTE[3]))
            ax.text(c, r, f"{rew:+g}" if rew else "goal" if good else "0", ha="center", va="center", color="white",
                    fontweight="bold", fontsize=9 if cols <= 8 else 6)
        for s in range(rows * cols):
            r, c = divmod(s, cols)
            if (r, c) in walls or (r, c) in terminals:
                continue
            if annotate:
                ax.text(c, r + 0.3, f"{grid[r, c]:.2f}", ha="center", va="center", fontsize=7, color="white")
            if policy is not None:
                dx, dy = _ARROW_DXY[int(policy[s])]
                ax.arrow(c - dx / 2, r - dy / 2 - 0.08, dx, dy, head_width=0.15, head_length=0.12,
                         length_includes_head=True, color="white")
        if path is not None and len(path) > 1:
            ys, xs = zip(*path)
            ax.plot(xs, ys, color=PALETTE[1], linewidth=3, alpha=0.8)
        if start is not None:
            ax.text(start[1] - 0.35, start[0] - 0.3, "S", color=PALETTE[1], fontweight="bold")
    return im


def _rect(r, c, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((c - 0.5, r - 0.5), 1, 1, color=colour)


def gridworld_values(env, V, policy=None, title: str | None = None, show_path: bool = True):
    """A course GridWorld's values as a heatmap with the policy's arrows and its path from the start."""
    fig, ax = new_figure(width=1.0 * env.shape[1] + 1.5, height=1.0 * env.shape[0] + 0.6)
    path = env.path(policy) if (policy is not None and show_path) else None
    im = grid_heatmap(ax, V, env.shape, policy, env.walls, env.terminals, path=path, start=env.start)
    fig.colorbar(im, ax=ax, shrink=0.8, label="V(s)")
    return finish(fig, title)


def gamma_gridworld(gamma: float, slip: float = 0.0):
    """Value iteration on the two-rewards gridworld for one γ: values, greedy arrows, greedy path.

    The figure behind the gridworld γ slider of notebook 01.
    """
    from ..mdp.gridworld import two_rewards_gridworld
    from ..mdp import value_iteration

    env = two_rewards_gridworld(slip=slip)
    V, pi = value_iteration(env.to_mdp(), None, gamma, tol=1e-8, max_iter=100_000)
    goal = env.path(pi)[-1]
    where = {(3, 1): "the near +1", (0, 6): "the far +10"}.get(goal, f"cell {goal}")
    h = effective_horizon(gamma)
    return gridworld_values(env, V, pi, title=f"γ = {float(gamma):.2f} (horizon ≈ "
                            f"{'∞' if not np.isfinite(h) else f'{h:.1f}'}): from S the greedy policy heads for {where}")


def value_iteration_convergence(history, V_star=None, states: dict | None = None):
    """Left: max_s |V_k(s) − V*(s)| per sweep (log scale). Right: V_k(s) of a few named states.

    Args:
        history: shape (K+1, S), the values after each sweep (``value_iteration(..., return_history=True)``).
        V_star: the converged values (default: the last row of history).
        states: {label: state index} to follow on the right panel (default: the first 3 states).
    """
    history = check_finite_array("history", history, nonempty=False)
    if history.ndim != 2 or len(history) < 2:
        raise ValueError(f"history must have shape (K+1, S) with K >= 1, got {history.shape}")
    V_star = history[-1] if V_star is None else check_finite_array("V_star", V_star, shape=(history.shape[1],))
    states = states or {f"state {s}": s for s in range(min(3, history.shape[1]))}
    for label, s in states.items():
        check_indices(f"states[{label!r}]", s, history.shape[1])
    fig, (a1, a2) = new_figure(ncols=2, width=9.0, height=3.2)
    with house_style():
        err = np.abs(history - V_star).max(axis=1)
        k = np.arange(len(history))
        a1.semilogy(k[err > 0], err[err > 0], color=PALETTE[0])
        a1.set_xlabel("sweep k")
        a1.set_ylabel(r"$\max_s |V_k(s) - V^*(s)|$")
        a1.set_title("error shrinks by a factor γ per sweep (or faster)")
        for colour, (label, s) in zip(PALETTE, states.items()):
            a2.plot(k, history[:, s], color=colour, label=label)
            a2.axhline(V_star[s], color=colour, linestyle=":", linewidth=1)
        a2.set_xlabel("sweep k")
        a2.set_ylabel(r"$V_k(s)$")
        a2.set_title("values of a few states")
        a2.legend()
    return finish(fig)


def llm_credit(gamma: float, n_tokens: int = 200):
    """How much of an end-of-sequence reward reaches each token: γ^(T−1−t) for t = 0..T−1.

    With γ = 1 (what RLHF uses) every token of the answer gets the full reward; with γ = 0.9
    the first tokens of a 200-token answer get almost nothing.
    """
    n_tokens = check_positive_int("n_tokens", n_tokens)
    gamma = check_probability("gamma", gamma)
    t = np.arange(n_tokens)
    fig, ax = new_figure(width=7.0, height=3.0)
    with house_style():
        for colour, g in zip(PALETTE, sorted({1.0, 0.99, gamma}, reverse=True)):
            w = g ** (n_tokens - 1 - t)
            ax.plot(t, w, color=colour, label=f"γ = {g:g}: first token gets {w[0]:.2g}")
        ax.set_yscale("log")
        ax.set_ylim(max(1e-12, min(1e-3, gamma ** (n_tokens - 1) / 2)), 2)
        ax.set_xlabel("token position t in the answer")
        ax.set_ylabel(r"weight $\gamma^{T-1-t}$ of the final reward")
        ax.set_title(f"a reward at the last of {n_tokens} tokens, seen from each token")
        ax.legend(loc="lower right")
    return finish(fig)
