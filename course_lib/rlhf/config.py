"""The settings of an RLHF-PPO run on the course's small language model (notebook 07)."""
from __future__ import annotations

from dataclasses import dataclass

from ..core import check_finite_number, check_nonnegative_int, check_positive_int

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

    beta: float = 0.02  # β, weight of the per-token KL penalty −β·log(π/π_ref) in the reward (InstructGPT 0.02)
    gamma: float = 1.0  # γ of GAE over tokens: 1, no discount (InstructGPT App. C.4)
    lam: float = 0.95  # λ of GAE over tokens (Stiennon et al. 2020: 0.95)
    eps: float = 0.2  # ratio clip range ε of the surrogate (Schulman et al. 2017 use 0.1-0.3)
    value_clip: float = 0.2  # c of the clipped value loss (OpenAI baselines' ppo2 form; PPO's Eq. 9 is unclipped)
    lr: float = 5e-4  # Adam learning rate of the policy
    value_lr: float = 1e-3  # Adam learning rate of the value model (a separate network and optimiser)
    prompts_per_step: int = 256  # distinct prompts sampled per step
    samples_per_prompt: int = 2  # completions per prompt; the batch holds prompts_per_step · samples_per_prompt
    epochs: int = 2  # passes of PPO updates over each batch of rollouts
    minibatch_size: int = 256  # completions per gradient step (the batch is shuffled each epoch)
    whiten_advantages: bool = True  # (A − mean) / std over the real tokens of the whole batch, once per step
    max_completion_length: int = 4  # tokens sampled per completion at most (3 digits and <eos>)
    temperature: float = 0.7  # sampling temperature of the rollouts (> 0); log-probs use the same one
    max_grad_norm: float = 1.0  # gradients of each network are clipped to this global norm
    value_init: str = "auto"  # "reward_model", "sft", or "auto": the reward model when training on one, else SFT
    steps: int = 60  # training steps (each: sample, score, epochs of minibatch updates)
    eval_every: int = 10  # held-out greedy evaluation every N steps (and at the start and the end)
    seed: int = 0  # seeds prompt order, sampling, minibatch order and the torch RNG

    def __post_init__(self):
        check_finite_number("beta", self.beta, low=0.0)
        check_finite_number("gamma", self.gamma, low=0.0, high=1.0)
        check_finite_number("lam", self.lam, low=0.0, high=1.0)
        check_finite_number("eps", self.eps, low=0.0, high=1.0, low_open=True, high_open=True)
        check_finite_number("value_clip", self.value_clip, low=0.0, low_open=True)
        check_finite_number("lr", self.lr, low=0.0, low_open=True)
        check_finite_number("value_lr", self.value_lr, low=0.0, low_open=True)
        for name in ("prompts_per_step", "samples_per_prompt", "epochs", "minibatch_size", "max_completion_length",
                     "steps", "eval_every"):
            check_positive_int(name, getattr(self, name))
        if not isinstance(self.whiten_advantages, bool):
            raise ValueError(f"whiten_advantages must be True or False, got {self.whiten_advantages!r}")
        check_finite_number("temperature", self.temperature, low=0.0, low_open=True)
        check_finite_number("max_grad_norm", self.max_grad_norm, low=0.0, low_open=True)
        if self.value_init not in VALUE_INITS:
            raise ValueError(f"value_init must be one of {VALUE_INITS}, got {self.value_init!r}")
        check_nonnegative_int("seed", self.seed)

    @property
    def batch_size(self) -> int:
        """Completions sampled per step: prompts_per_step · samples_per_prompt."""
        return self.prompts_per_step * self.samples_per_prompt
