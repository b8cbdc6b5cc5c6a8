"""PPOConfig: every PPO hyperparameter in one frozen dataclass (notebook 04).

The defaults are the rl-zoo tuned settings for CartPole-v1 (the same ones the benchmark gives
Stable-Baselines3): 8 environments × 32 steps per rollout, one minibatch of 256 (``minibatch_size``),
20 epochs, γ = 0.98, λ = 0.8, learning rate and clip range annealed linearly from 1e-3 and 0.2.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..core import check_finite_number, check_nonnegative_int, check_positive_int, check_probability


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters, one field each (meaning; usual range)."""

    total_steps: int = 100_000
    """Environment steps to train for, summed over the parallel envs (CartPole: 50k–200k)."""
    n_envs: int = 8
    """Parallel environments stepped together in one vector env (1–64)."""
    n_steps: int = 32
    """Steps per environment in each rollout; a rollout holds n_envs·n_steps transitions (16–2048)."""
    minibatch_size: int = 256
    """Transitions per gradient step, a minibatch of the rollout (32–4096; = n_envs·n_steps means one
    minibatch per epoch). SB3 calls it ``batch_size``, CleanRL ``minibatch_size``."""
    n_epochs: int = 20
    """Passes over each rollout (3–30); more reuse of the data makes clipping matter more."""
    gamma: float = 0.98
    """Discount γ (0.9–0.999); the horizon is about 1/(1−γ) steps."""
    lam: float = 0.8
    """GAE λ (0.8–0.99): 0 is the one-step TD error (low variance, biased), 1 the Monte Carlo return."""
    lr: float = 1e-3
    """Adam learning rate at the start (1e-4–3e-3)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly from ``lr`` to 0 over ``total_steps`` (SB3's ``lin_`` schedule)."""
    clip_eps: float = 0.2
    """Clip range ε of the ratio (0.1–0.3); a huge value (1e9) switches clipping off."""
    anneal_clip: bool = True
    """Decay ε linearly from ``clip_eps`` to 0 over ``total_steps``."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus (0–0.01); 0 turns it off."""
    vf_coef: float = 0.5
    """Weight of the value loss in the total loss (0.25–1)."""
    max_grad_norm: float = 0.5
    """Clip the global gradient norm to this (0.5–1); 0 means no clipping."""
    normalize_advantages: bool = True
    """Standardise advantages within each minibatch (almost always on)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy net and of the (separate) value net, tanh between layers."""
    adam_eps: float = 1e-5
    """Adam's ε (SB3 and CleanRL use 1e-5 rather than torch's 1e-8)."""
    seed: int = 0
    """Seeds the networks, the environments and the action sampling."""
    eval_every: int = 0
    """Evaluate every this many env steps (0: never); evaluation time is not training time."""
    eval_episodes: int = 10
    """Episodes per evaluation, run side by side, with deterministic (greedy) actions."""
    stop_return: float | None = None
    """Stop early once two evaluations in a row reach this mean return (needs eval_every > 0)."""
    manual_grad: bool = True
    """Compute gradients with the hand-derived backward pass of ``course_lib.ppo.fast`` in NumPy
    (same gradients as autograd, tested; several times less overhead per step; CPU only, a GPU
    uses autograd); False uses autograd of ``ppo.losses.ppo_loss``."""
    torch_threads: int | None = 1
    """torch CPU threads while training: tiny nets are fastest on 1; None leaves torch's setting."""
    device: str | None = None
    """"cpu", "cuda" or None (CUDA when available, see ``course_lib.get_device``)."""

    def __post_init__(self):
        # One set of validators (course_lib.core): finite numbers only (lr=inf would train into
        # NaN), NumPy and torch scalars accepted and stored as Python numbers.
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731  (frozen)
        for name in ("total_steps", "n_envs", "n_steps", "minibatch_size", "n_epochs", "eval_episodes"):
            put(name, check_positive_int(name, getattr(self, name)))
        put("eval_every", check_nonnegative_int("eval_every", self.eval_every))
        put("seed", check_nonnegative_int("seed", self.seed))
        put("gamma", check_probability("gamma", self.gamma))
        put("lam", check_probability("lam", self.lam))
        for name in ("lr", "clip_eps", "adam_eps"):
            put(name, check_finite_number(name, getattr(self, name), low=0.0, low_open=True))
        for name in ("ent_coef", "vf_coef", "max_grad_norm"):
            put(name, check_finite_number(name, getattr(self, name), low=0.0))
        if not isinstance(self.hidden, (tuple, list)) or not self.hidden:
            raise ValueError(f"hidden must be a non-empty tuple of positive integers, got {self.hidden!r}")
        put("hidden", tuple(check_positive_int("hidden", h) for h in self.hidden))
        if self.stop_return is not None:
            put("stop_return", check_finite_number("stop_return", self.stop_return))
            if self.eval_every == 0:
                raise ValueError("stop_return needs eval_every > 0 (early stopping is decided by evaluations)")
        if self.torch_threads is not None:
            put("torch_threads", check_positive_int("torch_threads", self.torch_threads))
        for name in ("manual_grad", "anneal_lr", "anneal_clip", "normalize_advantages"):
            if hasattr(self, name) and not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.device not in (None, "cpu", "cuda"):
            raise ValueError(f"device must be 'cpu', 'cuda' or None, got {self.device!r}")

    @property
    def rollout_size(self) -> int:
        """Transitions per rollout: n_envs · n_steps."""
        return self.n_envs * self.n_steps

    def replace(self, **changes) -> "PPOConfig":
        """A copy with some fields changed (the config itself is frozen)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"PPOConfig has no field(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)
