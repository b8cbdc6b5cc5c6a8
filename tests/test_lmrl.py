"""The shared layer for RL on the language model: rollouts, masked objectives, token GAE."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import tasks
from course_lib.lm import load_shipped
from course_lib.lmrl import (RolloutBatch, aggregate_token_loss, clipped_surrogate, kl_k3, masked_mean,
                             masked_whiten, sample_rollouts, token_gae)
from course_lib.ppo import approx_kl, gae
from course_lib.rewards import accuracy_reward, r1_reward


@pytest.fixture(scope="module")
def sft():
    model, tok, _ = load_shipped("sft")
    return model, tok


def _batch(sft, n=6, G=4, seed=0, reward=r1_reward):
    model, tok = sft
    probs = tasks.sample_problems(n, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    return sample_rollouts(model, tok, [p.prompt for p in probs], group_size=G, max_new_tokens=4,
                           temperature=1.0, generator=gen, reward_fn=reward,
                           columns={"answer": [p.answer for p in probs]}, metrics={"accuracy": accuracy_reward})


def test_sample_rollouts_groups_are_consecutive_and_scored(sft):
    b = _batch(sft)
    assert len(b) == 24 and b.n_groups == 6 and b.group_size == 4
    assert b.prompts[:4] == [b.prompts[0]] * 4
    assert b.columns["answer"][0:4] == [b.columns["answer"][0]] * 4
    assert b.rewards.shape == (24,) and b.rewards.dtype == torch.float32
    expected = r1_reward(b.texts, answer=b.columns["answer"], finished=b.finished.tolist())
    assert b.rewards.tolist() == expected
    assert b.scores["accuracy"] == accuracy_reward(b.texts, answer=b.columns["answer"], finished=b.finished.tolist())
    assert torch.equal(b.lengths(), b.mask.sum(1))


def test_recomputed_logprobs_equal_the_sampling_logprobs(sft):
    model, _ = sft
    b = _batch(sft)
    with torch.no_grad():
        logp = b.token_logprobs(model)
    assert torch.allclose(logp[b.mask], b.logprobs[b.mask], atol=1e-5)
    assert (logp[~b.mask] == 0).all()


def test_select_groups_and_concat_round_trip(sft):
    b = _batch(sft)
    keep = torch.tensor([True, False, True, False, False, True])
    sub = b.select_groups(keep)
    assert len(sub) == 12 and sub.texts == b.texts[0:4] + b.texts[8:12] + b.texts[20:24]
    other = b.select_groups(~keep)
    both = RolloutBatch.concat([sub, other])
    assert len(both) == 24 and sorted(both.texts) == sorted(b.texts)
    model, _ = sft
    with torch.no_grad():  # log-probs survive re-padding: the model sees the same real tokens
        lp = both.token_logprobs(model)
    assert torch.allclose(lp[both.mask], both.logprobs[both.mask], atol=1e-5)
    with pytest.raises(ValueError, match="keep must have shape"):
        b.select_groups(torch.tensor([True]))


def test_trimmed_drops_only_all_padding_columns_and_keeps_the_logprobs(sft):
    model, tok = sft
    # prompts of different lengths, two groups: trimming keeps what some row uses
    batch = sample_rollouts(model, tok, ["1+2=", "12+34="], group_size=2, max_new_tokens=4, temperature=0.7,
                            generator=torch.Generator().manual_seed(1), reward_fn=r1_reward,
                            columns={"answer": [3, 46]})
    short = batch.select_groups(torch.tensor([True, False]))
    t = short.trimmed()
    assert t.prompt_len == len(tok.encode("1+2=", bos=True)) and t.mask.shape[1] == int(short.lengths().max())
    assert torch.equal(t.completions[t.mask], short.completions[short.mask])
    with torch.no_grad():
        assert torch.allclose(t.token_logprobs(model), short.token_logprobs(model)[:, :t.mask.shape[1]], atol=1e-5)
    assert batch.trimmed().tokens.shape[1] <= batch.tokens.shape[1]


def test_reward_must_return_one_finite_number_per_completion(sft):
    with pytest.raises(ValueError, match="one finite number per completion"):
        _batch(sft, reward=lambda completions, **kw: [1.0])
    with pytest.raises(ValueError, match="one finite number per completion"):
        _batch(sft, reward=lambda completions, **kw: [float("nan")] * len(completions))
    with pytest.raises(ValueError, match="one finite number per completion"):
        _batch(sft, reward=lambda completions, **kw: ["good"] * len(completions))


def test_clipped_surrogate_masked_token_mean_equals_plain_mean_of_real_entries():
    g = torch.Generator().manual_seed(0)
    ratio = torch.rand(3, 5, generator=g) + 0.5
    adv = torch.randn(3, 1, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).bool()
    full = adv.expand(3, 5)
    expected = clipped_surrogate(ratio[mask], full[mask], 0.2)  # PPO's plain mean over the real samples
    got = clipped_surrogate(ratio, adv, 0.2, mask=mask, aggregation="token_mean")
    assert torch.allclose(got, expected)
    # padding holding garbage changes nothing
    ratio2 = ratio.clone()
    ratio2[~mask] = 1e6
    assert torch.allclose(clipped_surrogate(ratio2, adv, 0.2, mask=mask, aggregation="token_mean"), expected)


def test_clip_higher_only_moves_the_upper_bound():
    ratio = torch.tensor([0.5, 1.25, 1.5])
    adv = torch.tensor([-1.0, 1.0, 1.0])
    sym = clipped_surrogate(ratio, adv, 0.2)
    high = clipped_surrogate(ratio, adv, 0.2, eps_high=0.28)
    # lower clip 0.8 for the negative advantage both times; the upper clip rises from 1.2 to 1.28
    assert sym.item() == pytest.approx(-(-0.8 + 1.2 + 1.2) / 3)
    assert high.item() == pytest.approx(-(-0.8 + 1.25 + 1.28) / 3)


def test_aggregations_use_papers_names_as_aliases():
    loss = torch.tensor([[2.0, 9.0], [1.0, 3.0]])
    mask = torch.tensor([[1, 0], [1, 1]])
    for alias, name in (("grpo", "seq_mean"), ("dapo", "token_mean")):
        assert aggregate_token_loss(loss, mask, alias) == aggregate_token_loss(loss, mask, name)
    assert aggregate_token_loss(loss, mask, "dr_grpo", 5) == aggregate_token_loss(loss, mask, "constant", 5)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        aggregate_token_loss(loss, mask, "sum")


def test_approx_kl_is_the_mean_k3():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(10, generator=g), torch.randn(10, generator=g)
    assert torch.allclose(approx_kl(a, b), kl_k3(b, a).mean())


def test_masked_mean_and_whiten_ignore_padding():
    x = torch.tensor([[1.0, 3.0, float("nan")], [5.0, float("inf"), 0.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]]).bool()
    assert masked_mean(x, mask).item() == pytest.approx(3.0)
    w = masked_whiten(x, mask)
    assert torch.isfinite(w).all() and (w[~mask] == 0).all()
    assert w[mask].mean().item() == pytest.approx(0.0, abs=1e-6)
    assert w[mask].std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="at least one"):
        masked_whiten(x, torch.zeros_like(mask))


def test_token_gae_hand_worked_and_properties():
    r = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    v = torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.4, 9.0]])
    m = torch.tensor([[1, 1, 1], [1, 1, 0]]).bool()
    adv, ret = token_gae(r, v, m, gamma=1.0, lam=1.0)
    # λ = 1, γ = 1: the return is the sum of the rewards still to come; padding gets nothing
    assert torch.allclose(ret, torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 0.0]]))
    assert torch.allclose(adv, torch.tensor([[0.5, 0.8, 0.9], [1.7, 1.6, 0.0]]))
    # λ = 0: the TD errors r_t + V(s_{t+1}) − V(s_t), with no bootstrap after the last real token
    adv0, _ = token_gae(r, v, m, gamma=1.0, lam=0.0)
    assert torch.allclose(adv0, torch.tensor([[-0.3, -0.1, 0.9], [0.1, 1.6, 0.0]]))
    # the same as ppo.gae on each row taken as one episode
    a_row, _ = gae(r[0].numpy(), v[0].numpy(), np.r_[v[0, 1:].numpy(), 0.0], [0, 0, 1], [0, 0, 0], 1.0, 0.95)
    assert np.allclose(token_gae(r, v, m, 1.0, 0.95)[0][0].numpy(), a_row)
    with pytest.raises(ValueError, match="prefix"):
        token_gae(r, v, torch.tensor([[1, 0, 1], [1, 1, 0]]).bool())
    with pytest.raises(ValueError, match="values must be"):
        token_gae(r, v[:, :2], m)


def test_run_contract_history_groups_and_options():
    from course_lib.grpo import GRPOConfig, train_grpo
    from course_lib.ppo import ActorCritic, PPOConfig, train_ppo
    from course_lib.runs import History, RunOptions

    model, tok, _ = load_shipped("sft")
    seen = []
    h = train_grpo(model, GRPOConfig(steps=50, prompts_per_step=4, eval_every=100, seed=3), tokenizer=tok,
                   eval_set=tasks.eval_problems()[:20],
                   run=RunOptions(max_seconds=0.3, eval_every=2, log=seen.append))
    assert isinstance(h, History) and h["config"]["seed"] == 3 and h["config"]["eval_every"] == 2
    assert 1 <= len(h["step"]) < 50 and len(seen) == len(h["step"])  # stopped by the budget, logged every step
    assert set(h.updates) >= {"step", "reward", "loss"} and set(h.evals) >= {"eval_step", "eval_accuracy",
                                                                              "eval_format_rate"}
    assert h.episodes == {} and 0 < h.train_seconds
    pcfg = PPOConfig(total_steps=4096, eval_every=0, seed=1)
    hp = train_ppo(ActorCritic.for_env("CartPole-v1", pcfg), "CartPole-v1", pcfg, run=RunOptions(max_seconds=1e-3))
    assert isinstance(hp, History) and len(hp["env_steps"]) == 1 and hp["seed"] == 1
    assert set(hp.episodes) == {"episode_steps", "episode_seconds", "episode_returns", "episode_lengths",
                                "episode_terminated"}
    assert hp.train_seconds == hp["train_seconds"][-1]
    for bad, match in ((dict(threads=0), "threads"), (dict(max_seconds=float("inf")), "max_seconds"),
                       (dict(log="print"), "log"), (dict(eval_every=-1), "eval_every")):
        with pytest.raises(ValueError, match=match):
            RunOptions(**bad)
    with pytest.raises(ValueError, match="run must be a RunOptions"):
        train_grpo(model, GRPOConfig(), run={"threads": 1})


def test_reinforce_and_pretraining_share_the_run_contract():
    from course_lib.policy_gradient import REINFORCEConfig, new_nets, reinforce
    from course_lib.runs import History, RunOptions

    seen = []
    cfg = REINFORCEConfig(n_iterations=3, episodes_per_batch=2, measure_variance=False, seed=5)
    policy, value = new_nets(cfg)
    h = reinforce(policy, cfg, value=value, run=RunOptions(log=seen.append))
    assert h["config"].seed == 5 and isinstance(h, History) and len(seen) == 3
    assert h["batch_mean_return"] == [rec["batch_mean_return"] for rec in seen]
    assert len(h.episodes["episode_return"]) == 6
    with pytest.raises(ValueError, match="device must be"):
        REINFORCEConfig(device="tpu")


def test_the_lm_trainers_of_notebooks_06_and_07_share_the_run_contract():
    from course_lib.rlhf import preferences
    from course_lib.rlhf.reward_model import RewardModel, RewardModelConfig, train_reward_model
    from course_lib.rewards import r1_reward
    from course_lib.rlhf import RLHFConfig, train_rlhf
    from course_lib.rlhf.dpo import DPOConfig, train_dpo
    from course_lib.runs import History, RunOptions

    policy, tok, _ = load_shipped("sft")
    ev = tasks.eval_problems()[:16]
    seen = []
    h = train_rlhf(policy, r1_reward, RLHFConfig(steps=2, prompts_per_step=8, eval_every=2, seed=1), tokenizer=tok,
                   eval_set=ev, run=RunOptions(log=seen.append))
    assert isinstance(h, History) and len(seen) == 2 and "eval_accuracy" in h.evals and "step" in h.updates
    pairs = preferences.load_pairs("train")[:32]
    hd = train_dpo(load_shipped("sft")[0], pairs, DPOConfig(steps=2, batch_size=8, seed=2), tokenizer=tok, eval_set=ev,
                   run=RunOptions())
    assert isinstance(hd, History) and hd["config"]["seed"] == 2
    hr = train_reward_model(RewardModel.from_sft(), pairs, pairs[:8], RewardModelConfig(steps=2, batch_size=8, seed=3),
                            run=RunOptions())
    assert isinstance(hr, History) and "val_accuracy" in hr.evals and "loss" in hr.updates
