"""The math of PPO as small pure functions (notebook 04).

    ρ_t      = π_θ(a_t|s_t) / π_old(a_t|s_t)                      the probability ratio
    L^CLIP   = E_t[ min(ρ_t A_t, clip(ρ_t, 1−ε, 1+ε) A_t) ]          Schulman et al. 2017, Eq. 7
    δ_t      = r_t + γ V(s_{t+1}) (1 − terminated_t) − V(s_t)       the TD error
    A_t      = δ_t + γλ (1 − done_t) A_{t+1}                         GAE, Schulman et al. 2015, Eq. 16

No hidden state: arrays or tensors in, arrays or tensors out. ``ppo.losses.ppo_loss`` composes
PPO's minibatch loss from them; ``train_ppo`` calls ``gae``, ``approx_kl``, ``entropy`` and
``explained_variance`` directly, and minimises ``ppo_loss`` (by default through its hand-derived
gradient, ``ppo.fast.PPOGradient``, tested equal to autograd of ``ppo_loss``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..core import check_finite_array, check_probability


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
    for name, arr in (("rewards", r), ("values", v), ("next_values", nv)):  # every step is real: all finite
        check_finite_array(name, arr, dtype=None, nonempty=False)

    not_terminal = 1.0 - term  # bootstrap unless the episode really ended
    not_done = 1.0 - (term | trunc)  # the recursion continues only inside an episode
    delta = r + gamma * nv * not_terminal - v  # every step's TD error at once
    decay = gamma * lam * not_done  # γλ inside an episode, 0 at its end
    adv = np.zeros_like(r)
    next_adv = np.zeros_like(r[0])  # A_{t+1}; zero beyond the last step
    for t in reversed(range(len(r))):  # the recursion, backwards in time
        adv[t] = next_adv = delta[t] + decay[t] * next_adv
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


TOKEN_AGGREGATIONS = ("mean", "seq_mean", "token_mean", "constant")
# the papers' names for the same reductions (GRPOConfig.loss_aggregation uses them)
AGGREGATION_ALIASES = {"grpo": "seq_mean", "dapo": "token_mean", "dr_grpo": "constant"}


def aggregate_token_loss(per_token_loss: torch.Tensor, mask: torch.Tensor, aggregation: str = "token_mean",
                         max_len: int | None = None) -> torch.Tensor:
    """Reduce a (B, T) per-token loss over the real tokens (mask 1) to a scalar.

    * "seq_mean": mean over each sequence's own tokens (1/|o_i|), then over the B sequences:
      every sequence weighs the same, so a token of a long sequence weighs less (DeepSeekMath
      Eq. 3, GRPO).
    * "token_mean": sum over all real tokens / their number: every token of the batch weighs the
      same (DAPO's token-level loss; PPO's mean over samples).
    * "constant": sum over all real tokens / (B · max_len), a constant normaliser, so length does
      not rescale the gradient (Dr. GRPO, arXiv 2503.20783).
    * "mean": the plain mean over every entry, mask ignored (``mask`` may be None): PPO on
      CartPole, where every sample is real.

    Padding never counts (except with "mean"), whatever values it holds.

    Args:
        per_token_loss: (B, T).
        mask: (B, T) 1/True on real tokens.
        aggregation: one of ``TOKEN_AGGREGATIONS``, or a paper's name for one of them: "grpo"
            (seq_mean), "dapo" (token_mean), "dr_grpo" (constant).
        max_len: T_max for "constant" (the longest completion allowed).
    """
    if aggregation not in TOKEN_AGGREGATIONS and aggregation not in AGGREGATION_ALIASES:
        raise ValueError(f"aggregation must be one of {TOKEN_AGGREGATIONS + tuple(AGGREGATION_ALIASES)}, "
                         f"got {aggregation!r}")
    aggregation = AGGREGATION_ALIASES.get(aggregation, aggregation)
    if aggregation == "mean":
        return per_token_loss.mean()
    if not isinstance(mask, torch.Tensor) or mask.shape != per_token_loss.shape:
        raise ValueError(f"mask must be a tensor of the loss's shape {tuple(per_token_loss.shape)}, "
                         f"got {getattr(mask, 'shape', type(mask).__name__)}")
    if per_token_loss.dim() != 2:
        raise ValueError(f"per_token_loss must have shape (B, T), got {tuple(per_token_loss.shape)}")
    m = mask.to(per_token_loss.dtype)
    total_per_seq = (per_token_loss * m).sum(dim=1)  # (B,)
    if aggregation == "seq_mean":
        return (total_per_seq / m.sum(dim=1).clamp_min(1.0)).mean()
    if aggregation == "constant":
        if max_len is None:
            raise ValueError("max_len is needed for the 'constant' aggregation (Dr. GRPO's normaliser)")
        if per_token_loss.shape[1] > max_len:
            raise ValueError(f"the loss has {per_token_loss.shape[1]} token columns, more than max_len={max_len}")
        return total_per_seq.sum() / (per_token_loss.shape[0] * max_len)
    return total_per_seq.sum() / m.sum().clamp_min(1.0)


def _check_eps(name: str, eps) -> float:
    if not isinstance(eps, (int, float, np.floating, np.integer)) or isinstance(eps, bool) or not eps >= 0 \
            or not np.isfinite(eps):
        raise ValueError(f"{name} must be a finite non-negative number, got {eps!r}")
    return float(eps)


def clipped_objective(ratio: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float) -> torch.Tensor:
    """Elementwise min(ρ·A, clip(ρ, 1−ε_low, 1+ε_high)·A): the term PPO maximises (no reduction).

    ``adv`` broadcasts against ``ratio`` (one advantage per completion, shape (B, 1), against
    per-token ratios (B, T)). ε_low = ε_high is PPO's symmetric clip; DAPO's clip-higher raises
    ε_high only.
    """
    clipped_ratio = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    return torch.min(ratio * adv, clipped_ratio * adv)


def clipped_surrogate(ratio, adv, eps: float, *, eps_high: float | None = None, mask=None,
                      aggregation: str = "mean", max_len: int | None = None) -> torch.Tensor:
    """PPO's clipped surrogate, as a loss to minimise: −aggregate(min(ρ·A, clip(ρ, 1−ε, 1+ε)·A)).

    The min takes the pessimistic term: once ρ has moved past 1+ε (for A > 0) or below 1−ε
    (for A < 0), the clipped term is the smaller one and is constant in ρ, so its gradient is
    zero and the update stops pushing that sample further.

    The one implementation of the clip, for CartPole (notebook 04: every sample real, plain mean)
    and for language models (notebooks 07–09: per-token ratios, a completion mask, and the
    aggregation of ``aggregate_token_loss``).

    Args:
        ratio: ρ = π_θ(a|s) / π_old(a|s), any shape (a tensor to get gradients).
        adv: advantages A, the shape of ``ratio`` or broadcastable to it.
        eps: the clip range ε ≥ 0 (usually 0.1 to 0.3; a linear schedule ends at 0); with
            ``eps_high`` it is the lower range ε_low.
        eps_high: the upper range (DAPO's clip-higher, 0.28); None means ``eps``.
        mask: (B, T) 1 on real tokens, for the token aggregations. Real entries of ``ratio`` and
            ``adv`` must be finite (a ValueError otherwise); padding may hold anything, NaN and
            ±inf included: it reaches neither the loss nor the gradient with respect to ``ratio``.
        aggregation: "mean" (default, every entry) or a token aggregation of ``aggregate_token_loss``.
        max_len: the constant normaliser of the "constant" aggregation.

    Returns:
        A scalar tensor.
    """
    eps_low = _check_eps("eps", eps)
    eps_high = eps_low if eps_high is None else _check_eps("eps_high", eps_high)
    ratio = _as_tensor("ratio", ratio)
    adv = _as_tensor("adv", adv).to(ratio.dtype)
    if aggregation == "mean" and mask is None:
        if ratio.shape != adv.shape:
            raise ValueError(f"ratio and adv must have the same shape, got {tuple(ratio.shape)} and {tuple(adv.shape)}")
    else:
        try:
            torch.broadcast_shapes(ratio.shape, adv.shape)
        except RuntimeError:
            raise ValueError(f"adv must broadcast to ratio's shape {tuple(ratio.shape)}, got {tuple(adv.shape)}") from None
    if mask is not None and isinstance(mask, torch.Tensor) and mask.shape == ratio.shape:
        keep = mask.bool()
        check_finite_array("ratio", ratio, mask=keep)
        check_finite_array("adv", adv, mask=keep if adv.shape == ratio.shape else None)
        ratio = torch.where(keep, ratio, torch.ones_like(ratio))  # padding: ρ = 1, A = 0, whatever it held
        if adv.shape == ratio.shape:
            adv = torch.where(keep, adv, torch.zeros_like(adv))
    else:
        check_finite_array("ratio", ratio)
        check_finite_array("adv", adv)
    return aggregate_token_loss(-clipped_objective(ratio, adv, eps_low, eps_high), mask, aggregation, max_len)


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
    return k3(logp - logp_old).mean()


def k3(log_ratio: torch.Tensor) -> torch.Tensor:
    """The k3 estimator of a KL divergence from log r (Schulman 2020), elementwise: r − 1 − log r.

    For samples x ~ q and log r = log p(x)/q(x), its mean estimates KL(q ‖ p) without bias, and
    every term is ≥ 0 (unlike k1 = −log r). Written with expm1 so it stays accurate for small
    log r. ``approx_kl`` (PPO) and ``course_lib.lmrl.kl_k3`` (GRPO, RLHF) use it.
    """
    return torch.expm1(log_ratio) - log_ratio


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
