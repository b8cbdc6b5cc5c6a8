"""The run contract: every trainer is train_x(model(s) and data…, cfg, *, run=None), the config owns the seed,
and a trainer leaves the caller's global random generators alone."""
from __future__ import annotations

import dataclasses
import inspect
import random

import numpy as np
import pytest
import torch

from course_lib import tasks
from course_lib.core import seeded
from course_lib.experiments.sb3 import train_sb3
from course_lib.grpo import GRPOConfig, train_grpo
from course_lib.lm.train import TrainConfig, new_model, pretrain, sft
from course_lib.policy_gradient import REINFORCEConfig, new_nets, reinforce
from course_lib.ppo import ActorCritic, PPOConfig, train_ppo
from course_lib.rlhf.reward_model import RewardModelConfig, train_reward_model
from course_lib.rlhf import RLHFConfig, train_rlhf
from course_lib.rlhf.dpo import DPOConfig, train_dpo
from course_lib.runs import History, RunOptions

# trainer -> (its config class, what it returns)
TRAINERS = {
    train_grpo: (GRPOConfig, "History"),
    train_rlhf: (RLHFConfig, "History"),
    train_dpo: (DPOConfig, "History"),
    train_reward_model: (RewardModelConfig, "History"),
    pretrain: (TrainConfig, "History"),
    sft: (TrainConfig, "History"),
    train_ppo: (PPOConfig, "History"),  # trains the caller's ActorCritic.for_env(env, cfg) in place
    train_sb3: (PPOConfig, None),  # Stable-Baselines3's PPO under the same contract: (SB3 model, History)
    reinforce: (REINFORCEConfig, "History"),  # trains the caller's policy (and value net, keyword-only)
}
# the options that belong to RunOptions and nowhere else
RUN_OPTIONS = {f.name for f in dataclasses.fields(RunOptions)}
OLD_SPELLINGS = {"num_threads", "progress", "max_seconds", "time_budget", "log", "seed", "threads"}


@pytest.mark.parametrize("trainer", list(TRAINERS), ids=lambda f: f.__name__)
def test_every_trainer_has_the_contracts_signature(trainer):
    cfg_cls, returns = TRAINERS[trainer]
    params = inspect.signature(trainer).parameters
    run = params.get("run")
    assert run is not None and run.kind is inspect.Parameter.KEYWORD_ONLY and run.default is None, \
        f"{trainer.__name__} must take run: RunOptions | None = None as a keyword-only argument"
    assert "RunOptions" in str(run.annotation)
    positional = [p for p in params.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert positional[-1].name in ("cfg", "config"), \
        f"{trainer.__name__}: the config is the last positional argument, got {[p.name for p in positional]}"
    assert cfg_cls.__name__ in str(positional[-1].annotation)
    assert not OLD_SPELLINGS & set(params), \
        f"{trainer.__name__} spells run options as its own arguments: {sorted(OLD_SPELLINGS & set(params))}"
    if returns is not None:
        assert str(inspect.signature(trainer).return_annotation) == returns


def test_the_config_owns_the_seed():
    assert "seed" not in RUN_OPTIONS
    for cfg_cls, _ in TRAINERS.values():
        assert "seed" in {f.name for f in dataclasses.fields(cfg_cls)}, f"{cfg_cls.__name__} has no seed field"


def test_history_has_one_construction():
    assert not hasattr(History, "from_series")
    h = History(updates=("step",), evals=("eval_step",), config={})
    h.record("updates", {"step": 1})
    with pytest.raises(ValueError, match="not a per-update series"):
        h.record("updates", {"eval_step": 1})


def test_a_trainer_refuses_run_options_that_are_not_runoptions():
    with pytest.raises(ValueError, match="run must be a RunOptions"):
        cfg = PPOConfig(total_steps=64, n_envs=2, n_steps=32)
        train_ppo(ActorCritic.for_env("CartPole-v1", cfg), "CartPole-v1", cfg, run={"threads": 1})
    with pytest.raises(ValueError, match="run must be a RunOptions"):
        cfg = REINFORCEConfig(n_iterations=1, episodes_per_batch=2)
        policy, value = new_nets(cfg)
        reinforce(policy, cfg, value=value, run=3)


def test_train_ppo_leaves_the_callers_global_generators_alone():
    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    cfg = PPOConfig(total_steps=128, n_envs=2, n_steps=64, seed=7)
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    policy = ActorCritic.for_env("CartPole-v1", cfg)  # the network's weights come from cfg.seed
    h = train_ppo(policy, "CartPole-v1", cfg)
    assert draws() == expected
    # and the run does not depend on them: the same seed gives the same network
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    again = ActorCritic.for_env("CartPole-v1", cfg)
    h2 = train_ppo(again, "CartPole-v1", cfg)
    for p, q in zip(policy.parameters(), again.parameters()):
        assert torch.equal(p, q)
    assert h["policy_loss"] == h2["policy_loss"]


def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def _lm_stages(tok):
    """A tiny model built, pretrained and fine-tuned, each seeded by its own config."""
    model = new_model(tok, seed=3, n_layer=1, n_embd=16, n_head=2)
    hp = pretrain(model, tok, TrainConfig(steps=3, batch_size=4, warmup=1, seed=5), documents=tasks.pretraining_documents)
    hs = sft(model, tok, tasks.sft_examples(8, seed=1), TrainConfig(steps=3, batch_size=4, warmup=1, seed=6))
    return model, hp, hs


def test_the_lm_trainers_leave_the_callers_global_generators_alone():
    tok = tasks.make_tokenizer()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = _draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    model, hp, hs = _lm_stages(tok)
    assert _draws() == expected, "new_model, pretrain or sft reseeded or drew from the caller's global generators"
    # and the stages do not depend on them: the configs' seeds alone decide the run
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    again, hp2, hs2 = _lm_stages(tok)
    assert hp["loss"] == hp2["loss"] and hs["loss"] == hs2["loss"]
    for p, q in zip(model.parameters(), again.parameters()):
        assert torch.equal(p, q)


def test_reinforce_leaves_the_callers_global_generators_alone():
    cfg = REINFORCEConfig(n_iterations=2, episodes_per_batch=2, seed=4)
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = _draws()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    policy, value = new_nets(cfg)
    h = reinforce(policy, cfg, value=value)
    assert _draws() == expected
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    policy2, value2 = new_nets(cfg)
    assert reinforce(policy2, cfg, value=value2)["episode_return"] == h["episode_return"]


def test_seeded_is_the_seeds_stream_and_restores_the_callers():
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    with seeded(3):
        a = torch.rand(4)
    assert torch.equal(torch.rand(2), expected)  # the caller's stream continues as if the block had not run
    torch.manual_seed(99)
    with seeded(3):
        assert torch.equal(torch.rand(4), a)  # the block's stream is the seed's, whatever the caller's state
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        with seeded(-1):
            pass
