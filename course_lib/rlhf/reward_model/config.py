"""``RewardModelConfig``: the settings of ``train_reward_model`` (notebook 06)."""
from __future__ import annotations

from dataclasses import dataclass

from ...core import config_from_dict
from ...lm.train import FORMER_NAMES, check_schedule


@dataclass(frozen=True)
class RewardModelConfig:
    """Settings of ``train_reward_model`` (the defaults built the shipped reward model)."""

    steps: int = 400
    """Optimiser steps (100–1000; the shipped reward model used 400)."""
    batch_size: int = 64
    """Preference pairs per step, i.e. twice as many sequences (32–128)."""
    lr: float = 3e-4
    """Peak learning rate of AdamW; the whole trunk is fine-tuned, gently (1e-5–1e-3)."""
    warmup: int = 25
    """Steps of linear warm-up from 0 to lr (0–10% of steps)."""
    min_lr_frac: float = 0.1
    """The cosine decay ends at lr · min_lr_frac, in [0, 1]."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay (0–0.1; 0: none, the trunk starts from the SFT model)."""
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0.5–1)."""
    eval_every: int = 50
    """Steps between measurements on the validation pairs (≥ 1)."""
    seed: int = 0
    """Seeds the order of the pairs and the torch RNG (any non-negative integer)."""

    def __post_init__(self):
        check_schedule(self, ("steps", "batch_size", "eval_every"))  # the schedule of lm.train's TrainConfig

    @classmethod
    def from_dict(cls, fields: dict) -> "RewardModelConfig":
        """The config a stored ``asdict(cfg)`` describes (the shipped reward model's ``meta["train"]``),
        former names (``grad_clip``, as ``TrainConfig``'s) accepted."""
        return config_from_dict(cls, fields, FORMER_NAMES)



__all__ = ["RewardModelConfig"]
