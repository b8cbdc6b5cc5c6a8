"""Masked objectives for RL on a language model, as small pure functions (notebooks 07–09).

Every LM trainer of the course (GRPO, RLHF-PPO, DPO, the pitfalls notebook) works on the same
arrays: B sampled completions, T completion tokens right-padded, a completion ``mask`` (1 on real
tokens, 0 on padding). The math is shared:

* the clipped surrogate is ``course_lib.ppo.clipped_surrogate`` (one implementation, with ε_low /
  ε_high, a mask and an aggregation), its elementwise term ``clipped_objective`` and the masked
  reductions ``aggregate_token_loss``, re-exported here;
* ``kl_k3``: the per-token k3 estimate of KL[π_θ ‖ π_ref], zero on padding whatever it holds;
* ``masked_mean`` and ``masked_whiten`` (advantage whitening over real tokens only);
* ``token_gae``: GAE over tokens, ``course_lib.ppo.gae`` applied to (B, T) sequences whose
  episode ends at each completion's last real token.

Shapes: (B, T) for per-token arrays, (B,) for per-completion ones.
"""
from __future__ import annotations

import torch

from ..core import check_finite_array
from ..ppo.math import aggregate_token_loss, clipped_objective, clipped_surrogate, gae, k3

__all__ = ["aggregate_token_loss", "clipped_objective", "clipped_surrogate", "kl_k3", "masked_mean",
           "masked_whiten", "token_gae"]


def _check_mask(name: str, mask, shape) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name} must be a tensor of shape {tuple(shape)}, got "
                         f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}")
    return mask.bool()


def kl_k3(logp: torch.Tensor, logp_ref: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token k3 estimate of KL[π_θ || π_ref] (Schulman 2020; DeepSeekMath Eq. 4).

        D_KL ≈ π_ref/π_θ − log(π_ref/π_θ) − 1,   computed from log r = logp_ref − logp.

    With tokens sampled from π_θ it is unbiased and, unlike k1 = −log r, never negative.

    Args:
        logp: (...) log π_θ of the sampled tokens.
        logp_ref: (...) log π_ref of the same tokens (same shape).
        mask: optional (...) 1 on real tokens; padding gets 0 whatever its log-probs hold
            (even NaN or ±inf), in the value and the gradient. Real tokens must have finite
            log-probs (a ValueError otherwise).

    Returns:
        (...) the per-token estimate, >= 0.
    """
    if not isinstance(logp, torch.Tensor) or not isinstance(logp_ref, torch.Tensor):
        raise ValueError("logp and logp_ref must be tensors")
    if logp.shape != logp_ref.shape:
        raise ValueError(f"logp_ref must have the shape of logp {tuple(logp.shape)}, got {tuple(logp_ref.shape)}")
    keep = None if mask is None else _check_mask("mask", mask, logp.shape)
    check_finite_array("logp", logp, mask=keep, nonempty=False)
    check_finite_array("logp_ref", logp_ref, mask=keep, nonempty=False)
    if keep is not None:
        # padding may hold anything (even -inf): replace it before the exp, so neither the value
        # nor the gradient can see it
        logp = torch.where(keep, logp, torch.zeros_like(logp))
        logp_ref = torch.where(keep, logp_ref, torch.zeros_like(logp_ref))
    kl = k3(logp_ref - logp)  # log(π_ref / π_θ) per token
    kl = kl.clamp_min(0.0)  # the exact value is >= 0; this only removes rounding below zero
    if mask is not None:
        kl = kl * keep.to(kl.dtype)
    return kl


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (all of them, or along ``dim``).

    Padding never reaches the result, even when it holds NaN or inf.
    """
    keep = _check_mask("mask", mask, x.shape)
    xs = torch.where(keep, x, torch.zeros_like(x))
    m = keep.to(x.dtype)
    if dim is None:
        return xs.sum() / m.sum().clamp_min(1.0)
    return xs.sum(dim) / m.sum(dim).clamp_min(1.0)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """(x − mean) / std over the real entries (PPO's advantage whitening); padding is set to 0.

    The statistics come from real tokens only, so the amount of padding in a batch does not
    change the advantages. ``shift_mean=False`` only rescales.
    """
    keep = _check_mask("mask", mask, x.shape)
    if not bool(keep.any()):
        raise ValueError("mask must select at least one entry to whiten over")
    mean = masked_mean(x, keep)
    var = masked_mean((x - mean) ** 2, keep)
    out = (x - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mean
    return torch.where(keep, out, torch.zeros_like(out))


def token_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
              lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over the tokens of B completions: ``course_lib.ppo.gae`` on token sequences.

    A completion is one episode: token t is an action in state (prompt, tokens < t), its reward
    is ``rewards[:, t]`` (in RLHF the per-token KL penalty, plus the sequence's reward at its last
    real token), and the episode **terminates** after the last real token, so nothing bootstraps
    past it and padding gets no advantage. LLM RL uses γ = 1 (InstructGPT, arXiv 2203.02155, App. C.4).

    Args:
        rewards: (B, T) per-token rewards; padding entries are ignored.
        values: (B, T) V(s_t), the value model's estimate before each completion token.
        mask: (B, T) 1 on real completion tokens (a prefix of each row: right padding).
        gamma, lam: γ and λ in [0, 1].

    Returns:
        (advantages, returns), both (B, T), zero on padding; returns = advantages + values, the
        value model's regression target.
    """
    if not isinstance(rewards, torch.Tensor) or rewards.dim() != 2:
        raise ValueError(f"rewards must be a (B, T) tensor, got {getattr(rewards, 'shape', type(rewards).__name__)}")
    if not isinstance(values, torch.Tensor) or values.shape != rewards.shape:
        raise ValueError(f"values must be a tensor of the shape of rewards {tuple(rewards.shape)}, "
                         f"got {getattr(values, 'shape', type(values).__name__)}")
    keep = _check_mask("mask", mask, rewards.shape)
    if bool((keep[:, 1:] & ~keep[:, :-1]).any()):
        raise ValueError("mask must mark a prefix of each row (completions are right-padded)")
    zero = torch.zeros_like(rewards)
    r = torch.where(keep, rewards, zero)
    v = torch.where(keep, values.detach(), zero)
    next_v = torch.cat([v[:, 1:], torch.zeros_like(v[:, :1])], dim=1)  # V(s_{t+1}); 0 after the end
    last = keep & ~torch.cat([keep[:, 1:], torch.zeros_like(keep[:, :1])], dim=1)  # last real token
    ended = last | ~keep  # the episode has terminated here (padding is past the end)
    # ppo.gae wants time first: (T, B)
    adv, _ = gae(r.T, v.T, next_v.T, ended.T, torch.zeros_like(ended.T), gamma, lam)
    adv = torch.where(keep, adv.T.to(rewards.dtype), zero)
    return adv, torch.where(keep, adv + v, zero)
