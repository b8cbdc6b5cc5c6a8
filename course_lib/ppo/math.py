"""The math of PPO as small pure functions (notebook 04).

    ρ_t      = π_θ(a_t|s_t) / π_old(a_t|s_t)                      the probability ratio
    L^CLIP   = E_t[ min(ρ_t A_t, clip(ρ_t, 1−ε, 1+ε) A_t) ]          Schulman et al. 2017, Eq. 7
    δ_t      = r_t + γ V(s_{t+1}) (1 − terminated_t) − V(s_t)       the TD error
    A_t      = δ_t + γλ (1 − done_t) A_{t+1}                         GAE, Schulman et al. 2015, Eq. 16

No hidden state: arrays or tensors in, arrays or tensors out. ``train_ppo`` calls exactly these.
"""
from __future__ import annotations

import numpy as np
import torch

from ..core import check_probability


def _as_array(name: str, x, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (T,) or (T, N), got shape {arr.shape}")
    return arr


def gae(rewards, values, next_values, terminated, truncated, gamma: float, lam: float):
    """Generalised advantage estimation, stopping at every episode end (notebook 04).

        δ_t = r_t + γ·V(s_{t+1})·(1 − terminated_t) − V(s_t)
        A_t = δ_t + γλ·(1 − done_t)·A_{t+1},      done_t = terminated_t or truncated_t

    ``next_values[t]`` is V of the *true* next observation s_{t+1} of step t, also when the
    episode ended there. So a step cut by a time limit (truncated) still bootstraps from
    V(s_{t+1}), while a terminated step does not (there is no future after a real end).
    Either way the recursion stops: A_{t+1} belongs to another episode.

    Args:
        rewards, values, next_values: shape (T,) or (T, N) (time first, then parallel envs).
        terminated, truncated: booleans of the same shape.
        gamma: discount γ in [0, 1].
        lam: GAE λ in [0, 1]; λ = 0 gives the TD errors, λ = 1 the Monte Carlo returns minus V.

    Returns:
        (advantages, returns), both of the input's shape, with returns = advantages + values
        (the value function's regression target). Torch tensors in give torch tensors out
        (dtype and device of ``rewards``), anything else gives float64 NumPy arrays.
    """
    gamma = check_probability("gamma", gamma)
    lam = check_probability("lam", lam)
    r = _as_array("rewards", rewards, float)
    v = _as_array("values", values, float)
    nv = _as_array("next_values", next_values, float)
    term = _as_array("terminated", terminated, bool)
    trunc = _as_array("truncated", truncated, bool)
    for name, arr in (("values", v), ("next_values", nv), ("terminated", term), ("truncated", trunc)):
        if arr.shape != r.shape:
            raise ValueError(f"{name} must have the shape of rewards {r.shape}, got {arr.shape}")

    not_terminal = 1.0 - term  # bootstrap unless the episode really ended
    not_done = 1.0 - (term | trunc)  # the recursion continues only inside an episode
    adv = np.zeros_like(r)
    next_adv = np.zeros_like(r[0])  # A_{t+1}; zero beyond the last step
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * nv[t] * not_terminal[t] - v[t]
        next_adv = delta + gamma * lam * not_done[t] * next_adv
        adv[t] = next_adv
    returns = adv + v
    if isinstance(rewards, torch.Tensor):
        as_t = lambda a: torch.as_tensor(a, dtype=rewards.dtype, device=rewards.device)  # noqa: E731
        return as_t(adv), as_t(returns)
    return adv, returns


def _as_tensor(name: str, x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a tensor or array of numbers, got {type(x).__name__}") from None


def clipped_surrogate(ratio, adv, eps: float) -> torch.Tensor:
    """PPO's clipped surrogate, as a loss to minimise: −mean(min(ρ·A, clip(ρ, 1−ε, 1+ε)·A)).

    The min takes the pessimistic term: once ρ has moved past 1+ε (for A > 0) or below 1−ε
    (for A < 0), the clipped term is the smaller one and is constant in ρ, so its gradient is
    zero and the update stops pushing that sample further.

    Args:
        ratio: ρ = π_θ(a|s) / π_old(a|s), any shape (a tensor to get gradients).
        adv: advantages A, same shape.
        eps: the clip range ε ≥ 0 (usually 0.1 to 0.3; a linear schedule ends at 0).

    Returns:
        A scalar tensor.
    """
    if not isinstance(eps, (int, float, np.floating, np.integer)) or isinstance(eps, bool) or not eps >= 0:
        raise ValueError(f"eps must be a non-negative number, got {eps!r}")
    ratio = _as_tensor("ratio", ratio)
    adv = _as_tensor("adv", adv).to(ratio.dtype)
    if ratio.shape != adv.shape:
        raise ValueError(f"ratio and adv must have the same shape, got {tuple(ratio.shape)} and {tuple(adv.shape)}")
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * adv
    return -torch.min(unclipped, clipped).mean()


def value_loss(values, returns) -> torch.Tensor:
    """Mean squared error between V(s_t) and its target (the GAE returns): mean((V − R)²)."""
    values = _as_tensor("values", values)
    returns = _as_tensor("returns", returns).to(values.dtype)
    if values.shape != returns.shape:
        raise ValueError(f"values and returns must have the same shape, got {tuple(values.shape)} "
                         f"and {tuple(returns.shape)}")
    return (values - returns).pow(2).mean()


def approx_kl(logp, logp_old) -> torch.Tensor:
    """Estimate of KL(π_old ‖ π_θ) from samples a ~ π_old: mean((ρ − 1) − log ρ).

    This is the k3 estimator (Schulman 2020): unbiased and never negative, zero exactly when
    the log-probabilities match.
    """
    logp = _as_tensor("logp", logp)
    logp_old = _as_tensor("logp_old", logp_old).to(logp.dtype)
    if logp.shape != logp_old.shape:
        raise ValueError(f"logp and logp_old must have the same shape, got {tuple(logp.shape)} "
                         f"and {tuple(logp_old.shape)}")
    log_ratio = logp - logp_old
    return (torch.expm1(log_ratio) - log_ratio).mean()


def entropy(logits) -> torch.Tensor:
    """Entropy −Σ_a π(a|s) log π(a|s) of the categorical policy given by ``logits`` (…, A), per row."""
    logits = _as_tensor("logits", logits)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a last axis of actions, got shape {tuple(logits.shape)}")
    logp = torch.log_softmax(logits, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def explained_variance(values, returns) -> float:
    """1 − Var(R − V) / Var(R): 1 is a perfect critic, 0 no better than a constant, < 0 worse."""
    v = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=float).ravel()
    r = np.asarray(returns.detach().cpu() if isinstance(returns, torch.Tensor) else returns, dtype=float).ravel()
    if v.shape != r.shape:
        raise ValueError(f"values and returns must have the same size, got {v.size} and {r.size}")
    var = r.var()
    return float("nan") if var == 0 else float(1.0 - (r - v).var() / var)
