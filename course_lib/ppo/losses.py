"""PPO's minibatch loss, composed once from the math of ``ppo.math`` (notebook 04), and the clip fraction.

    L = −mean(min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â)) + vf_coef · mean((V − R)²) − ent_coef · mean(H(π))

(Schulman et al. 2017, arXiv 1707.06347, Eq. 9, with the signs of a loss to minimise; Â the
advantages standardised over the minibatch, as SB3 and CleanRL do). ``train_ppo`` minimises
exactly this: its autograd path calls ``ppo_loss``, its default fast path (``ppo.fast.PPOGradient``)
writes the gradient of the same loss by hand, and ``tests/test_ppo.py`` checks the two agree.

The clip fraction has two definitions in the course, both taught:

* ``outside_clip_fraction`` (notebook 04, ``train_ppo``'s "clip_fraction"): the share of samples
  whose ratio lies outside [1−ε_low, 1+ε_high], whatever the advantage's sign — an upper bound on
  the share of samples whose gradient the clip stopped;
* ``clipped_fraction`` (notebooks 07–09, ``RLHFState.step`` and ``grpo_loss``'s "clip_fraction"):
  the share of (real) tokens whose gradient the clip stopped, i.e. outside the range in the
  advantage's direction (ρ > 1+ε_high with A > 0, or ρ < 1−ε_low with A < 0).
"""
from __future__ import annotations

import numpy as np
import torch

from .math import clipped_surrogate, entropy, value_loss

ADV_NORM_EPS = 1e-8  # added to the standard deviation when advantages are standardised


def standardize_advantages(adv):
    """Â = (A − mean(A)) / (std(A) + 1e-8) over the minibatch (sample std, as torch.std); a single
    advantage is returned as it is (its std is undefined). A torch tensor or a NumPy array (the
    fast path's) in, the same kind out."""
    if isinstance(adv, np.ndarray):
        if adv.size < 2:
            return adv
        return (adv - adv.mean()) / (adv.std(ddof=1) + adv.dtype.type(ADV_NORM_EPS))
    if adv.numel() < 2:
        return adv
    return (adv - adv.mean()) / (adv.std() + ADV_NORM_EPS)


def ppo_loss(logp_new, logp_old, adv, values, returns, eps: float, vf_coef: float, *, ent_coef: float = 0.0,
             logits=None, normalize_advantages: bool = True) -> tuple[torch.Tensor, dict]:
    """PPO's loss on one minibatch: clipped surrogate + vf_coef · value loss − ent_coef · entropy.

    Args:
        logp_new: (N,) log π_θ(a|s) of the minibatch's actions under the policy being trained.
        logp_old: (N,) log π_old(a|s), recorded in the rollout (a constant).
        adv: (N,) advantages from GAE (a constant); standardised here unless ``normalize_advantages``
            is False (pass them standardised then).
        values: (N,) V(s) of the value network being trained.
        returns: (N,) the value targets (GAE returns, a constant).
        eps: the clip range ε (``PPOConfig.clip_eps``, annealed by ``train_ppo`` when ``anneal_clip``).
        vf_coef: the value loss's weight (``PPOConfig.vf_coef``).
        ent_coef: the entropy bonus's weight (``PPOConfig.ent_coef``); > 0 needs ``logits``.
        logits: (N, A) the policy's logits, for the entropy bonus.
        normalize_advantages: standardise ``adv`` over the minibatch first (``PPOConfig.normalize_advantages``).

    Returns:
        (loss, stats): the scalar loss; stats holds 0-dim tensors "policy_loss" and "value_loss".
    """
    for name, x in (("logp_new", logp_new), ("logp_old", logp_old), ("adv", adv), ("values", values),
                    ("returns", returns)):
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch tensor of shape (N,), got {type(x).__name__}")
    adv = adv.detach()
    if normalize_advantages:
        adv = standardize_advantages(adv)
    ratio = torch.exp(logp_new - logp_old.detach())  # ρ = π_θ(a|s) / π_old(a|s)
    policy_loss = clipped_surrogate(ratio, adv, eps)
    v_loss = value_loss(values, returns.detach())
    loss = policy_loss + vf_coef * v_loss
    if ent_coef:
        if logits is None:
            raise ValueError("ent_coef > 0 needs the policy's logits for the entropy bonus")
        loss = loss - ent_coef * entropy(logits).mean()
    return loss, {"policy_loss": policy_loss.detach(), "value_loss": v_loss.detach()}


def outside_clip_fraction(ratio: torch.Tensor, eps_low: float, eps_high: float | None = None) -> torch.Tensor:
    """Share of samples whose ratio lies outside [1 − ε_low, 1 + ε_high], whatever the sign of the
    advantage (notebook 04's clip fraction; an upper bound on the share whose gradient was stopped)."""
    eps_high = eps_low if eps_high is None else eps_high
    d = ratio - 1
    if eps_high == eps_low:
        return (d.abs() > eps_low).float().mean()
    return ((d > eps_high) | (-d > eps_low)).float().mean()


def clipped_fraction(ratio: torch.Tensor, adv: torch.Tensor, eps_low: float, eps_high: float | None = None,
                     mask: torch.Tensor | None = None) -> torch.Tensor:
    """Share of the (real, ``mask`` 1) tokens whose gradient the clip stopped: ρ > 1 + ε_high with
    A > 0, or ρ < 1 − ε_low with A < 0 (notebooks 07–09's clip fraction). ``adv`` broadcasts to ``ratio``."""
    eps_high = eps_low if eps_high is None else eps_high
    clipped = ((ratio > 1.0 + eps_high) & (adv > 0)) | ((ratio < 1.0 - eps_low) & (adv < 0))
    keep = torch.ones_like(clipped) if mask is None else mask.bool()
    return (clipped & keep).sum().to(ratio.dtype) / keep.sum().to(ratio.dtype).clamp_min(1.0)


__all__ = ["ppo_loss", "standardize_advantages", "outside_clip_fraction", "clipped_fraction", "ADV_NORM_EPS"]
