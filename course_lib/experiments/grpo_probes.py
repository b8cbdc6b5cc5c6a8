"""Small measurements of notebook 08 on one sampled batch: what the completion mask and the clip do.

Each takes a ``RolloutBatch`` (``course_lib.lmrl.sample_rollouts``) and its advantages, trains or
differentiates a **copy** of the given model, and returns numbers the notebook prints and plots.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch

from ..grpo.config import GRPOConfig
from ..grpo.losses import grpo_loss
from ..lm.generate import token_logprobs
from ..lmrl import RolloutBatch, kl_k3


def _flat_grad(model) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def padding_sensitivity(model, batch: RolloutBatch, adv: torch.Tensor,
                        extra_columns: Sequence[int] = (0, 2, 6)) -> list[dict]:
    """Loss and gradient of the same batch stored with more padding columns, with and without the mask.

    The simplified GRPO averages ``logp · A`` over every position of the (B, T) array, so the
    log-probabilities of padding enter its loss; GRPO's loss counts real tokens only. GRPOConfig's
    defaults (β = 0, μ = 1: on-policy, so the clipped ratio is 1 in value but not in gradient).

    Returns:
        One dict per (masked, extra): "masked", "extra", "loss", "grad_change" (relative change
        of the gradient against the batch as sampled, extra = 0).
    """
    cfg0 = GRPOConfig()
    P, pad_id = batch.prompt_len, batch.pad_id

    def loss_and_grad(extra: int, masked: bool):
        m = copy.deepcopy(model)
        B = batch.tokens.shape[0]
        pad = torch.full((B, extra), pad_id, dtype=batch.tokens.dtype, device=batch.tokens.device)
        tokens = torch.cat([batch.tokens, pad], 1)
        comp_mask = torch.cat([batch.mask, torch.zeros(B, extra, dtype=torch.bool, device=batch.mask.device)], 1)
        every_position = torch.zeros_like(tokens, dtype=torch.bool)
        every_position[:, P:] = True
        logp = token_logprobs(m, tokens, every_position, tokens != pad_id, batch.temperature)[:, P:]
        if masked:
            loss, _ = grpo_loss(logp, None, None, adv, comp_mask.float(), cfg0)
        else:  # the simplified GRPO: mean over every position of the (B, T) array
            loss = -(logp * adv[:, None]).mean()
        loss.backward()
        return float(loss.detach()), _flat_grad(m)

    rows = []
    for masked in (False, True):
        _, g0 = loss_and_grad(0, masked)
        for extra in extra_columns:
            loss, g = loss_and_grad(extra, masked)
            rows.append({"masked": masked, "extra": extra, "loss": loss,
                         "grad_change": float((g - g0).norm() / g0.norm())})
    return rows


def reuse_batch(model, batch: RolloutBatch, adv: torch.Tensor, cfg: GRPOConfig):
    """Train a copy of ``model`` for ``cfg.n_epochs`` updates on one batch, as GRPO does with μ > 1.

    Before each update it records the k3 divergence of the policy from the one that sampled the
    batch (mean per real token), the largest ratio and the clip fraction.

    Returns:
        (trained copy, {"kl", "ratio_max", "clip_fraction"}: one value per update).
    """
    m = copy.deepcopy(model)
    opt = torch.optim.Adam(m.parameters(), lr=cfg.lr)
    cm = batch.mask.float()
    rec = {"kl": [], "ratio_max": [], "clip_fraction": []}
    for _ in range(cfg.n_epochs):
        logp = batch.token_logprobs(m)
        loss, stats = grpo_loss(logp, batch.logprobs, None, adv, cm, cfg)
        rec["kl"].append(float((kl_k3(logp.detach(), batch.logprobs, batch.mask)).sum() / cm.sum()))
        rec["ratio_max"].append(stats["ratio_max"])
        rec["clip_fraction"].append(stats["clip_fraction"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), cfg.max_grad_norm)
        opt.step()
    return m, rec
