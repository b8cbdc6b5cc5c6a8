"""The settings of an RLHF-PPO run on the course's small language model (notebook 07)."""
from __future__ import annotations

from dataclasses import dataclass

from ..core import check_bool, check_choice, check_finite_number, check_nonnegative_int, check_positive_int

VALUE_INITS = ("auto", "reward_model", "sft")


@dataclass(frozen=True)
class RLHFConfig:
    """Hyperparameters of PPO for a language model, written as InstructGPT describes it.

    Settings that papers state are cited; the others are the course's, tuned on its task (two-digit
    arithmetic, completions of at most 4 tokens, a 0.2M-parameter model on 2 CPU cores).
    InstructGPT (Ouyang et al. 2022, arXiv 2203.02155, App. C.4): β = 0.02, value function initialised
    from the reward model, γ = 1. It states no λ; λ = 0.95 with γ = 1 are the settings of Stiennon et
    al. 2020 ("Learning to summarize", arXiv 2009.01325).
    """

    beta: float = 0.02
    """β, weight of the per-token KL penalty −β·log(π/π_ref) in the reward (InstructGPT 0.02)."""
    gamma: float = 1.0
    """γ of GAE over tokens: 1, no discount (InstructGPT, arXiv 2203.02155, App. C.4); in [0, 1]."""
    lam: float = 0.95
    """λ of GAE over tokens (0.9–1; Stiennon et al. 2020, arXiv 2009.01325: 0.95)."""
    clip_eps: float = 0.2
    """Ratio clip range ε of the surrogate (0.1–0.3, Schulman et al. 2017); the ε of PPOConfig.clip_eps and
    GRPOConfig.eps_low/eps_high."""
    value_clip: float = 0.2
    """The new value may move at most this far from the old one before its loss is clipped (0.1–0.5; 0.2 in TRL
    and in OpenAI baselines' ppo2, whose clipped value loss this is; the PPO paper's Eq. 9 is unclipped)."""
    lr: float = 5e-4
    """Adam learning rate of the policy (1e-4–1e-3 on this task)."""
    value_lr: float = 1e-3
    """Adam learning rate of the value model, a separate network and optimiser (1e-4–3e-3)."""
    prompts_per_step: int = 256
    """Distinct prompts sampled per step (64–512 here)."""
    samples_per_prompt: int = 2
    """Completions per prompt; the batch holds prompts_per_step · samples_per_prompt."""
    n_epochs: int = 2
    """Passes of PPO updates over each batch of rollouts (1–4; InstructGPT and TRL use a few)."""
    minibatch_size: int = 256
    """Completions per gradient step; the batch is shuffled each epoch (64–512)."""
    normalize_advantages: bool = True
    """(A − mean) / std over the real tokens of the whole batch, once per step (as TRL's whiten); almost always on."""
    max_completion_length: int = 4
    """Tokens sampled per completion at most (3 digits and <eos>)."""
    temperature: float = 0.7
    """Sampling temperature of the rollouts (> 0); log-probs use the same one."""
    max_grad_norm: float = 1.0
    """Gradients of each network are clipped to this global norm (0.5–1)."""
    value_init: str = "auto"
    """"reward_model", "sft", or "auto": the reward model when training on one, else SFT."""
    steps: int = 60
    """Training steps, each: sample, score, epochs of minibatch updates (40–100 here)."""
    eval_every: int = 10
    """Held-out greedy evaluation every N steps, and at the start and the end (≥ 1)."""
    seed: int = 0
    """Seeds prompt order, sampling, minibatch order and the torch RNG."""

    def __post_init__(self):
        # One set of validators (course_lib.core); what they return (NumPy and torch scalars as
        # Python numbers) is what the config keeps.
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        put("beta", check_finite_number("beta", self.beta, low=0.0))
        put("gamma", check_finite_number("gamma", self.gamma, low=0.0, high=1.0))
        put("lam", check_finite_number("lam", self.lam, low=0.0, high=1.0))
        put("clip_eps", check_finite_number("clip_eps", self.clip_eps, low=0.0, high=1.0, low_open=True, high_open=True))
        for name in ("value_clip", "lr", "value_lr", "temperature", "max_grad_norm"):
            put(name, check_finite_number(name, getattr(self, name), low=0.0, low_open=True))
        for name in ("prompts_per_step", "samples_per_prompt", "n_epochs", "minibatch_size", "max_completion_length",
                     "steps", "eval_every"):
            put(name, check_positive_int(name, getattr(self, name)))
        put("normalize_advantages", check_bool("normalize_advantages", self.normalize_advantages))
        put("value_init", check_choice("value_init", self.value_init, VALUE_INITS))
        put("seed", check_nonnegative_int("seed", self.seed))

    @property
    def batch_size(self) -> int:
        """Completions sampled per step: prompts_per_step · samples_per_prompt."""
        return self.prompts_per_step * self.samples_per_prompt
