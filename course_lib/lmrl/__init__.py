"""One home for RL on the language model (notebooks 07–09 and 08's GRPO).

* ``rollout``: ``sample_rollouts`` (the one sampling function: encode → generate → decode →
  reward) and ``RolloutBatch`` (tokens, prompt length, completion mask, old log-probs, rewards,
  texts, groups; select groups, concatenate, recompute log-probs under a model);
* ``objectives``: masked objectives as pure functions (the clipped surrogate with ε_low/ε_high,
  a mask and an aggregation; the k3 KL; masked mean and whitening; GAE over tokens);
* the value model of RLHF-PPO (the GPT trunk with a scalar head at every position) is
  ``course_lib.lm.heads.ScalarHeadModel``, the class the reward model uses too;
* ``cost``: one measurement of what an RL step costs (model state, peak memory, time split).

GRPO (``course_lib.grpo``), RLHF-PPO and DPO (``course_lib.rlhf``) are built from these.
"""
from .objectives import (aggregate_token_loss, clipped_objective, clipped_surrogate, kl_k3, masked_mean,
                         masked_whiten, token_gae)
from .rollout import RolloutBatch, sample_rollouts

__all__ = ["RolloutBatch", "sample_rollouts", "aggregate_token_loss", "clipped_objective", "clipped_surrogate",
           "kl_k3", "masked_mean", "masked_whiten", "token_gae"]
