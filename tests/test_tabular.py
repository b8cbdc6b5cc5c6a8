"""Tabular prediction and control (course_lib.tabular)."""
import gymnasium as gym
import numpy as np
import pytest

from course_lib.mdp.gridworld import GridWorld, cliff_gridworld, two_rewards_gridworld
from course_lib.mdp import policy_evaluation_exact, value_iteration
from course_lib.tabular import (epsilon_greedy, epsilon_greedy_probs, epsilon_sweep, greedy_return,
                                mc_prediction, q_learning, q_learning_update, sarsa, sarsa_update,
                                td0_prediction, td0_update)


def small_grid():
    # deterministic 3x4 grid, +1 top right, −1 below it, step cost 0.04
    return GridWorld(shape=(3, 4), terminals={(0, 3): 1.0, (1, 3): -1.0}, walls=[(1, 1)],
                     start=(2, 0), step_cost=0.04, max_steps=50)


# -- the one-step updates, by hand ---------------------------------------------------------------

def test_td0_update_by_hand():
    V = np.array([0.0, 1.0, 2.0])
    out = td0_update(V, 0, 1.0, 1, False, 0.5, 0.9)  # 0 + 0.5 * (1 + 0.9*1 − 0) = 0.95
    np.testing.assert_allclose(out, [0.95, 1.0, 2.0])
    assert V[0] == 0.0  # pure: the input is not changed
    np.testing.assert_allclose(td0_update(V, 1, -1.0, 2, True, 0.1, 0.9), [0.0, 0.8, 2.0])


def test_sarsa_and_q_learning_updates_by_hand():
    Q = np.array([[0.0, 1.0], [2.0, -1.0]])
    # SARSA bootstraps from the action taken next (a' = 1): 0 + 0.5 (1 + 0.9·(−1) − 0) = 0.05
    assert sarsa_update(Q, 0, 0, 1.0, 1, 1, False, 0.5, 0.9)[0, 0] == pytest.approx(0.05)
    # Q-learning from the best next action: 0 + 0.5 (1 + 0.9·2 − 0) = 1.4
    assert q_learning_update(Q, 0, 0, 1.0, 1, False, 0.5, 0.9)[0, 0] == pytest.approx(1.4)
    assert q_learning_update(Q, 0, 0, 1.0, 1, True, 0.5, 0.9)[0, 0] == pytest.approx(0.5)


def test_epsilon_greedy_probs():
    np.testing.assert_allclose(epsilon_greedy_probs([1, 3, 2, 0], 0.2), [0.05, 0.85, 0.05, 0.05])
    np.testing.assert_allclose(epsilon_greedy_probs([1, 1, 0], 0.3), [0.45, 0.45, 0.1])
    rng = np.random.default_rng(0)
    picks = [epsilon_greedy([0.0, 5.0, 1.0], 0.3, rng) for _ in range(4000)]
    np.testing.assert_allclose(np.bincount(picks, minlength=3) / 4000, [0.1, 0.8, 0.1], atol=0.02)


# -- prediction ---------------------------------------------------------------------------------

def test_mc_and_td_converge_to_the_exact_values():
    g = two_rewards_gridworld()
    mdp = g.to_mdp()
    pi = np.full((mdp.n_states, 4), 0.25)
    V_true = policy_evaluation_exact(mdp, None, pi, 0.9)
    s0 = g.state_of(g.start)
    mc = mc_prediction(g, pi, 0.9, n_episodes=600, seed=0)
    td = td0_prediction(g, pi, 0.9, alpha=0.05, n_episodes=600, seed=0)
    for hist in (mc, td):
        err = np.abs(hist.snapshots[:, s0] - V_true[s0])
        assert err[-1] < 0.15 and err[-50:].mean() < err[:10].mean()
        assert hist.snapshots.shape == (600, mdp.n_states)
        assert len(hist.returns) == len(hist.lengths) == 600


def test_runs_are_seeded():
    g = two_rewards_gridworld(slip=0.2)
    a = q_learning(g, 30, seed=3)
    b = q_learning(g, 30, seed=3)
    c = q_learning(g, 30, seed=4)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.returns, b.returns)
    assert not np.array_equal(a.lengths, c.lengths)


# -- control ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_q_learning_finds_the_optimal_policy_of_a_small_deterministic_gridworld(seed):
    g = small_grid()
    mdp = g.to_mdp()
    V_star, _ = value_iteration(mdp, None, 0.95)
    hist = q_learning(g, n_episodes=300, alpha=0.5, gamma=0.95, epsilon=0.3, seed=seed)
    # the greedy policy of the learned Q is optimal in every state (its exact values are V*)
    V_learned = policy_evaluation_exact(mdp, None, hist.policy, 0.95)
    np.testing.assert_allclose(V_learned, V_star, atol=1e-8)
    assert g.path(hist.policy)[-1] == (0, 3)
    assert greedy_return(g, hist.values) == pytest.approx(1.0 - 0.04 * 5)
    # and it was not optimal from the start: the first episodes were long random walks
    assert hist.lengths[:10].mean() > 5


def test_sarsa_is_safer_than_q_learning_on_the_cliff():
    g = cliff_gridworld()
    q = q_learning(g, 300, alpha=0.5, epsilon=0.1, seed=0)
    s = sarsa(g, 300, alpha=0.5, epsilon=0.1, seed=0)
    # Q-learning's greedy path hugs the cliff (13 steps), SARSA's keeps away from it
    assert greedy_return(g, q.values) == -13.0
    assert greedy_return(g, s.values) < -13.0
    # but while exploring, SARSA falls less and earns more per episode
    assert s.returns[-100:].mean() > q.returns[-100:].mean()


def test_runs_on_frozen_lake_and_cliff_walking():
    fl = gym.make("FrozenLake-v1", is_slippery=False)
    hist = q_learning(fl, 300, alpha=0.5, gamma=0.95, epsilon=0.3, seed=0)
    assert greedy_return(fl, hist.values) == 1.0
    cw = gym.make("CliffWalking-v1", max_episode_steps=200)
    hist = sarsa(cw, 20, seed=0)
    assert hist.values.shape == (48, 4) and len(hist.returns) == 20


def test_epsilon_sweep_shapes():
    sweep = epsilon_sweep(cliff_gridworld(), [0.0, 0.2], n_episodes=5, seeds=(0, 1))
    assert set(sweep) == {0.0, 0.2}
    assert len(sweep[0.2]["sarsa"]) == 2 and len(sweep[0.2]["q_learning"][1].returns) == 5


# -- validation ---------------------------------------------------------------------------------

def test_validation_errors():
    g = two_rewards_gridworld()
    with pytest.raises(ValueError, match="epsilon must lie in"):
        epsilon_greedy_probs([1.0, 2.0], 1.2)
    with pytest.raises(ValueError, match="q_values must be a non-empty 1-D array"):
        epsilon_greedy_probs([], 0.1)
    with pytest.raises(ValueError, match="env must have Discrete observation and action spaces"):
        q_learning(gym.make("CartPole-v1"), 5)
    with pytest.raises(ValueError, match="env must be a gymnasium environment"):
        q_learning(42, 5)
    with pytest.raises(ValueError, match="n_episodes must be a positive integer"):
        sarsa(g, 0)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\], got 0"):
        sarsa(g, 5, alpha=0.0)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        td0_prediction(g, np.full((35, 4), 0.25), 0.9, None, 5)
    with pytest.raises(ValueError, match="gamma must lie in"):
        q_learning(g, 5, gamma=2)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        q_learning(g, 5, seed=-1)
    with pytest.raises(ValueError, match="q_init must be a number"):
        q_learning(g, 5, q_init="high")
    with pytest.raises(ValueError, match=r"policy must be integer actions of shape \(35,\)"):
        mc_prediction(g, np.full((3, 4), 0.25), 0.9, 5)
    with pytest.raises(ValueError, match=r"Q must have shape \(35, 4\)"):
        greedy_return(g, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="a policy exists only for control runs"):
        _ = mc_prediction(g, np.full((35, 4), 0.25), 0.9, 2).policy


# -- figures and sliders ------------------------------------------------------------------------

def test_tabular_figures_and_slider():
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    from course_lib.plotting.tabular import control_curves, epsilon_runs, prediction_error, q_policy
    from course_lib.widgets.tabular import epsilon_slider
    g = cliff_gridworld()
    sweep = epsilon_sweep(g, [0.0, 0.1, 0.3], n_episodes=10, seeds=(0, 1))
    for eps in (0.0, 0.1, 0.25, 0.3):
        assert isinstance(epsilon_runs(sweep, eps, g), Figure)
    assert isinstance(epsilon_runs(sweep, 0.1), Figure)
    box = epsilon_slider(sweep, g)
    assert isinstance(box, widgets.VBox)
    box.children[0].children[0].value = 0.3
    assert isinstance(control_curves(sweep[0.1]), Figure)
    assert isinstance(q_policy(sweep[0.1]["sarsa"][0].values, g.shape, g.walls, g.terminals), Figure)
    pi = np.full((48, 4), 0.25)
    runs = {"MC": [mc_prediction(g, pi, 1.0, 3)], "TD": [td0_prediction(g, pi, 1.0, 0.1, 3)]}
    assert isinstance(prediction_error(runs, np.zeros(48)), Figure)
    with pytest.raises(ValueError, match="sweep must be a non-empty dict"):
        epsilon_slider({})
    with pytest.raises(ValueError, match=r"Q must have shape \(48, A\)"):
        q_policy(np.zeros((3, 4)), g.shape)


def test_epsilon_alpha_sweep_and_two_sliders():
    import ipywidgets as widgets
    from matplotlib.figure import Figure

    from course_lib.plotting.tabular import epsilon_runs
    from course_lib.widgets.tabular import epsilon_slider
    g = cliff_gridworld()
    sweep = epsilon_sweep(g, [0.1, 0.2], n_episodes=5, seeds=(0,), alphas=[0.1, 0.5])
    assert set(sweep) == {(0.1, 0.1), (0.1, 0.5), (0.2, 0.1), (0.2, 0.5)}
    assert isinstance(epsilon_runs(sweep, 0.2, g, alpha=0.1), Figure)
    box = epsilon_slider(sweep, g, epsilon=0.1, alpha=0.5)
    eps, alp = box.children[0].children
    assert isinstance(box, widgets.VBox) and eps.value == 0.1 and alp.value == 0.5
    alp.value = 0.1
    eps.value = 0.2
    with pytest.raises(ValueError, match="alpha must lie in"):
        epsilon_sweep(g, [0.1], 5, alphas=[2.0])
    with pytest.raises(ValueError, match="epsilons and seeds must each hold at least one value"):
        epsilon_sweep(g, [], 5)
