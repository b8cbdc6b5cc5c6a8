"""The math of RLHF as small pure functions (notebook 07).

    r_t = −β · (log π_θ(y_t | x, y_<t) − log π_ref(y_t | x, y_<t))  +  [t = last token] · r(x, y)
                                                                       InstructGPT Eq. 2, per token
    L_V = ½ · mean_t max((V_t − R_t)², (V_old,t + clip(V_t − V_old,t, −c, c) − R_t)²)
                                                                       PPO's clipped value loss
    L_DPO = −log σ(β [(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])
                                                                       Rafailov et al. 2023, Eq. 7

The clipped surrogate and GAE over tokens are not here: they are the library's one implementation
(``course_lib.lmrl.clipped_surrogate``, ``course_lib.lmrl.token_gae``), shared with PPO on CartPole
and with GRPO.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core import check_finite_number
from ..lm.heads import last_token_index
from ..lmrl import masked_mean


def _tensor2d(name: str, x) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{name} must be a (B, T) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    return x


def kl_penalized_rewards(logp: torch.Tensor, logp_ref: torch.Tensor, score: torch.Tensor, mask: torch.Tensor,
                         beta: float) -> torch.Tensor:
    """Per-token rewards of RLHF-PPO: a KL penalty on every completion token, the score at the last one.

        r_t = −β · (logp_t − logp_ref_t)              on every real completion token (mask 1)
        r_T += score                                   at each row's last real token
        r_t = 0                                        on the prompt and on padding (mask 0)

    −β·(log π − log π_ref) is the per-token k1 estimate of −β·KL[π ‖ π_ref] (the tokens were sampled
    from π), so the sum of a row's rewards is InstructGPT's r(x, y) − β·log(π(y|x)/π_ref(y|x))
    (Eq. 2, without the pretraining term). The inputs are data, not parameters: the result carries
    no gradient.

    Args:
        logp: (B, T) log π_θ of the sampled tokens (of the policy that sampled them).
        logp_ref: (B, T) log π_ref of the same tokens under the frozen reference.
        score: (B,) the reward of each whole completion (a rule or the reward model).
        mask: (B, T) 1/True on the real completion tokens; 0 on the prompt (if the arrays include
            it) and on padding. Each row needs at least one real token; its last one gets the score.
        beta: β >= 0.

    Returns:
        (B, T) float tensor of per-token rewards.
    """
    logp, logp_ref = _tensor2d("logp", logp), _tensor2d("logp_ref", logp_ref)
    if logp_ref.shape != logp.shape:
        raise ValueError(f"logp_ref must have the shape of logp {tuple(logp.shape)}, got {tuple(logp_ref.shape)}")
    if not isinstance(mask, torch.Tensor) or mask.shape != logp.shape:
        raise ValueError(f"mask must be a tensor of the shape of logp {tuple(logp.shape)}, "
                         f"got {getattr(mask, 'shape', type(mask).__name__)}")
    B = logp.shape[0]
    if not isinstance(score, torch.Tensor) or score.shape != (B,):
        raise ValueError(f"score must be a tensor of shape ({B},), one reward per completion, "
                         f"got {getattr(score, 'shape', type(score).__name__)}")
    beta = check_finite_number("beta", beta, low=0.0)
    keep = mask.bool()
    if not bool(keep.any(1).all()):
        raise ValueError("mask must mark at least one real token in every row (the one that gets the score)")
    logp, logp_ref = logp.detach(), logp_ref.detach()
    zero = torch.zeros_like(logp)
    log_ratio = torch.where(keep, logp - logp_ref, zero)  # padding may hold anything: it never enters
    rewards = -beta * log_ratio  # (B, T)
    last = last_token_index(keep).to(logp.device)  # (B,) column of each row's last real token
    rewards[torch.arange(B, device=logp.device), last] += score.detach().to(rewards.dtype)
    return rewards


def clipped_value_loss(values: torch.Tensor, values_old: torch.Tensor, returns: torch.Tensor,
                       mask: torch.Tensor, clip: float) -> torch.Tensor:
    """PPO's clipped value loss over the real tokens: ½·mean max((V − R)², (V_clipped − R)²).

    V_clipped = V_old + clip(V − V_old, −c, c) keeps the value model near the one that made the
    advantages, as the ratio clip keeps the policy near π_old; taking the max makes it pessimistic
    (a step that moves V past the clip range gets no credit for it).

    Args:
        values: (B, T) V(s_t) of the value model being trained (with gradients).
        values_old: (B, T) V(s_t) when the rollouts were made (no gradient).
        returns: (B, T) the regression targets (GAE returns = advantages + values_old).
        mask: (B, T) 1 on real completion tokens.
        clip: c > 0.

    Returns:
        A scalar tensor.
    """
    values = _tensor2d("values", values)
    for name, x in (("values_old", values_old), ("returns", returns), ("mask", mask)):
        if not isinstance(x, torch.Tensor) or x.shape != values.shape:
            raise ValueError(f"{name} must be a tensor of the shape of values {tuple(values.shape)}, "
                             f"got {getattr(x, 'shape', type(x).__name__)}")
    clip = check_finite_number("clip", clip, low=0.0, low_open=True)
    values_old, returns = values_old.detach(), returns.detach()
    v_clipped = values_old + (values - values_old).clamp(-clip, clip)
    per_token = torch.max((values - returns) ** 2, (v_clipped - returns) ** 2)
    return 0.5 * masked_mean(per_token, mask.bool())


def dpo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """The DPO loss (Rafailov et al. 2023, arXiv 2305.18290, Eq. 7), averaged over B pairs.

        L = −mean log σ(β·[(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))])

    The Bradley–Terry loss of notebook 06 with the policy's own scaled log-ratio β·log(π/π_ref) as
    the implicit reward: no reward model, no sampling.

    Args:
        logp_chosen, logp_rejected: (B,) sequence log-probabilities log π_θ(y|x) of the preferred
            and the rejected completion (with gradients).
        ref_chosen, ref_rejected: (B,) the same under the frozen reference.
        beta: β > 0, the strength of the implicit KL constraint.

    Returns:
        A scalar tensor.
    """
    for name, x in (("logp_chosen", logp_chosen), ("logp_rejected", logp_rejected), ("ref_chosen", ref_chosen),
                    ("ref_rejected", ref_rejected)):
        if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.numel() == 0:
            raise ValueError(f"{name} must be a non-empty (B,) tensor, got {getattr(x, 'shape', type(x).__name__)}")
        if x.shape != logp_chosen.shape:
            raise ValueError(f"{name} must have the shape of logp_chosen {tuple(logp_chosen.shape)}, got {tuple(x.shape)}")
    beta = check_finite_number("beta", beta, low=0.0, low_open=True)
    margin = (logp_chosen - ref_chosen.detach()) - (logp_rejected - ref_rejected.detach())
    return -F.logsigmoid(beta * margin).mean()


__all__ = ["kl_penalized_rewards", "clipped_value_loss", "dpo_loss"]
