"""RLHF for the course's small language model (notebooks 06, 07 and 10): preference data, a Bradley–Terry
reward model, PPO with a value model and a per-token KL penalty (InstructGPT), DPO on the same preference
pairs, and RLAIF.

* ``preferences``: simulated annotators and the shipped preference pairs (notebook 06);
* ``reward_model``: the Bradley–Terry reward model, a sub-package (losses, model, config, train,
  evaluate, build — ``python -m course_lib train-rm``) (notebook 06);
* ``config``: ``RLHFConfig`` (PPO) — DPO's settings are ``dpo.DPOConfig``;
* ``losses``: ``kl_penalized_rewards``, ``clipped_value_loss``, ``dpo_loss`` as pure functions (the
  clipped surrogate and GAE over tokens are ``course_lib.lmrl``'s);
* ``train``: ``train_rlhf``, ``RLHFState`` (one PPO step) and ``ppo_step`` (that step, for ``lmrl.cost``);
* ``dpo``: ``train_dpo``;
* ``rlaif``: preferences labelled by a model, and a reward model trained on them (notebook 10).
"""
from .config import RLHFConfig
from .losses import clipped_value_loss, dpo_loss, kl_penalized_rewards
from .preferences import AnnotatorConfig, PreferencePair, load_pairs, pair_kind
from .reward_model import (RewardModel, RewardModelConfig, bradley_terry_loss, evaluate_reward_model,
                           load_reward_model, load_shipped_reward_model, reward_model_reward, train_reward_model)
from .train import RLHFState, completion_values, evaluate_policy, heldout_samples, ppo_step, sequence_kl, train_rlhf
from .rlaif import ai_label, judge_from_lm, label_quality, rlaif_reward_model

__all__ = ["RLHFConfig", "kl_penalized_rewards", "clipped_value_loss", "dpo_loss", "RLHFState", "ppo_step", "train_rlhf",
           "completion_values", "sequence_kl", "heldout_samples", "evaluate_policy",
           "AnnotatorConfig", "PreferencePair", "load_pairs", "pair_kind",
           "RewardModel", "RewardModelConfig", "bradley_terry_loss", "train_reward_model", "evaluate_reward_model",
           "reward_model_reward", "load_reward_model", "load_shipped_reward_model",
           "ai_label", "judge_from_lm", "label_quality", "rlaif_reward_model"]
