"""REINFORCE, reward-to-go and the measured gradient variance (course_lib.policy_gradient)."""
import dataclasses

import numpy as np
import pytest
import torch

from course_lib.policy_gradient import (REINFORCEConfig, compare_gradient_variance, gradient_variance,
                                        mean_last_returns, new_nets, per_episode_gradients, policy_gradient_loss,
                                        reinforce, reward_to_go)
from course_lib.runs import History


def train(cfg):
    """(policy, value, History) of one seeded run, the way notebook 03 calls it."""
    policy, value = new_nets(cfg)
    return policy, value, reinforce(policy, cfg, value=value)


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_reward_to_go_by_hand():
    np.testing.assert_allclose(reward_to_go([1, 1, 1]), [3, 2, 1])
    np.testing.assert_allclose(reward_to_go([1, 2, 3], 0.5), [2.75, 3.5, 3.0])


def test_policy_gradient_loss_by_hand_and_its_gradient():
    logp = torch.tensor([-0.5, -1.0], requires_grad=True)
    ret = torch.tensor([2.0, 4.0])
    base = torch.tensor([1.0, 1.0])
    loss = policy_gradient_loss(logp, ret, base)  # −mean([-0.5·1, −1·3]) = 1.75
    assert loss.item() == pytest.approx(1.75)
    loss.backward()
    np.testing.assert_allclose(logp.grad.numpy(), [-0.5, -1.5])  # −(G − b)/N
    # the weights are constants: no gradient flows into them
    ret2 = torch.tensor([2.0, 4.0], requires_grad=True)
    policy_gradient_loss(torch.tensor([-0.5, -1.0], requires_grad=True), ret2).backward()
    assert ret2.grad is None
    assert policy_gradient_loss(torch.tensor([-0.5, -1.0]), ret).item() == pytest.approx(2.5)  # −mean([−1, −4])


def test_per_episode_gradients_match_autograd():
    cfg = REINFORCEConfig(n_iterations=1, episodes_per_batch=3, measure_variance=False, seed=5)
    policy, _, _ = train(cfg)
    from course_lib.policy_gradient import collect_episodes
    import gymnasium as gym
    envs = [gym.make("CartPole-v1") for _ in range(3)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    batch = collect_episodes(envs, policy, 0.99, torch.Generator().manual_seed(0))
    g = per_episode_gradients(policy, batch, batch.rtg)
    # episode 1 by plain autograd
    m = batch.episode == 1
    logp = torch.log_softmax(policy(batch.obs[m]), -1).gather(1, batch.actions[m, None]).squeeze(1)
    policy.zero_grad()
    (logp * batch.rtg[m]).sum().backward()
    flat = torch.cat([p.grad.reshape(-1) for p in policy.parameters()])
    torch.testing.assert_close(g[1], flat, rtol=1e-4, atol=1e-4)
    assert gradient_variance(policy, batch, batch.rtg) > 0


def test_reinforce_with_baseline_solves_cartpole():
    _, _, h = train(REINFORCEConfig(baseline=True, seed=0, n_iterations=60))
    assert isinstance(h, History) and h["solved_at"] is not None, h["batch_mean_return"]
    assert mean_last_returns(h, 100) >= 195.0
    assert len(h["grad_variance"]) == len(h["batch_mean_return"]) == h["solved_at"] + 1
    assert h["batch_mean_return"][0] < 50  # it started from a random policy: it learned
    assert h.updates.keys() == {"iteration", "batch_mean_return", "env_steps", "train_seconds", "grad_variance"}
    assert h.episodes.keys() == {"episode_return"} and h["config"].seed == 0
    # same seed, same run
    _, _, again = train(REINFORCEConfig(baseline=True, seed=0, n_iterations=3))
    np.testing.assert_array_equal(again["episode_return"], h["episode_return"][: len(again["episode_return"])])
    assert again["solved_at"] is None


def test_baseline_reduces_the_gradient_variance():
    cfg = REINFORCEConfig(baseline=True, seed=1, n_iterations=15, target_return=None, measure_variance=False)
    policy, value, h = train(cfg)
    assert "grad_variance" not in h  # not measured: no such series
    out = compare_gradient_variance(policy, value, cfg, n_episodes=16, seed=7)
    assert out["baseline"] < out["no_baseline"] and out["ratio"] > 1.5


def test_without_baseline_learns_too():
    _, value, h = train(REINFORCEConfig(baseline=False, seed=0, n_iterations=25, target_return=None))
    assert value is None
    assert np.mean(h["batch_mean_return"][-3:]) > 2 * np.mean(h["batch_mean_return"][:3])


def test_the_run_is_the_configs_whatever_the_callers_generators():
    cfg = REINFORCEConfig(baseline=True, seed=3, n_iterations=2, episodes_per_batch=4)
    torch.manual_seed(1)
    p1, v1, h1 = train(cfg)
    torch.manual_seed(2)
    p2, v2, h2 = train(cfg)
    assert h1["episode_return"] == h2["episode_return"] and h1["grad_variance"] == h2["grad_variance"]
    for a, b in zip([*p1.parameters(), *v1.parameters()], [*p2.parameters(), *v2.parameters()]):
        assert torch.equal(a, b)
    # the networks are the caller's: reinforce trains the very modules it was given
    p3, v3 = new_nets(cfg)
    before = [p.detach().clone() for p in p3.parameters()]
    reinforce(p3, cfg, value=v3)
    assert any(not torch.equal(a, b) for a, b in zip(before, p3.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(p3.parameters(), p1.parameters()))


@pytest.mark.parametrize("field,value,match", [
    ("gamma", 1.5, "gamma must lie in"),
    ("lr", 0.0, "lr must be a positive number"),
    ("value_lr", -1.0, "value_lr must be a positive number"),
    ("hidden", 0, "hidden must be a positive integer"),
    ("episodes_per_batch", 1, "episodes_per_batch must be at least 2"),
    ("n_iterations", 2.5, "n_iterations must be a positive integer"),
    ("seed", -3, "seed must be a non-negative integer"),
    ("env_id", "MountainCarContinuous-v0", "env_id must name an env with Box observations and Discrete actions"),
])
def test_config_validation(field, value, match):
    with pytest.raises(ValueError, match=match):
        new_nets(dataclasses.replace(REINFORCEConfig(), **{field: value}))


def test_other_validation_errors():
    cfg = REINFORCEConfig(n_iterations=1, episodes_per_batch=2)
    policy, value = new_nets(cfg)
    with pytest.raises(ValueError, match="cfg must be a REINFORCEConfig"):
        reinforce(policy, {"lr": 0.1}, value=value)
    with pytest.raises(ValueError, match="cfg must be a REINFORCEConfig"):
        new_nets({"lr": 0.1})
    with pytest.raises(ValueError, match="value must be the value net V"):
        reinforce(policy, cfg)
    with pytest.raises(ValueError, match="value must be None when cfg.baseline is False"):
        reinforce(policy, dataclasses.replace(cfg, baseline=False), value=value)
    with pytest.raises(ValueError, match="policy must be a torch nn.Module"):
        reinforce("mlp", cfg, value=value)
    with pytest.raises(ValueError, match=r"policy must map \(B, 4\) observations to \(B, 2\)"):
        reinforce(value, cfg, value=value)  # a value net (B, 1) is no policy for two actions
    with pytest.raises(ValueError, match=r"value must map \(B, 4\) observations to \(B, 1\)"):
        reinforce(policy, cfg, value=policy)
    with pytest.raises(ValueError, match=r"policy must map \(B, 4\)"):
        reinforce(torch.nn.Linear(3, 2), cfg, value=value)  # built for another env
    with pytest.raises(ValueError, match="logp and returns must be 1-D with the same shape"):
        policy_gradient_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="baseline must have the shape of logp"):
        policy_gradient_loss(torch.zeros(3), torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="rewards must be a 1-D sequence"):
        reward_to_go([[1.0]])
    with pytest.raises(ValueError, match="value must be the value net of a run with baseline=True"):
        compare_gradient_variance(policy, None, cfg)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        mean_last_returns(History(episodes=("episode_return",)), 0)
    assert np.isnan(mean_last_returns(History(episodes=("episode_return",))))


def test_policy_gradient_figures():
    from matplotlib.figure import Figure

    from course_lib.plotting.policy_gradient import reinforce_runs, return_distribution, variance_comparison
    trained = [train(REINFORCEConfig(seed=s, n_iterations=2, episodes_per_batch=4)) for s in (0, 1)]
    runs = {"baseline": [h for _, _, h in trained],
            "none": [train(REINFORCEConfig(seed=0, n_iterations=2, episodes_per_batch=4, baseline=False))[2]]}
    assert isinstance(reinforce_runs(runs), Figure)
    policy, value, h = trained[0]
    m = compare_gradient_variance(policy, value, h["config"], n_episodes=4)
    assert isinstance(variance_comparison([dict(m, seed=0), m]), Figure)
    assert isinstance(return_distribution([reward_to_go([1.0] * 5), reward_to_go([1.0] * 3)]), Figure)
    with pytest.raises(ValueError, match="runs must be a non-empty dict"):
        reinforce_runs({})
    with pytest.raises(ValueError, match="measurements must be a non-empty list"):
        variance_comparison([])
