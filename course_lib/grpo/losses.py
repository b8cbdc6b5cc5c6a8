"""The math of GRPO as small pure functions (notebook 08 derives each one).

GRPO (DeepSeekMath, Shao et al. 2024, arXiv 2402.03300, Eq. 3) maximises, for G completions o_i
of one prompt q,

    J = E[ 1/G Σ_i 1/|o_i| Σ_t { min(ρ_{i,t} Â_i, clip(ρ_{i,t}, 1−ε, 1+ε) Â_i) − β D_KL[π_θ || π_ref] } ]

with ρ_{i,t} = π_θ(o_{i,t} | q, o_{i,<t}) / π_old(o_{i,t} | q, o_{i,<t}), the group-relative advantage
Â_i = (r_i − mean(r)) / std(r) over the G rewards of the same prompt (no critic: the group mean is
the baseline), and the KL estimated per token with k3 (Eq. 4). Dr. GRPO (arXiv 2503.20783) drops
the division by std and the 1/|o_i|; DAPO (arXiv 2503.14476) averages over all tokens of the
batch and clips the ratio asymmetrically (ε_low, ε_high).

Shapes: B completions (B = number of prompts · G, the G completions of a prompt consecutive),
T completion tokens (right-padded; ``mask`` is 1 on real tokens, 0 on padding).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ..core import check_finite_array, check_finite_number
from ..lmrl.objectives import aggregate_token_loss, clipped_objective, kl_k3
from ..ppo.losses import clipped_fraction
from .config import LOSS_AGGREGATIONS, GRPOConfig

__all__ = ["ADV_EPS", "group_advantages", "zero_variance_groups", "grpo_loss", "kl_k3", "aggregate_token_loss"]

ADV_EPS = 1e-4  # added to the group std, as TRL's GRPOTrainer does: an all-equal group gives 0, not 0/0


def _as_float_tensor(name: str, x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.float()
    try:
        return torch.as_tensor(x, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a tensor or a list of numbers, got {type(x).__name__}") from None


def _check_group_size(group_size: Any, n: int) -> int:
    group_size = check_finite_number("group_size", group_size, low=2, integer=True)  # NumPy integers too, as GRPOConfig
    if n % group_size != 0:
        raise ValueError(f"the batch of {n} rewards is not divisible by group_size={group_size}: a batch "
                         f"holds G={group_size} consecutive completions for each prompt")
    return group_size


def group_advantages(rewards: Any, group_size: int, scale: str = "group", eps: float = ADV_EPS) -> torch.Tensor:
    """Group-relative advantages Â_i = (r_i − mean_group(r)) / (std_group(r) + eps).

    Each completion is compared only with the other completions of its own prompt (DeepSeekMath
    §4.1.2, outcome supervision): the group mean is the baseline a critic would otherwise learn.

    Args:
        rewards: (B,) rewards, the G completions of each prompt consecutive (B = n_prompts · G).
        group_size: G.
        scale: "group" divides by the group's standard deviation (DeepSeekMath; the std with
            Bessel's correction, as ``torch.std`` and TRL compute it); "none" only subtracts the
            mean (Dr. GRPO: dividing by std up-weights questions that are too easy or too hard).
        eps: added to the std, so a group whose rewards are all equal gets advantages of 0.

    Returns:
        (B,) float tensor; zero mean within every group; all zeros for a zero-variance group.
    """
    r = _as_float_tensor("rewards", rewards)
    if r.dim() != 1 or r.numel() == 0:
        raise ValueError(f"rewards must be a non-empty 1-D sequence (one reward per completion), "
                         f"got shape {tuple(r.shape)}")
    G = _check_group_size(group_size, r.numel())
    if scale not in ("group", "none"):
        raise ValueError(f"scale must be 'group' or 'none', got {scale!r}")
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"eps must be a number > 0, got {eps!r}")
    if not bool(torch.isfinite(r).all()):
        raise ValueError("rewards must be finite numbers (found NaN or inf)")
    out, fits = _centred(r.view(-1, G), scale, eps)  # (n_prompts, G)
    if not fits:
        # finite rewards whose mean or std overflows float32 (|r| above ~1e19 squares past 3e38): the
        # same in float64, where it fits, then back (the advantages themselves are at most √G in size)
        out, _ = _centred(r.view(-1, G).double(), scale, eps)
        out = out.to(r.dtype)
    return out.reshape(-1)


def _centred(groups: torch.Tensor, scale: str, eps: float) -> tuple[torch.Tensor, bool]:
    """(the centred (and scaled) groups, whether every intermediate stayed finite)."""
    mean = groups.mean(dim=1, keepdim=True)
    centred = groups - mean
    fits = bool(torch.isfinite(mean).all() & torch.isfinite(centred).all())
    if scale == "group":
        std = groups.std(dim=1, keepdim=True)
        fits = fits and bool(torch.isfinite(std).all())
        centred = centred / (std + eps)
    return centred, fits


def zero_variance_groups(rewards: Any, group_size: int) -> torch.Tensor:
    """(n_prompts,) bool: True for a group whose G rewards are all equal (it gives no gradient).

    DAPO's dynamic sampling drops such groups; their share is logged during training.
    """
    r = _as_float_tensor("rewards", rewards)
    if r.dim() != 1 or r.numel() == 0:
        raise ValueError(f"rewards must be a non-empty 1-D sequence, got shape {tuple(r.shape)}")
    G = _check_group_size(group_size, r.numel())
    groups = r.view(-1, G)
    return (groups == groups[:, :1]).all(dim=1)


def grpo_loss(logp: torch.Tensor, logp_old: torch.Tensor | None, logp_ref: torch.Tensor | None,
              adv: torch.Tensor, mask: torch.Tensor, cfg: GRPOConfig | None = None, *, eps_low: float = 0.2,
              eps_high: float | None = None, beta: float = 0.0, aggregation: str = "grpo",
              max_completion_length: int | None = None,
              whole_batch: tuple[int, int] | None = None) -> tuple[torch.Tensor, dict]:
    """The GRPO loss (the negative of DeepSeekMath's J) for one batch, and its statistics.

    Per token: −[ min(ρ Â, clip(ρ, 1−ε_low, 1+ε_high) Â) − β · k3 ], with ρ = exp(logp − logp_old),
    then reduced by the aggregation. A composition of the shared pieces: ``clipped_objective``
    (PPO's clip), ``kl_k3`` and ``aggregate_token_loss`` (``course_lib.lmrl``).

    Args:
        logp: (B, T) log π_θ of the sampled completion tokens, with gradients.
        logp_old: (B, T) log π_old of the same tokens (the policy that sampled them; no gradient).
            None means on-policy (μ = 1): π_old = π_θ, so ρ = 1 in value but its gradient remains.
        logp_ref: (B, T) log π_ref (the frozen reference model), or None when beta == 0 (given
            with beta == 0, the KL is measured but not penalised).
        adv: (B,) one advantage per completion (``group_advantages``), shared by its tokens.
        mask: (B, T) 1 on real completion tokens, 0 on padding.
        cfg: optionally a GRPOConfig, whose eps_low, eps_high, beta, loss_aggregation and
            max_completion_length replace the keyword arguments.
        eps_low, eps_high: the clip range (eps_high None: eps_low).
        beta: the weight of the k3 KL to the reference.
        aggregation: "grpo" (per sequence, DeepSeekMath), "dr_grpo" (constant normaliser) or
            "dapo" (per token); see ``aggregate_token_loss``.
        max_completion_length: the constant of "dr_grpo".
        whole_batch: (completions, real tokens) of the whole batch when these B rows are only
            part of it and every row left out has advantage 0 and no KL term (β = 0). Such rows
            add exactly 0 to the sum of token losses, so the loss and its gradient are the whole
            batch's once the sum is divided by the whole batch's normaliser (B for "grpo", the
            token count for "dapo", B · max_completion_length for "dr_grpo"); the clip fraction
            is counted over the whole batch's tokens too (a row with Â = 0 is never clipped).
            None: these rows are the whole batch.

    Returns:
        (loss, stats): the scalar loss to minimise; stats holds floats "clip_fraction" (share of
        real tokens whose ratio is clipped, i.e. whose gradient is stopped), "kl" (mean k3 per
        real token; 0.0 without logp_ref), "entropy_proxy" (−mean logp per real token),
        "ratio_mean" and "ratio_max".
    """
    if cfg is not None:
        if not isinstance(cfg, GRPOConfig):
            raise ValueError(f"cfg must be a GRPOConfig or None, got {type(cfg).__name__}")
        eps_low, eps_high, beta = cfg.eps_low, cfg.eps_high, cfg.beta
        aggregation, max_completion_length = cfg.loss_aggregation, cfg.max_completion_length
    eps_high = eps_low if eps_high is None else eps_high
    for name, v in (("eps_low", eps_low), ("eps_high", eps_high), ("beta", beta)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if aggregation not in LOSS_AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {LOSS_AGGREGATIONS}, got {aggregation!r}")
    if not isinstance(logp, torch.Tensor) or logp.dim() != 2:
        raise ValueError(f"logp must be a (B, T) tensor, got {getattr(logp, 'shape', type(logp).__name__)}")
    B, T = logp.shape
    if not isinstance(mask, torch.Tensor) or mask.shape != logp.shape:
        raise ValueError(f"mask must be a tensor of the shape of logp {(B, T)}, got {getattr(mask, 'shape', mask)!r}")
    if not isinstance(adv, torch.Tensor) or adv.shape != (B,):
        raise ValueError(f"adv must be a tensor of shape ({B},), one advantage per completion, "
                         f"got {getattr(adv, 'shape', adv)!r}")
    if logp_old is None:
        logp_old = logp.detach()
    elif not isinstance(logp_old, torch.Tensor) or logp_old.shape != logp.shape:
        raise ValueError(f"logp_old must have the shape of logp {(B, T)}, got {getattr(logp_old, 'shape', logp_old)!r}")
    if logp_ref is None and beta > 0:
        raise ValueError(f"logp_ref is needed when beta > 0 (beta={beta})")
    if logp_ref is not None and (not isinstance(logp_ref, torch.Tensor) or logp_ref.shape != logp.shape):
        raise ValueError(f"logp_ref must have the shape of logp {(B, T)}, got {getattr(logp_ref, 'shape', logp_ref)!r}")

    keep = mask.bool()
    # the one rule (core.check_finite_array): real tokens finite, padding anything
    for name, x in (("logp", logp), ("logp_old", logp_old), ("logp_ref", logp_ref)):
        if x is not None:
            check_finite_array(name, x, mask=keep, nonempty=False)
    check_finite_array("adv", adv, nonempty=False)
    m = keep.to(logp.dtype)
    zero = torch.zeros_like(logp)
    # Padding may hold anything: replace it before any exp so it reaches neither value nor gradient.
    logp = torch.where(keep, logp, zero)
    logp_old = torch.where(keep, logp_old.detach(), zero)
    A = adv.detach().to(logp.dtype)[:, None]  # (B, 1): one advantage for all tokens of a completion

    ratio = torch.exp(logp - logp_old)  # (B, T) ρ = π_θ / π_old
    per_token = -clipped_objective(ratio, A, eps_low, eps_high)  # pessimistic bound: clipping stops the gradient
    kl = None
    if logp_ref is not None:
        kl = kl_k3(logp, logp_ref.detach(), keep)
        if beta > 0:
            per_token = per_token + beta * kl
    loss = aggregate_token_loss(per_token, keep, aggregation, max_completion_length)
    token_share = 1.0  # these rows' share of the whole batch's real tokens
    if whole_batch is not None:
        if beta > 0:
            raise ValueError(f"whole_batch needs beta == 0: a row left out still has its KL term (beta={beta})")
        if (not isinstance(whole_batch, tuple) or len(whole_batch) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in whole_batch)
                or whole_batch[0] < B or whole_batch[1] < int(keep.sum())):
            raise ValueError(f"whole_batch must be (completions, real tokens) of a batch holding these {B} rows and "
                             f"{int(keep.sum())} tokens, got {whole_batch!r}")
        token_share = int(keep.sum()) / max(whole_batch[1], 1)
        # the same sum of token losses over the whole batch's normaliser instead of these rows'
        loss = loss * (token_share if aggregation == "dapo" else B / whole_batch[0])

    with torch.no_grad():
        n_tokens = m.sum().clamp_min(1.0)
        stats = {
            "clip_fraction": float(clipped_fraction(ratio, A, eps_low, eps_high, mask=keep)) * token_share,
            "kl": float((kl * m).sum() / n_tokens) if kl is not None else 0.0,
            "entropy_proxy": float(-(logp * m).sum() / n_tokens),
            "ratio_mean": float((ratio * m).sum() / n_tokens),
            "ratio_max": float(torch.where(keep, ratio, torch.ones_like(ratio)).max()) if keep.any() else 1.0,
        }
    return loss, stats
