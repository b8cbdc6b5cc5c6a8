"""The Bradley–Terry loss of the reward model, and the pair accuracy it is measured by (notebook 06).

The Bradley–Terry model says a preferred answer y_w beats a rejected one y_l with probability
σ(r(x, y_w) − r(x, y_l)), where r is a scalar score. Fitting r to the annotators' comparisons by
maximum likelihood is minimising

    L_RM = −E[ log σ(r(x, y_w) − r(x, y_l)) ]                      (InstructGPT, arXiv 2203.02155, Eq. 1)

``bradley_terry_loss`` is that line.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """L = −mean log σ(r_chosen − r_rejected): the negative log-likelihood of the labels under Bradley–Terry.

    ``logsigmoid`` computes log σ(m) = −log(1 + e^(−m)) without forming σ(m) first, so a large
    negative margin gives a large finite loss instead of log(0) = −inf.

    Args:
        r_chosen: (B,) scores of the preferred answers.
        r_rejected: (B,) scores of the rejected answers, row for row.

    Returns:
        A scalar tensor (with gradients).
    """
    for name, r in (("r_chosen", r_chosen), ("r_rejected", r_rejected)):
        if not isinstance(r, torch.Tensor) or r.dim() != 1 or r.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor (B,), got {getattr(r, 'shape', r)!r}")
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen and r_rejected must have the same shape, got {tuple(r_chosen.shape)} "
                         f"and {tuple(r_rejected.shape)}")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def pair_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> float:
    """Share of pairs where the chosen answer scores higher (ties count half)."""
    d = r_chosen - r_rejected
    return float(((d > 0).float() + 0.5 * (d == 0).float()).mean())



__all__ = ["bradley_terry_loss", "pair_accuracy"]
