"""Figures of notebooks 00 and 01 (discounting, MDPs)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..mdp import discounted_returns, effective_horizon
from . import PALETTE, finish, house_style, new_figure


def discount_weights(gamma: float, horizon: int = 50, rewards: Sequence[float] | None = None):
    """The weights γ^t, the effective horizon 1/(1−γ) and (optionally) a reward sequence's return.

    The figure behind the first γ slider (notebooks 00 and 01).
    """
    from .mdp import discounted_returns, effective_horizon

    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
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
