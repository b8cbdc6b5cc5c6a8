"""GRPO from scratch (notebook 08): the config, the loss as pure functions, and the training loop."""
from .config import LOSS_AGGREGATIONS, GRPOConfig
from .losses import aggregate_token_loss, group_advantages, grpo_loss, kl_k3, zero_variance_groups
from .train import GRPOState, grpo_step, train_grpo

__all__ = [
    "GRPOConfig", "LOSS_AGGREGATIONS", "group_advantages", "zero_variance_groups", "kl_k3",
    "aggregate_token_loss", "grpo_loss", "GRPOState", "grpo_step", "train_grpo",
]
