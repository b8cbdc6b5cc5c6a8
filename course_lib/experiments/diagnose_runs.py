"""Healthy and broken runs for the run doctor (notebook 11, docs/run-doctor.md, tests/test_diagnose.py).

Each recipe trains one small run with the course's own trainers and returns its ``History``. The
healthy ones are the defaults of notebooks 04, 07 and 08 at small budgets; each broken one plants
exactly one fault:

    ppo                               PPOConfig() on CartPole-v1 (notebook 04)
    ppo_lr_x10                        learning rate ×10 (1e-2)
    ppo_unnormalised_advantages       normalize_advantages=False (raw GAE advantages, tens of units)
    ppo_truncation_as_termination     the env reports the 500-step time limit as a termination
    grpo                              GRPOConfig() from the SFT model (notebook 08), 32 prompts per step
    grpo_cold                         temperature 0.05: every group of 8 completions is the same answer
    grpo_lr_x10                       learning rate ×10 (5e-3)
    grpo_format_only                  a reward that pays only the format (``rewards.format_reward``)
    rlhf                              RLHFConfig() with the rule reward (notebook 07), 64 prompts per step
    rlhf_beta0_length_rm              β = 0 against notebook 07's length-biased reward model

``python -m course_lib bench diagnose --table`` runs them all over seeds and prints which finding
fires on which run, at which step (``course_lib.experiments.bench_diagnose``).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Callable

import numpy as np

from ..runs import History, RunOptions

PPO_STEPS = 50_000  # CartPole env steps: the default config solves it in about 30-50k
GRPO_STEPS = 40
GRPO_PROMPTS = 32
RLHF_STEPS = 30
RLHF_PROMPTS = 64


class TruncationAsTermination:
    """A vector env whose time-limit truncations are reported as terminations (the planted fault).

    Old gym's single ``done`` flag made this the default; a learner's GAE that treats ``done`` as the
    end of the return drops γ·V(s_{t+1}) at every time-limit cut (CleanRL issues #198, #457).
    """

    def __new__(cls, env_id: str = "CartPole-v1", n_envs: int = 8):
        import gymnasium as gym

        from ..ppo.train import make_vector_env

        class _Wrapper(gym.vector.VectorWrapper):
            def step(self, actions):
                obs, reward, terminated, truncated, info = self.env.step(actions)
                return obs, reward, terminated | truncated, np.zeros_like(truncated), info

        return _Wrapper(make_vector_env(env_id, n_envs))


def ppo_run(seed: int = 0, total_steps: int = PPO_STEPS, *, truncation_as_termination: bool = False,
            run: RunOptions | None = None, **changes) -> History:
    """PPO on CartPole-v1 with ``PPOConfig`` changed by ``changes`` (e.g. lr=1e-2)."""
    from ..ppo import PPOConfig, train_ppo

    cfg = PPOConfig(total_steps=total_steps, seed=seed, **changes)
    env = TruncationAsTermination("CartPole-v1", cfg.n_envs) if truncation_as_termination else "CartPole-v1"
    run = RunOptions(seed=seed) if run is None else run
    _, hist = train_ppo(env, cfg, run=run)
    hist["config"] = {"trainer": "ppo", **dataclasses.asdict(cfg)}
    return hist


_SFT = {}


def sft_model():
    """The shipped SFT policy (loaded once; callers train copies)."""
    from ..lm import load_shipped

    if "model" not in _SFT:
        _SFT["model"], _SFT["tok"], _ = load_shipped("sft")
    return _SFT["model"], _SFT["tok"]


def grpo_run(seed: int = 0, steps: int = GRPO_STEPS, *, reward_fn: Callable | None = None,
             run: RunOptions | None = None, **changes) -> History:
    """GRPO from the SFT model with ``GRPOConfig`` changed by ``changes`` (32 prompts × 8 completions a step)."""
    from ..grpo import GRPOConfig
    from ..grpo.train import train_grpo
    from ..rewards import r1_reward

    model, tok = sft_model()
    settings = dict(steps=steps, prompts_per_step=GRPO_PROMPTS, eval_every=10, seed=seed)
    settings.update(changes)
    cfg = GRPOConfig(**settings)
    run = RunOptions(seed=seed) if run is None else run
    hist = train_grpo(copy.deepcopy(model), cfg, tokenizer=tok, reward_fn=reward_fn or r1_reward, run=run)
    hist["config"] = {"trainer": "grpo", **hist["config"]}
    return hist


def rlhf_run(seed: int = 0, steps: int = RLHF_STEPS, *, reward=None, run: RunOptions | None = None,
             **changes) -> History:
    """RLHF-PPO from the SFT model with ``RLHFConfig`` changed by ``changes`` (default reward: the rule reward)."""
    from ..rewards import r1_reward
    from ..rlhf import RLHFConfig, train_rlhf

    model, tok = sft_model()
    settings = dict(steps=steps, prompts_per_step=RLHF_PROMPTS, minibatch_size=RLHF_PROMPTS, eval_every=5,
                    seed=seed)
    settings.update(changes)
    cfg = RLHFConfig(**settings)
    run = RunOptions(seed=seed) if run is None else run
    hist = train_rlhf(copy.deepcopy(model), r1_reward if reward is None else reward, cfg, tokenizer=tok, run=run)
    hist["config"] = {"trainer": "rlhf", **hist["config"]}
    return hist


def _length_rm():
    from .rlhf_sweep import load_strong_reward_model

    return load_strong_reward_model()[0]


def _format_reward():
    from ..rewards import format_reward

    return format_reward


RECIPES: dict[str, tuple[str, Callable[..., History], str]] = {
    # name: (the healthy run it breaks, how to train it, the planted fault in words)
    "ppo": ("ppo", lambda seed=0, **kw: ppo_run(seed, **kw), "none (PPOConfig defaults)"),
    "ppo_lr_x10": ("ppo", lambda seed=0, **kw: ppo_run(seed, lr=1e-2, **kw), "lr 1e-3 -> 1e-2"),
    "ppo_unnormalised_advantages": ("ppo", lambda seed=0, **kw: ppo_run(seed, normalize_advantages=False, **kw),
                                    "normalize_advantages=False"),
    "ppo_truncation_as_termination": ("ppo", lambda seed=0, **kw: ppo_run(seed, truncation_as_termination=True, **kw),
                                      "time-limit truncation reported as termination"),
    "grpo": ("grpo", lambda seed=0, **kw: grpo_run(seed, **kw), "none (GRPOConfig defaults)"),
    "grpo_cold": ("grpo", lambda seed=0, **kw: grpo_run(seed, temperature=0.05, **kw), "temperature 0.7 -> 0.05"),
    "grpo_lr_x10": ("grpo", lambda seed=0, **kw: grpo_run(seed, lr=5e-3, **kw), "lr 5e-4 -> 5e-3"),
    "grpo_format_only": ("grpo", lambda seed=0, **kw: grpo_run(seed, reward_fn=_format_reward(), **kw),
                         "reward pays only the format"),
    "rlhf": ("rlhf", lambda seed=0, **kw: rlhf_run(seed, **kw), "none (RLHFConfig defaults, rule reward)"),
    "rlhf_beta0_length_rm": ("rlhf", lambda seed=0, **kw: rlhf_run(seed, reward=_length_rm(), beta=0.0, **kw),
                             "beta 0.02 -> 0 against the length-biased reward model"),
}
HEALTHY = ("ppo", "grpo", "rlhf")
BROKEN = tuple(k for k in RECIPES if k not in HEALTHY)


def train(name: str, seed: int = 0, **kwargs) -> History:
    """Train the recipe ``name`` (one of ``RECIPES``) with this seed and return its History."""
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name][1](seed, **kwargs)
