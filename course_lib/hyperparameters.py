"""Every hyperparameter of the course's configs, with its name in TRL, Stable-Baselines3 and CleanRL.

One row per config field: ``(config, field, TRL, Stable-Baselines3, CleanRL, meaning)``. "—" means
the library has no such setting (or fixes it in code). TRL's names are those of its trainer for the
same method (``GRPOConfig``, ``PPOConfig``, ``DPOConfig``, ``RewardConfig``; pretraining and SFT:
``TrainingArguments``/``SFTConfig``); SB3's are ``stable_baselines3.PPO``'s arguments; CleanRL's are
the ``Args`` of ``cleanrl/ppo.py``. ``course_lib.hf.TRL_FIELDS`` is the GRPO part of this table as
``train_with_trl`` uses it (``tests/test_configs.py`` checks that the two agree, that every field of
every config has a row, and that ``docs/hyperparameters.md`` is this table).
"""
from __future__ import annotations

from typing import NamedTuple

NONE = "—"


class Name(NamedTuple):
    config: str
    field: str
    trl: str
    sb3: str
    cleanrl: str
    meaning: str


_ROWS = [
    # PPO on CartPole (notebook 04)
    ("PPOConfig", "total_steps", NONE, "total_timesteps (learn)", "total_timesteps", "environment steps to train for"),
    ("PPOConfig", "n_envs", NONE, "n_envs (make_vec_env)", "num_envs", "parallel environments"),
    ("PPOConfig", "n_steps", NONE, "n_steps", "num_steps", "steps per environment in each rollout"),
    ("PPOConfig", "minibatch_size", NONE, "batch_size", "minibatch_size (= batch_size // num_minibatches)",
     "minibatch size of the gradient steps (a minibatch, not the rollout)"),
    ("PPOConfig", "n_epochs", NONE, "n_epochs", "update_epochs", "passes over each rollout"),
    ("PPOConfig", "gamma", NONE, "gamma", "gamma", "discount γ"),
    ("PPOConfig", "lam", NONE, "gae_lambda", "gae_lambda", "GAE λ"),
    ("PPOConfig", "lr", NONE, "learning_rate", "learning_rate", "Adam's learning rate (at the start)"),
    ("PPOConfig", "anneal_lr", NONE, "learning_rate=schedule", "anneal_lr", "decay the learning rate linearly to 0"),
    ("PPOConfig", "clip_eps", NONE, "clip_range", "clip_coef", "clip range ε of the ratio"),
    ("PPOConfig", "anneal_clip", NONE, "clip_range=schedule", NONE, "decay ε linearly to 0"),
    ("PPOConfig", "ent_coef", NONE, "ent_coef", "ent_coef", "weight of the entropy bonus"),
    ("PPOConfig", "vf_coef", NONE, "vf_coef", "vf_coef", "weight of the value loss"),
    ("PPOConfig", "max_grad_norm", NONE, "max_grad_norm", "max_grad_norm", "global gradient-norm clip"),
    ("PPOConfig", "normalize_advantages", NONE, "normalize_advantage", "norm_adv",
     "standardise advantages per minibatch"),
    ("PPOConfig", "hidden", NONE, "policy_kwargs.net_arch", NONE, "hidden layer sizes of the policy and value nets"),
    ("PPOConfig", "adam_eps", NONE, "policy_kwargs.optimizer_kwargs.eps", NONE, "Adam's ε (CleanRL fixes 1e-5)"),
    ("PPOConfig", "seed", NONE, "seed", "seed", "seed of the run"),
    ("PPOConfig", "eval_every", NONE, "eval_freq (EvalCallback)", NONE, "environment steps between evaluations"),
    ("PPOConfig", "eval_episodes", NONE, "n_eval_episodes (EvalCallback)", NONE, "episodes per evaluation"),
    ("PPOConfig", "stop_return", NONE, "StopTrainingOnRewardThreshold", NONE, "stop once evaluations reach it"),
    ("PPOConfig", "manual_grad", NONE, NONE, NONE, "hand-derived gradients of the same loss (the course's fast path)"),
    ("PPOConfig", "torch_threads", NONE, NONE, NONE, "torch CPU threads"),
    ("PPOConfig", "device", NONE, "device", "cuda", "where the networks run"),
    # GRPO (notebook 08); the TRL column is course_lib.hf.TRL_FIELDS
    ("GRPOConfig", "group_size", "num_generations", NONE, NONE, "G: completions sampled per prompt"),
    ("GRPOConfig", "eps_low", "epsilon", NONE, NONE, "ratio clipped below at 1 − ε_low"),
    ("GRPOConfig", "eps_high", "epsilon_high", NONE, NONE, "ratio clipped above at 1 + ε_high (DAPO's clip-higher)"),
    ("GRPOConfig", "beta", "beta", NONE, NONE, "weight of the k3 KL to the reference model"),
    ("GRPOConfig", "lr", "learning_rate", NONE, NONE, "Adam's learning rate"),
    ("GRPOConfig", "n_epochs", "num_iterations", NONE, NONE, "μ: policy updates per sampled batch"),
    ("GRPOConfig", "max_completion_length", "max_completion_length", NONE, NONE, "tokens sampled per completion at most"),
    ("GRPOConfig", "temperature", "temperature", NONE, NONE, "sampling temperature (log-probs use the same one)"),
    ("GRPOConfig", "loss_aggregation", "loss_type", NONE, NONE, "how token losses are averaged: grpo, dr_grpo, dapo"),
    ("GRPOConfig", "dynamic_sampling", NONE, NONE, NONE, "DAPO: drop groups whose rewards are all equal, sample more"),
    ("GRPOConfig", "prompts_per_step", "per_device_train_batch_size",
     NONE, NONE, "distinct prompts per step (TRL counts completions per process: prompts_per_step · G / processes)"),
    ("GRPOConfig", "steps", "max_steps", NONE, NONE, "training steps"),
    ("GRPOConfig", "max_grad_norm", "max_grad_norm", NONE, NONE, "global gradient-norm clip"),
    ("GRPOConfig", "eval_every", "eval_steps", NONE, NONE, "steps between held-out evaluations"),
    ("GRPOConfig", "seed", "seed", NONE, NONE, "seeds sampling, prompt order and initial state"),
    ("GRPOConfig", "ptx_coef", NONE, NONE, NONE, "γ of PPO-ptx: weight of the pretraining loss"),
    ("GRPOConfig", "ptx_batch_size", NONE, NONE, NONE, "pretraining documents per update (PPO-ptx)"),
    # RLHF-PPO (notebook 07)
    ("RLHFConfig", "beta", "kl_coef", NONE, NONE, "β of the per-token KL penalty in the reward"),
    ("RLHFConfig", "gamma", "gamma", NONE, NONE, "γ of GAE over tokens"),
    ("RLHFConfig", "lam", "lam", NONE, NONE, "λ of GAE over tokens"),
    ("RLHFConfig", "clip_eps", "cliprange", "clip_range", "clip_coef", "clip range ε of the ratio"),
    ("RLHFConfig", "value_clip", "cliprange_value", "clip_range_vf", "clip_vloss (on/off)", "clip range of the value update"),
    ("RLHFConfig", "lr", "learning_rate", NONE, NONE, "Adam's learning rate of the policy"),
    ("RLHFConfig", "value_lr", NONE, NONE, NONE, "Adam's learning rate of the separate value model"),
    ("RLHFConfig", "prompts_per_step", "per_device_train_batch_size", NONE, NONE, "distinct prompts per step"),
    ("RLHFConfig", "samples_per_prompt", NONE, NONE, NONE, "completions per prompt"),
    ("RLHFConfig", "n_epochs", "num_ppo_epochs", "n_epochs", "update_epochs", "passes of PPO updates over each batch"),
    ("RLHFConfig", "minibatch_size", "num_mini_batches (a count)", "batch_size", "minibatch_size",
     "completions per gradient step"),
    ("RLHFConfig", "normalize_advantages", NONE, "normalize_advantage", "norm_adv", "whiten advantages over real tokens"),
    ("RLHFConfig", "max_completion_length", "response_length", NONE, NONE, "tokens sampled per completion at most"),
    ("RLHFConfig", "temperature", "temperature", NONE, NONE, "sampling temperature"),
    ("RLHFConfig", "max_grad_norm", "max_grad_norm", "max_grad_norm", "max_grad_norm", "global gradient-norm clip"),
    ("RLHFConfig", "value_init", NONE, NONE, NONE, "what the value model starts from (InstructGPT: the reward model)"),
    ("RLHFConfig", "steps", "total_episodes (in completions)", NONE, NONE, "training steps"),
    ("RLHFConfig", "eval_every", "eval_steps", NONE, NONE, "steps between held-out evaluations"),
    ("RLHFConfig", "seed", "seed", "seed", "seed", "seed of the run"),
    # DPO (notebook 07)
    ("DPOConfig", "beta", "beta", NONE, NONE, "β of the implicit reward β·log(π/π_ref)"),
    ("DPOConfig", "lr", "learning_rate", NONE, NONE, "Adam's learning rate"),
    ("DPOConfig", "batch_size", "per_device_train_batch_size", NONE, NONE, "preference pairs per step"),
    ("DPOConfig", "steps", "max_steps", NONE, NONE, "optimiser steps"),
    ("DPOConfig", "max_grad_norm", "max_grad_norm", NONE, NONE, "global gradient-norm clip"),
    ("DPOConfig", "eval_every", "eval_steps", NONE, NONE, "steps between held-out evaluations"),
    ("DPOConfig", "kl_temperature", NONE, NONE, NONE, "temperature of the samples that measure the held-out KL"),
    ("DPOConfig", "seed", "seed", NONE, NONE, "seed of the run"),
    # the reward model (notebook 06)
    ("RewardModelConfig", "steps", "max_steps", NONE, NONE, "optimiser steps"),
    ("RewardModelConfig", "batch_size", "per_device_train_batch_size", NONE, NONE, "preference pairs per step"),
    ("RewardModelConfig", "lr", "learning_rate", NONE, NONE, "AdamW's peak learning rate"),
    ("RewardModelConfig", "warmup", "warmup_steps", NONE, NONE, "steps of linear warm-up"),
    ("RewardModelConfig", "min_lr_frac", "lr_scheduler_kwargs.min_lr_rate", NONE, NONE,
     "the cosine decay ends at lr · min_lr_frac"),
    ("RewardModelConfig", "weight_decay", "weight_decay", NONE, NONE, "AdamW's weight decay"),
    ("RewardModelConfig", "max_grad_norm", "max_grad_norm", NONE, NONE, "global gradient-norm clip"),
    ("RewardModelConfig", "eval_every", "eval_steps", NONE, NONE, "steps between validation measurements"),
    ("RewardModelConfig", "seed", "seed", NONE, NONE, "seed of the run"),
    # pretraining and SFT (notebook 05)
    ("TrainConfig", "steps", "max_steps", NONE, NONE, "optimiser steps of the stage"),
    ("TrainConfig", "batch_size", "per_device_train_batch_size", NONE, NONE, "sequences per step"),
    ("TrainConfig", "lr", "learning_rate", NONE, NONE, "AdamW's peak learning rate"),
    ("TrainConfig", "warmup", "warmup_steps", NONE, NONE, "steps of linear warm-up"),
    ("TrainConfig", "min_lr_frac", "lr_scheduler_kwargs.min_lr_rate", NONE, NONE,
     "the cosine decay ends at lr · min_lr_frac"),
    ("TrainConfig", "weight_decay", "weight_decay", NONE, NONE, "AdamW's weight decay"),
    ("TrainConfig", "max_grad_norm", "max_grad_norm", NONE, NONE, "global gradient-norm clip"),
    ("TrainConfig", "seed", "seed", NONE, NONE, "seed of the run"),
    # REINFORCE (notebook 03)
    ("REINFORCEConfig", "env_id", NONE, "env", "env_id", "the gymnasium environment"),
    ("REINFORCEConfig", "gamma", NONE, "gamma", "gamma", "discount of the reward-to-go"),
    ("REINFORCEConfig", "lr", NONE, "learning_rate", "learning_rate", "Adam's learning rate of the policy"),
    ("REINFORCEConfig", "baseline", NONE, NONE, NONE, "learn V(s) as the baseline"),
    ("REINFORCEConfig", "value_lr", NONE, NONE, NONE, "Adam's learning rate of the value net"),
    ("REINFORCEConfig", "value_steps", NONE, NONE, NONE, "regression steps on V per batch"),
    ("REINFORCEConfig", "hidden", NONE, "policy_kwargs.net_arch", NONE, "width of the hidden layer"),
    ("REINFORCEConfig", "episodes_per_batch", NONE, NONE, NONE, "episodes per gradient step"),
    ("REINFORCEConfig", "n_iterations", NONE, NONE, NONE, "gradient steps at most"),
    ("REINFORCEConfig", "target_return", NONE, "StopTrainingOnRewardThreshold", NONE, "stop once the return reaches it"),
    ("REINFORCEConfig", "measure_variance", NONE, NONE, NONE, "record the gradient variance of every batch"),
    ("REINFORCEConfig", "seed", NONE, "seed", "seed", "seed of the run"),
    ("REINFORCEConfig", "device", NONE, "device", "cuda", "where the networks run"),
]
NAMES: tuple[Name, ...] = tuple(Name(*row) for row in _ROWS)

# Names a field had before, as each config's ``FORMER_NAMES`` maps them (``from_dict`` reads configs stored
# under them: checkpoints' metadata, cached runs): (config, former name, today's name).
# ``tests/test_configs.py`` checks that these are exactly the configs' own maps.
FORMER: tuple[tuple[str, str, str], ...] = (
    ("GRPOConfig", "mu", "n_epochs"),
    ("RewardModelConfig", "grad_clip", "max_grad_norm"),
    ("TrainConfig", "grad_clip", "max_grad_norm"),
)


def markdown() -> str:
    """The table as docs/hyperparameters.md holds it."""
    lines = ["# One name per hyperparameter", "",
             "Every field of the course's configs, with the name the same setting has in TRL, Stable-Baselines3",
             "and CleanRL (— where the library has none). Generated from `course_lib.hyperparameters.NAMES`",
             "(`python -m course_lib.hyperparameters > docs/hyperparameters.md`); `tests/test_configs.py` checks",
             "that it is current and covers every field.", ""]
    config = None
    for n in NAMES:
        if n.config != config:
            config = n.config
            lines += ["", f"## {config}", "", "| course | TRL | Stable-Baselines3 | CleanRL | meaning |",
                      "|---|---|---|---|---|"]
        cell = lambda s: NONE if s == NONE else f"`{s}`"  # noqa: E731
        lines.append(f"| `{n.field}` | {cell(n.trl)} | {cell(n.sb3)} | {cell(n.cleanrl)} | {n.meaning} |")
    lines += ["", "## Former names", "",
              "Configs stored under a former name (a checkpoint's metadata, a cached run) still read: each config's",
              "`from_dict` maps the name to today's.", "", "| config | former name | today's name |", "|---|---|---|"]
    lines += [f"| `{config}` | `{old}` | `{new}` |" for config, old, new in FORMER]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
