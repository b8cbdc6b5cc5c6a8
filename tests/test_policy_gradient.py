"""REINFORCE, reward-to-go and the measured gradient variance (course_lib.policy_gradient)."""
import dataclasses

import numpy as np
import pytest
import torch

from course_lib.policy_gradient import (REINFORCEConfig, compare_gradient_variance, gradient_variance,
                                        per_episode_gradients, policy_gradient_loss, reinforce,
                                        reward_to_go)


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
    res = reinforce(cfg)
    from course_lib.policy_gradient import collect_episodes
    import gymnasium as gym
    envs = [gym.make("CartPole-v1") for _ in range(3)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
    batch = collect_episodes(envs, res.policy, 0.99, torch.Generator().manual_seed(0))
    g = per_episode_gradients(res.policy, batch, batch.rtg)
    # episode 1 by plain autograd
    m = batch.episode == 1
    logp = torch.log_softmax(res.policy(batch.obs[m]), -1).gather(1, batch.actions[m, None]).squeeze(1)
    res.policy.zero_grad()
    (logp * batch.rtg[m]).sum().backward()
    flat = torch.cat([p.grad.reshape(-1) for p in res.policy.parameters()])
    torch.testing.assert_close(g[1], flat, rtol=1e-4, atol=1e-4)
    assert gradient_variance(res.policy, batch, batch.rtg) > 0


def test_reinforce_with_baseline_solves_cartpole():
    res = reinforce(REINFORCEConfig(baseline=True, seed=0, n_iterations=60))
    assert res.solved_at is not None, res.batch_mean_returns
    assert res.last_mean(100) >= 195.0
    assert len(res.grad_variance) == len(res.batch_mean_returns) == res.solved_at + 1
    assert res.batch_mean_returns[0] < 50  # it started from a random policy: it learned
    # same seed, same run
    again = reinforce(REINFORCEConfig(baseline=True, seed=0, n_iterations=3))
    np.testing.assert_array_equal(again.returns, res.returns[: len(again.returns)])


def test_baseline_reduces_the_gradient_variance():
    res = reinforce(REINFORCEConfig(baseline=True, seed=1, n_iterations=15, target_return=None,
                                    measure_variance=False))
    out = compare_gradient_variance(res, n_episodes=16, seed=7)
    assert out["baseline"] < out["no_baseline"] and out["ratio"] > 1.5


def test_without_baseline_learns_too():
    res = reinforce(REINFORCEConfig(baseline=False, seed=0, n_iterations=25, target_return=None))
    assert res.value is None
    assert np.mean(res.batch_mean_returns[-3:]) > 2 * np.mean(res.batch_mean_returns[:3])


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
        reinforce(dataclasses.replace(REINFORCEConfig(), **{field: value}))


def test_other_validation_errors():
    with pytest.raises(ValueError, match="config must be a REINFORCEConfig"):
        reinforce({"lr": 0.1})
    with pytest.raises(ValueError, match="logp and returns must be 1-D with the same shape"):
        policy_gradient_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="baseline must have the shape of logp"):
        policy_gradient_loss(torch.zeros(3), torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="rewards must be a 1-D sequence"):
        reward_to_go([[1.0]])
    res = reinforce(REINFORCEConfig(baseline=False, n_iterations=1, episodes_per_batch=2))
    with pytest.raises(ValueError, match="result must come from a run with baseline=True"):
        compare_gradient_variance(res)


def test_policy_gradient_figures():
    from matplotlib.figure import Figure

    from course_lib.plotting.policy_gradient import reinforce_runs, return_distribution, variance_comparison
    runs = {"baseline": [reinforce(REINFORCEConfig(seed=s, n_iterations=2, episodes_per_batch=4)) for s in (0, 1)],
            "none": [reinforce(REINFORCEConfig(seed=0, n_iterations=2, episodes_per_batch=4, baseline=False))]}
    assert isinstance(reinforce_runs(runs), Figure)
    m = compare_gradient_variance(runs["baseline"][0], n_episodes=4)
    assert isinstance(variance_comparison([dict(m, seed=0), m]), Figure)
    assert isinstance(return_distribution([reward_to_go([1.0] * 5), reward_to_go([1.0] * 3)]), Figure)
    with pytest.raises(ValueError, match="runs must be a non-empty dict"):
        reinforce_runs({})
    with pytest.raises(ValueError, match="measurements must be a non-empty list"):
        variance_comparison([])
