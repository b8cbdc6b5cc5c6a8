"""Returns (notebook 01): the discounted return of a reward sequence and the effective horizon.

The return from step t is the discounted sum of the rewards that follow it in the same
episode:  G_t = r_t + γ r_{t+1} + γ² r_{t+2} + ...  =  r_t + γ G_{t+1}.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..core import check_finite_array, check_probability, check_same_shape


def as_1d(name: str, x, dtype=float, nonempty: bool = False) -> np.ndarray:
    """``x`` as a 1-D array of finite numbers (the course's shared check, ``core.check_finite_array``)."""
    return check_finite_array(name, x, ndim=1, nonempty=nonempty, dtype=dtype)


def discounted_returns(
    rewards: Sequence[float] | np.ndarray,
    gamma: float,
    dones: Sequence[bool] | np.ndarray | None = None,
) -> np.ndarray:
    """Return-to-go G_t for every step of a reward sequence (notebook 01).

    G_t = r_t + γ·G_{t+1}, computed backwards, where the sum stops at an episode end:
    if ``dones[t]`` is true the episode ended with step t, so G_t = r_t.

    Args:
        rewards: shape (T,), the reward r_t received after the action at step t.
        gamma: the discount γ in [0, 1].
        dones: optional shape (T,) booleans, true where an episode ends at that step.
            None means the whole sequence is one episode.

    Returns:
        Array of shape (T,) with G_0 ... G_{T-1}.
    """
    gamma = check_probability("gamma", gamma)
    rewards = as_1d("rewards", rewards)
    if dones is None:
        dones = np.zeros(len(rewards), dtype=bool)
    else:
        dones = as_1d("dones", dones, dtype=bool)
        check_same_shape(rewards=rewards, dones=dones)
    returns = np.zeros(len(rewards))
    future = 0.0  # G_{t+1}, or 0 beyond the end of an episode
    for t in reversed(range(len(rewards))):
        if dones[t]:
            future = 0.0
        future = rewards[t] + gamma * future
        returns[t] = future
    return returns


def effective_horizon(gamma: float) -> float:
    """1 / (1 − γ): roughly how many steps ahead a γ-discounted agent looks.

    The weights γ^t sum to 1/(1−γ), so that many undiscounted steps carry the same total
    weight. Infinite for γ = 1.
    """
    gamma = check_probability("gamma", gamma)
    return float("inf") if gamma == 1.0 else 1.0 / (1.0 - gamma)


__all__ = ["as_1d", "discounted_returns", "effective_horizon"]
