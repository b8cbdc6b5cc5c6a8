"""RLHF for the course's small language model (notebook 07): PPO with a value model and a per-token
KL penalty (InstructGPT), and DPO on the same preference pairs.

* ``config``: ``RLHFConfig`` (PPO) — DPO's settings are ``dpo.DPOConfig``;
* ``losses``: ``kl_penalized_rewards``, ``clipped_value_loss``, ``dpo_loss`` as pure functions (the
  clipped surrogate and GAE over tokens are ``course_lib.lmrl``'s);
* ``train``: ``train_rlhf``, ``RLHFState`` (one PPO step) and ``ppo_step`` (that step, for ``lmrl.cost``);
* ``dpo``: ``train_dpo``.
"""
from .config import RLHFConfig
from .losses import clipped_value_loss, dpo_loss, kl_penalized_rewards
from .train import RLHFState, completion_values, evaluate_policy, heldout_samples, ppo_step, sequence_kl, train_rlhf

__all__ = ["RLHFConfig", "kl_penalized_rewards", "clipped_value_loss", "dpo_loss", "RLHFState", "ppo_step", "train_rlhf",
           "completion_values", "sequence_kl", "heldout_samples", "evaluate_policy"]
