"""The token-level view: what one GRPO or RLHF update pushes on, for each token of a batch.

For every completion token: its advantage Â (GRPO: its completion's group advantage; RLHF: the
token's GAE advantage), the k3 estimate of its KL to the reference (notebook 08 §2.3; the penalty
is β times it), whether its ratio π/π_old was clipped in the direction of its advantage (the
gradient is stopped there, notebook 08 §2.4), and its probability under the policy and the
reference. ``course_lib.plotting.diagnose.token_view_figure`` draws it.
"""
from __future__ import annotations

import numpy as np
import torch

from ..grpo import group_advantages
from ..lmrl import RolloutBatch, kl_k3


def token_view(batch: RolloutBatch, policy, ref_model, tokenizer, adv: torch.Tensor | None = None, *,
               eps_low: float = 0.2, eps_high: float | None = None, beta: float = 1.0, rows=8) -> dict:
    """The per-token quantities of the first ``rows`` completions of ``batch``.

    Args:
        batch: a ``RolloutBatch`` sampled by π_old (its ``logprobs`` are log π_old).
        policy: π_θ, e.g. the policy after one or more updates on the batch (π_old itself gives ratio 1).
        ref_model: the frozen reference π_ref.
        tokenizer: decodes each token for display.
        adv: (B,) one advantage per completion or (B, N) per token (default: ``group_advantages``
            of the batch's rewards).
        eps_low, eps_high: the clip range (eps_high None: eps_low).
        beta: the KL weight; the "kl" row is β·k3 (β = 1: the k3 estimate itself).
        rows: how many completions (the first ``rows``), or a list of row indices (e.g. those whose
            advantage is not zero).

    Returns:
        dict with "prompts", "texts", "tokens" (list of lists of str), and (rows, N) float arrays
        "adv", "kl", "clipped" (0/1), "p_policy", "p_ref", "ratio", with NaN on padding, and "mask".
    """
    if not isinstance(batch, RolloutBatch):
        raise ValueError(f"batch must be a RolloutBatch (lmrl.sample_rollouts), got {type(batch).__name__}")
    eps_high = eps_low if eps_high is None else eps_high
    with torch.no_grad():
        logp = batch.token_logprobs(policy)
        logp_ref = batch.token_logprobs(ref_model)
    keep = batch.mask.bool()
    if adv is None:
        adv = group_advantages(batch.rewards, batch.group_size)
    adv = torch.as_tensor(adv, dtype=logp.dtype)
    A = adv[:, None].expand_as(logp) if adv.dim() == 1 else adv
    if A.shape != logp.shape:
        raise ValueError(f"adv must have shape ({len(batch)},) or {tuple(logp.shape)}, got {tuple(adv.shape)}")
    ratio = torch.exp(torch.where(keep, logp - batch.logprobs, torch.zeros_like(logp)))
    clipped = ((ratio > 1 + eps_high) & (A > 0)) | ((ratio < 1 - eps_low) & (A < 0))  # as grpo_loss counts it
    kl = beta * kl_k3(logp, logp_ref, keep)
    if isinstance(rows, (int, np.integer)) and not isinstance(rows, bool):
        idx = list(range(min(int(rows), len(batch))))
    else:
        idx = [int(i) for i in rows]
        if not idx or any(i < 0 or i >= len(batch) for i in idx):
            raise ValueError(f"rows must be a count or row indices in [0, {len(batch)}), got {rows!r}")
    sel = torch.tensor(idx, dtype=torch.long)
    m = keep[sel].numpy()
    nan = lambda x: np.where(m, x[sel].float().numpy(), np.nan)  # noqa: E731
    tokens = []
    for r in idx:
        ids = batch.completions[r][keep[r]].tolist()
        tokens.append([tokenizer.decode([i], skip_special=False).replace("<eos>", "⏎") for i in ids])
    return {"prompts": [batch.prompts[i] for i in idx], "texts": [batch.texts[i] for i in idx], "tokens": tokens,
            "adv": nan(A), "kl": nan(kl), "clipped": nan(clipped.float()), "p_policy": nan(logp.exp()),
            "p_ref": nan(logp_ref.exp()), "ratio": nan(ratio), "mask": m, "rows": idx}
