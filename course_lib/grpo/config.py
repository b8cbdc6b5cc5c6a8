"""The settings of a GRPO run (notebook 08), one documented field each."""
from __future__ import annotations

from dataclasses import dataclass

from .. import core
from ..core import check_finite_number, check_nonnegative_int, check_positive_int

LOSS_AGGREGATIONS = ("grpo", "dr_grpo", "dapo")
# Former field names -> today's, so configs stored by earlier runs (data/pitfalls/runs.json, saved
# histories) still read: ``mu`` became ``n_epochs``, the name PPO and RLHF-PPO give the same setting.
FORMER_NAMES = {"mu": "n_epochs"}


def current_names(fields: dict) -> dict:
    """``fields`` (a stored GRPO config, or part of one) with every former name replaced by today's."""
    return core.current_names(fields, FORMER_NAMES)


@dataclass(frozen=True)
class GRPOConfig:
    """Hyperparameters of GRPO (DeepSeekMath §4.1) with the Dr. GRPO and DAPO variants and PPO-ptx.

    Papers' settings for comparison: DeepSeekMath G = 64 (arXiv 2402.03300 §4.2), R1-Zero G = 16
    (DeepSeek-R1, Nature version, Methods), DAPO G = 16 (arXiv 2503.14476 §4.1); TRL's default
    ``num_generations`` is 8.
    """

    group_size: int = 8
    """G: completions sampled per prompt; the group mean is the baseline (G >= 2)."""
    eps_low: float = 0.2
    """Ratio clipped below at 1 - eps_low (PPO's ε; usually 0.1-0.3)."""
    eps_high: float = 0.2
    """Ratio clipped above at 1 + eps_high (DAPO's clip-higher uses 0.28)."""
    beta: float = 0.0
    """Weight of the k3 KL to the reference model (DeepSeekMath 0.04; DAPO and Dr. GRPO 0)."""
    lr: float = 5e-4
    """Adam learning rate of the policy (1e-3 was noisier on the course's task)."""
    n_epochs: int = 1
    """μ (DeepSeekMath Alg. 1): policy updates per sampled batch, 1-4 usually; with μ > 1 the ratio to the
    old policy matters. Named as PPO's and RLHF-PPO's passes over a batch (``n_epochs``)."""
    max_completion_length: int = 4
    """Tokens sampled per completion at most; Dr. GRPO's constant normaliser."""
    temperature: float = 0.7
    """Sampling temperature of the rollouts (> 0; log-probs use the same one)."""
    loss_aggregation: str = "grpo"
    """"grpo": mean per sequence then over sequences (DeepSeekMath); "dr_grpo": token sum / (B ·
    max_completion_length), no std (Dr. GRPO); "dapo": token sum / total tokens in the batch (DAPO)."""
    dynamic_sampling: bool = False
    """DAPO: drop groups whose rewards are all equal before the update."""
    prompts_per_step: int = 64
    """Distinct prompts per step; the batch holds prompts_per_step · G completions."""
    steps: int = 100
    """Training steps (each: sample, score, μ updates)."""
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm."""
    eval_every: int = 10
    """Evaluate on the held-out set every N steps (and at the start and the end)."""
    seed: int = 0
    """Seeds prompt order, sampling and the torch RNG."""
    ptx_coef: float = 0.0
    """γ of PPO-ptx (InstructGPT Eq. 2, γ = 27.8 there): the loss adds −γ · mean token log-likelihood of
    pretraining text; 0 trains exactly as without it."""
    ptx_batch_size: int = 64
    """Pretraining documents per update when ptx_coef > 0."""

    def __post_init__(self):
        # One set of validators (course_lib.core): finite numbers only (lr=inf would train into
        # NaN), NumPy and torch scalars accepted and stored as Python numbers.
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        try:
            put("group_size", check_finite_number("group_size", self.group_size, low=2, integer=True))
        except ValueError as exc:
            raise ValueError(f"{exc} (a group needs a mean to compare with)") from None
        for name in ("eps_low", "eps_high"):
            put(name, check_finite_number(name, getattr(self, name), low=0.0, low_open=True))
        if self.eps_low >= 1:
            raise ValueError(f"eps_low must be < 1 (the lower clip 1 - eps_low must stay positive), got {self.eps_low!r}")
        put("beta", check_finite_number("beta", self.beta, low=0.0))
        put("lr", check_finite_number("lr", self.lr, low=0.0, low_open=True))
        for name in ("n_epochs", "max_completion_length", "prompts_per_step", "steps", "eval_every"):
            put(name, check_positive_int(name, getattr(self, name)))
        try:
            put("temperature", check_finite_number("temperature", self.temperature, low=0.0, low_open=True))
        except ValueError as exc:
            raise ValueError(f"{exc} (rollouts are sampled)") from None
        if self.loss_aggregation not in LOSS_AGGREGATIONS:
            raise ValueError(f"loss_aggregation must be one of {LOSS_AGGREGATIONS}, got {self.loss_aggregation!r}")
        if not isinstance(self.dynamic_sampling, bool):
            raise ValueError(f"dynamic_sampling must be True or False, got {self.dynamic_sampling!r}")
        put("max_grad_norm", check_finite_number("max_grad_norm", self.max_grad_norm, low=0.0, low_open=True))
        put("seed", check_nonnegative_int("seed", self.seed))
        put("ptx_coef", check_finite_number("ptx_coef", self.ptx_coef, low=0.0))
        put("ptx_batch_size", check_positive_int("ptx_batch_size", self.ptx_batch_size))

    @classmethod
    def from_dict(cls, fields: dict) -> "GRPOConfig":
        """The config a stored ``asdict(cfg)`` describes (a History's "config"), former names accepted."""
        return core.config_from_dict(cls, fields, FORMER_NAMES)

    @property
    def advantage_scale(self) -> str:
        """How advantages are scaled: "none" for Dr. GRPO (no division by std), else "group"."""
        return "none" if self.loss_aggregation == "dr_grpo" else "group"

    @property
    def batch_size(self) -> int:
        """Completions per step: prompts_per_step · G."""
        return self.prompts_per_step * self.group_size
