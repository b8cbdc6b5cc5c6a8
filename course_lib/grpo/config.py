"""The settings of a GRPO run (notebook 08), one documented field each."""
from __future__ import annotations

from dataclasses import dataclass

LOSS_AGGREGATIONS = ("grpo", "dr_grpo", "dapo")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x


@dataclass(frozen=True)
class GRPOConfig:
    """Hyperparameters of GRPO (DeepSeekMath §4.1) with the Dr. GRPO and DAPO variants.

    Papers' settings for comparison (FACTS.md #2): DeepSeekMath G = 64, R1-Zero and DAPO G = 16;
    TRL's default ``num_generations`` is 8.
    """

    group_size: int = 8  # G: completions sampled per prompt; the group mean is the baseline (G >= 2)
    eps_low: float = 0.2  # ratio clipped below at 1 - eps_low (PPO's ε; usually 0.1-0.3)
    eps_high: float = 0.2  # ratio clipped above at 1 + eps_high (DAPO's clip-higher uses 0.28)
    beta: float = 0.0  # weight of the k3 KL to the reference model (DeepSeekMath 0.04; DAPO and Dr. GRPO 0)
    lr: float = 5e-4  # Adam learning rate of the policy (1e-3 was noisier on the course's task)
    mu: int = 1  # policy updates per sampled batch (μ); with μ > 1 the ratio to the old policy matters
    max_completion_length: int = 4  # tokens sampled per completion at most; Dr. GRPO's constant normaliser
    temperature: float = 0.7  # sampling temperature of the rollouts (> 0; log-probs use the same one)
    loss_aggregation: str = "grpo"  # "grpo": mean per sequence then over sequences (DeepSeekMath);
    #                                 "dr_grpo": token sum / (B · max_completion_length), no std (Dr. GRPO);
    #                                 "dapo": token sum / total tokens in the batch (DAPO)
    dynamic_sampling: bool = False  # DAPO: drop groups whose rewards are all equal before the update
    prompts_per_step: int = 64  # distinct prompts per step; the batch holds prompts_per_step · G completions
    steps: int = 100  # training steps (each: sample, score, μ updates)
    max_grad_norm: float = 1.0  # gradients are clipped to this global norm
    eval_every: int = 10  # evaluate on the held-out set every N steps (and at the start and the end)
    seed: int = 0  # seeds prompt order, sampling and the torch RNG

    def __post_init__(self):
        if not _is_int(self.group_size) or self.group_size < 2:
            raise ValueError(f"group_size must be an integer >= 2 (a group needs a mean to compare with), "
                             f"got {self.group_size!r}")
        for name in ("eps_low", "eps_high"):
            v = getattr(self, name)
            if not _is_number(v) or v <= 0:
                raise ValueError(f"{name} must be a number > 0, got {v!r}")
        if self.eps_low >= 1:
            raise ValueError(f"eps_low must be < 1 (the lower clip 1 - eps_low must stay positive), got {self.eps_low!r}")
        if not _is_number(self.beta) or self.beta < 0:
            raise ValueError(f"beta must be a number >= 0 (the KL penalty's weight), got {self.beta!r}")
        if not _is_number(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        for name in ("mu", "max_completion_length", "prompts_per_step", "steps", "eval_every"):
            v = getattr(self, name)
            if not _is_int(v) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not _is_number(self.temperature) or self.temperature <= 0:
            raise ValueError(f"temperature must be a number > 0 (rollouts are sampled), got {self.temperature!r}")
        if self.loss_aggregation not in LOSS_AGGREGATIONS:
            raise ValueError(f"loss_aggregation must be one of {LOSS_AGGREGATIONS}, got {self.loss_aggregation!r}")
        if not isinstance(self.dynamic_sampling, bool):
            raise ValueError(f"dynamic_sampling must be True or False, got {self.dynamic_sampling!r}")
        if not _is_number(self.max_grad_norm) or self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be a number > 0, got {self.max_grad_norm!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def advantage_scale(self) -> str:
        """How advantages are scaled: "none" for Dr. GRPO (no division by std), else "group"."""
        return "none" if self.loss_aggregation == "dr_grpo" else "group"

    @property
    def batch_size(self) -> int:
        """Completions per step: prompts_per_step · G."""
        return self.prompts_per_step * self.group_size
