"""Seeded learning tests of notebook 07: RLHF-PPO learns on the rule reward, DPO learns the preferences,
and PPO exploits the learned reward model (its score rises while gold accuracy falls from its peak).

Each run uses one torch thread (exactly reproducible on a machine, and fastest for this model)."""
from __future__ import annotations

import numpy as np
import pytest

from course_lib import tasks
from course_lib.lm import load_shipped
from course_lib.rewards import r1_reward
from course_lib.rlhf import RLHFConfig, train_rlhf


def test_rlhf_ppo_gains_ten_points_on_the_rule_reward_in_ten_steps():
    model, tok, _ = load_shipped("sft")
    cfg = RLHFConfig(steps=10, eval_every=10, seed=0)
    h = train_rlhf(model, r1_reward, cfg, tokenizer=tok)
    start, end = h["eval_accuracy"][0], h["eval_accuracy"][-1]
    assert abs(start - 0.432) < 1e-9  # the shipped SFT model's held-out greedy accuracy
    assert end >= start + 0.10, f"held-out accuracy {start:.1%} -> {end:.1%}"
    assert h["value_init"] == "sft" and h["completions_sampled"] == 10 * cfg.batch_size
    assert h["explained_variance"][-1] > h["explained_variance"][0]  # the value model learns too
    assert 0 < h["eval_kl"][-1] < 2.0  # moved away from the reference, on a leash
    assert all(np.isfinite(h[k]).all() for k in ("value_loss", "clip_fraction", "entropy", "kl"))


def test_dpo_learns_the_annotators_preferences():
    from course_lib.rlhf.preferences import load_pairs
    from course_lib.rlhf.dpo import DPOConfig, train_dpo

    model, tok, _ = load_shipped("sft")
    train, val = load_pairs("train"), load_pairs("val")[:600]
    h = train_dpo(model, train, DPOConfig(steps=60, eval_every=60, seed=0), tokenizer=tok, val_pairs=val,
                  eval_set=tasks.eval_problems()[:200])
    assert h["val_pair_accuracy"][0] == 0.5  # π = π_ref: every implicit reward is 0, ties count half
    assert h["val_pair_accuracy"][-1] >= 0.54, h["val_pair_accuracy"]  # held-out pairs, never trained on
    assert np.mean(h["loss"][-15:]) < np.mean(h["loss"][:5])
    assert h["chosen_logratio"][-1] > h["rejected_logratio"][-1]
    assert 0 < h["eval_kl"][-1] < 1.5


def test_ppo_exploits_a_length_biased_reward_model_in_a_short_run():
    """Against the reward model of annotators with a strong length bias (data/rlhf/), β = 0: the
    reward model's score of the policy's samples rises while the true accuracy falls below where it
    started (its peak), and the greedy answers get longer than the truth."""
    from course_lib.experiments.rlhf_sweep import load_strong_reward_model, sweep_config

    model, tok, _ = load_shipped("sft")
    rm, _ = load_strong_reward_model()
    cfg = sweep_config(0.0, steps=10, eval_every=5)
    h = train_rlhf(model, rm, cfg, tokenizer=tok, eval_set=tasks.eval_problems()[:300])
    assert h["value_init"] == "reward_model"
    proxy, gold, greedy = h["eval_sampled_reward"], h["eval_sampled_accuracy"], h["eval_accuracy"]
    assert proxy[-1] > proxy[0] + 0.3, proxy  # the proxy rises
    assert greedy[-1] < max(greedy) - 0.05, greedy  # the gold accuracy ends well below its peak
    assert gold[-1] < max(gold), gold
    assert h["eval_longer_than_truth"][-1] > h["eval_longer_than_truth"][0] + 0.05  # what it learned: length
