"""Every trainer runs on the device its model (or config) names: a few steps of each on the CPU here,
and on CUDA too where a GPU is present (``pytest tests/test_devices.py`` on a GPU machine is the
GPU check; CI has no GPU and runs the CPU half, which proves the checks themselves)."""
from __future__ import annotations

import math

import pytest
import torch

from course_lib import tasks
from course_lib.lm import load_shipped

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def assert_on(model: torch.nn.Module, device: str) -> None:
    kinds = {p.device.type for p in model.parameters()}
    assert kinds == {device}, f"parameters on {kinds}, expected {device}"


def finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in values)


@pytest.mark.parametrize("device", DEVICES)
def test_grpo_trains_on_the_models_device(device):
    from course_lib.grpo import GRPOConfig, train_grpo

    model, tok, _ = load_shipped("sft")
    h = train_grpo(model.to(device), GRPOConfig(steps=2, prompts_per_step=4, group_size=4, beta=0.04, n_epochs=2,
                                                 eval_every=2),
                   tokenizer=tok, eval_set=tasks.eval_problems()[:8])
    assert_on(model, device)
    assert len(h["step"]) == 2 and finite(h["loss"]) and finite(h["kl"])
    # β = 0, no reference: the update's shortcuts (groups without gradient left out, shared prompts)
    h0 = train_grpo(model, GRPOConfig(steps=2, prompts_per_step=4, group_size=4, eval_every=2),
                    tokenizer=tok, eval_set=tasks.eval_problems()[:8])
    assert_on(model, device)
    assert len(h0["step"]) == 2 and finite(h0["loss"])


@pytest.mark.parametrize("device", DEVICES)
def test_pretraining_and_sft_train_on_the_models_device(device):
    from course_lib.lm.train import TrainConfig, new_model, pretrain, sft

    tok = tasks.make_tokenizer()
    model = new_model(tok, seed=0, n_layer=1, n_embd=16, n_head=2).to(device)
    hp = pretrain(model, tok, TrainConfig(steps=2, batch_size=4, warmup=1), documents=tasks.pretraining_documents)
    hs = sft(model, tok, tasks.sft_examples(8, seed=1), TrainConfig(steps=2, batch_size=4, warmup=1))
    assert_on(model, device)
    assert finite(hp["loss"]) and finite(hs["loss"])


@pytest.mark.parametrize("device", DEVICES)
def test_reward_model_rlhf_and_dpo_train_on_the_models_device(device):
    from course_lib.rlhf import preferences
    from course_lib.rlhf.reward_model import RewardModel, RewardModelConfig, train_reward_model
    from course_lib.rewards import r1_reward
    from course_lib.rlhf import RLHFConfig, train_rlhf
    from course_lib.rlhf.dpo import DPOConfig, train_dpo

    pairs = preferences.load_pairs("train")[:16]
    ev = tasks.eval_problems()[:8]
    rm = RewardModel.from_sft().to(device)
    hr = train_reward_model(rm, pairs, pairs[:8], RewardModelConfig(steps=2, batch_size=8))
    assert_on(rm, device)
    assert finite(hr["loss"])

    policy, tok, _ = load_shipped("sft")
    h = train_rlhf(policy.to(device), rm, RLHFConfig(steps=1, prompts_per_step=4, eval_every=1), tokenizer=tok,
                   eval_set=ev)
    assert_on(policy, device)
    assert len(h["step"]) == 1 and finite(h["value_loss"]) and finite(h["kl"])
    h = train_rlhf(load_shipped("sft")[0].to(device), r1_reward, RLHFConfig(steps=1, prompts_per_step=4,
                                                                             eval_every=1),
                   tokenizer=tok, eval_set=ev)
    assert len(h["step"]) == 1

    policy = load_shipped("sft")[0].to(device)
    hd = train_dpo(policy, pairs, DPOConfig(steps=2, batch_size=8), tokenizer=tok, eval_set=ev)
    assert_on(policy, device)
    assert len(hd["step"]) == 2 and finite(hd["loss"])


@pytest.mark.parametrize("device", DEVICES)
def test_cartpole_trainers_run_on_the_configured_device(device):
    from course_lib.policy_gradient import REINFORCEConfig, new_nets, reinforce
    from course_lib.ppo import ActorCritic, PPOConfig, train_ppo

    cfg = REINFORCEConfig(n_iterations=2, episodes_per_batch=2, measure_variance=False, device=device)
    policy, value = new_nets(cfg)
    assert_on(policy, device)
    assert_on(value, device)
    h = reinforce(policy, cfg, value=value)
    assert len(h["batch_mean_return"]) == 2
    assert_on(policy, device)
    cfg = PPOConfig(total_steps=512, n_steps=64, n_envs=4, eval_every=0, device=device)
    agent = ActorCritic.for_env("CartPole-v1", cfg)
    h = train_ppo(agent, "CartPole-v1", cfg)
    assert_on(agent, device)
    assert len(h["env_steps"]) >= 1
