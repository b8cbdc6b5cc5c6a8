"""MDPs, the Bellman equations and value iteration (course_lib.mdp, course_lib.mdp.gridworld)."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from course_lib.mdp.gridworld import GridWorld, cliff_gridworld, two_rewards_gridworld
from course_lib.mdp import (FiniteMDP, bellman_backup, discounted_returns, effective_horizon,
                            policy_evaluation, policy_evaluation_exact, q_from_v, two_state_example,
                            value_iteration)


def random_mdp(seed, S=6, A=3):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(S), size=(S, A)), rng.normal(size=(S, A, S))


# -- hand-worked cases ---------------------------------------------------------------------

def test_discounted_returns_by_hand_gamma_half():
    # G_2 = 3, G_1 = 2 + 0.5*3 = 3.5, G_0 = 1 + 0.5*3.5 = 2.75
    np.testing.assert_allclose(discounted_returns([1, 2, 3], 0.5), [2.75, 3.5, 3.0])
    assert effective_horizon(0.5) == 2.0


def test_two_state_mdp_solved_on_paper():
    mdp = two_state_example()
    stay, go = np.array([0, 0]), np.array([1, 0])
    # stay forever: V(0) = 1/(1-γ), V(1) = 3 + γ V(0)
    np.testing.assert_allclose(policy_evaluation_exact(mdp, None, stay, 0.5), [2.0, 4.0])
    # go: V(0) = γ V(1), V(1) = 3 + γ V(0)  =>  V(0) = 3γ/(1-γ²)
    g = 0.9
    v0 = 3 * g / (1 - g**2)
    np.testing.assert_allclose(policy_evaluation_exact(mdp, None, go, g), [v0, 3 + g * v0])
    # γ = 0.4 < 1/2: staying is optimal; γ = 0.9 > 1/2: going is optimal
    V, pi = value_iteration(mdp, None, 0.4)
    assert pi[0] == 0 and V[0] == pytest.approx(1 / 0.6)
    V, pi = value_iteration(mdp, None, 0.9)
    assert pi[0] == 1 and V[0] == pytest.approx(v0)


def test_bellman_backup_by_hand():
    mdp = two_state_example()
    # V = [1, 2], π(·|0) = [0.5, 0.5], γ = 0.5:
    # stay: 1 + 0.5*1 = 1.5; go: 0 + 0.5*2 = 1; V_new(0) = 1.25;  V_new(1) = 3 + 0.5*1 = 3.5
    pi = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(bellman_backup(mdp.P, mdp.R, [1.0, 2.0], pi, 0.5), [1.25, 3.5])


# -- properties ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99])
def test_iterative_policy_evaluation_agrees_with_exact(seed, gamma):
    P, R = random_mdp(seed)
    pi = np.random.default_rng(seed + 100).dirichlet(np.ones(3), size=6)
    np.testing.assert_allclose(policy_evaluation(P, R, pi, gamma, tol=1e-12),
                               policy_evaluation_exact(P, R, pi, gamma), atol=1e-8)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_value_iteration_values_are_its_greedy_policy_values(seed, gamma):
    P, R = random_mdp(seed)
    V, pi = value_iteration(P, R, gamma, tol=1e-12)
    np.testing.assert_allclose(V, policy_evaluation_exact(P, R, pi, gamma), atol=1e-7)
    # and no deterministic one-step deviation improves on it (Bellman optimality)
    Q = q_from_v(P, R, V, gamma)
    np.testing.assert_allclose(Q.max(axis=1), V, atol=1e-7)


def test_value_iteration_history_converges_monotonically_in_error():
    mdp = two_rewards_gridworld().to_mdp()
    V, pi, hist = value_iteration(mdp, None, 0.9, return_history=True)
    errors = np.abs(hist - V).max(axis=1)
    assert hist.shape[1] == mdp.n_states and np.all(hist[0] == 0)
    assert np.all(np.diff(errors) <= 1e-12)  # a γ-contraction never moves away from V*


def test_gamma_one_on_episodic_gridworld():
    mdp = two_rewards_gridworld(step_cost=0.1).to_mdp()
    V, pi = value_iteration(mdp, None, 1.0)
    np.testing.assert_allclose(V, policy_evaluation_exact(mdp, None, pi, 1.0), atol=1e-8)
    # undiscounted, with a step cost, the +10 is worth 10 minus the cost of the 10 steps to it
    start = two_rewards_gridworld().state_of((4, 0))
    assert V[start] == pytest.approx(10 - 0.1 * 10)


# -- the gridworld ------------------------------------------------------------------------------

def test_gridworld_gamma_flips_the_optimal_policy_at_the_start():
    g = two_rewards_gridworld()
    mdp = g.to_mdp()
    _, pi_short = value_iteration(mdp, None, 0.5)
    _, pi_long = value_iteration(mdp, None, 0.95)
    assert g.path(pi_short)[-1] == (3, 1)  # short-sighted: the +1 two steps away
    assert g.path(pi_long)[-1] == (0, 6)  # far-sighted: the +10, ten steps away
    assert len(g.path(pi_long)) == 11


def test_gridworld_is_a_gymnasium_env():
    g = two_rewards_gridworld(slip=0.2)
    check_env(g, skip_render_check=True)
    obs, _ = g.reset(seed=0)
    assert obs == g.state_of((4, 0))
    obs, r, term, trunc, _ = g.step(1)
    assert g.observation_space.contains(obs) and isinstance(r, float)
    assert "A" in g.render()


def test_gridworld_env_matches_its_transition_matrix():
    g = two_rewards_gridworld(slip=0.3)
    P = g.to_mdp().P
    counts = np.zeros(P.shape[2])
    for i in range(3000):
        g.reset(seed=i)
        s, *_ = g.step(0)
        counts[s] += 1
    np.testing.assert_allclose(counts / 3000, P[g.state_of(g.start), 0], atol=0.03)


def test_gridworld_truncates_at_max_steps():
    g = GridWorld(shape=(2, 2), terminals={(0, 1): 1.0}, start=(1, 0), max_steps=3)
    g.reset(seed=0)
    outs = [g.step(2) for _ in range(3)]  # down into the wall: stays put
    assert [o[3] for o in outs] == [False, False, True] and not any(o[2] for o in outs)


def test_cliff_gridworld_layout():
    g = cliff_gridworld()
    mdp = g.to_mdp()
    V, pi = value_iteration(mdp, None, 1.0)
    assert V[g.state_of(g.start)] == pytest.approx(-13.0)  # 13 moves along the cliff edge


# -- validation errors --------------------------------------------------------------------------

def good():
    return two_state_example()


@pytest.mark.parametrize("P,R,match", [
    (np.ones((2, 2)), np.zeros((2, 2)), r"P must have shape \(S, A, S\)"),
    (np.full((2, 1, 3), 1 / 3), np.zeros((2, 1)), r"P must have shape \(S, A, S\)"),
    (np.array([[[1.5, -0.5]], [[0.5, 0.5]]]), np.zeros((2, 1)), r"P must be non-negative, but P\[0, 0, 1\]"),
    (np.array([[[0.5, 0.4]], [[0.5, 0.5]]]), np.zeros((2, 1)), r"P\[s, a, :\] must sum to 1.*P\[0, 0, :\] sums to 0.9"),
    (np.array([[[np.nan, 1.0]], [[0.5, 0.5]]]), np.zeros((2, 1)), "P must contain only finite numbers"),
    (np.full((2, 1, 2), 0.5), np.zeros((3, 1)), r"R must have shape \(S, A, S\) = \(2, 1, 2\) or \(S, A\)"),
    (np.full((2, 1, 2), 0.5), np.array([[np.inf], [0.0]]), "R must contain only finite numbers"),
])
def test_finite_mdp_rejects_bad_arrays(P, R, match):
    with pytest.raises(ValueError, match=match):
        FiniteMDP(P, R)


def test_finite_mdp_terminal_checks():
    m = good()
    with pytest.raises(ValueError, match="terminal must be a boolean array of shape"):
        FiniteMDP(m.P, m.R, terminal=[0, 1])
    with pytest.raises(ValueError, match="terminal state 0 must be absorbing"):
        FiniteMDP(m.P, m.R, terminal=np.array([True, False]))
    P = m.P.copy()
    P[1] = 0
    P[1, :, 1] = 1.0
    with pytest.raises(ValueError, match=r"terminal state 1 must pay no reward"):
        FiniteMDP(P, m.R, terminal=np.array([False, True]))
    assert FiniteMDP(P, np.zeros((2, 2)), terminal=np.array([False, True])).terminal.tolist() == [False, True]


def test_reward_of_shape_sa_is_expanded():
    m = FiniteMDP(np.full((2, 1, 2), 0.5), [[1.0], [2.0]])
    assert m.R.shape == (2, 1, 2) and np.allclose(m.expected_reward(), [[1.0], [2.0]])


def test_policy_and_argument_errors():
    m = good()
    with pytest.raises(ValueError, match="gamma must lie in"):
        value_iteration(m.P, m.R, 1.5)
    with pytest.raises(ValueError, match="R is required"):
        value_iteration(m.P, None, 0.9)
    with pytest.raises(ValueError, match="R must be None"):
        value_iteration(m, m.R, 0.9)
    with pytest.raises(ValueError, match="tol must be a positive number"):
        value_iteration(m, None, 0.9, tol=0)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        policy_evaluation(m, None, [0, 0], 0.9, max_iter=0)
    with pytest.raises(ValueError, match=r"policy actions must lie in 0..1"):
        policy_evaluation_exact(m, None, np.array([0, 2]), 0.9)
    with pytest.raises(ValueError, match=r"policy must be integer actions of shape \(2,\)"):
        policy_evaluation_exact(m, None, np.zeros((3, 2)), 0.9)
    with pytest.raises(ValueError, match="policy probabilities must be non-negative"):
        policy_evaluation_exact(m, None, np.array([[0.5, 0.6], [1.0, 0.0]]), 0.9)
    with pytest.raises(ValueError, match=r"V must have one value per state \(2\)"):
        bellman_backup(m, None, [0.0, 0.0, 0.0], [0, 0], 0.9)
    with pytest.raises(ValueError, match="V must be a 1-D sequence"):
        q_from_v(m, None, [[0.0, 0.0]], 0.9)


def test_gamma_one_without_terminal_fails_clearly():
    m = good()
    with pytest.raises(ValueError, match="Bellman system is singular"):
        policy_evaluation_exact(m, None, [0, 0], 1.0)
    with pytest.raises(ValueError, match="policy evaluation did not converge within max_iter=50"):
        policy_evaluation(m, None, [0, 0], 1.0, max_iter=50)
    with pytest.raises(ValueError, match="value iteration did not converge within max_iter=50"):
        value_iteration(m, None, 1.0, max_iter=50)


@pytest.mark.parametrize("kwargs,match", [
    (dict(shape=(1, 1)), "shape must have at least"),
    (dict(shape="big"), r"shape must be \(n_rows, n_cols\)"),
    (dict(terminals={}), "terminals must be a non-empty mapping"),
    (dict(terminals={(9, 9): 1.0}), r"terminals cell \(9, 9\) lies outside the 4x4 grid"),
    (dict(walls=[(0, 3)]), "walls and terminals overlap"),
    (dict(walls=["x"]), r"walls must be \(row, col\) pairs"),
    (dict(start=(0, 3)), "start .* must not be a wall or a terminal"),
    (dict(slip=1.5), "slip must lie in"),
    (dict(step_cost="a"), "step_cost must be a number"),
    (dict(max_steps=0), "max_steps must be a positive integer"),
    (dict(render_mode="human"), "render_mode must be None or 'ansi'"),
])
def test_gridworld_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridWorld(**kwargs)


def test_gridworld_rejects_bad_action():
    g = two_rewards_gridworld()
    g.reset(seed=0)
    with pytest.raises(ValueError, match="action must be one of 0..3"):
        g.step(7)


# -- figures and sliders ------------------------------------------------------------------------

@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.75, 0.99])
@pytest.mark.parametrize("slip", [0.0, 0.3])
def test_gamma_gridworld_figure_for_any_gamma(gamma, slip):
    from matplotlib.figure import Figure

    from course_lib.plotting.mdp import gamma_gridworld
    fig = gamma_gridworld(gamma, slip)
    assert isinstance(fig, Figure) and "γ = " in fig._suptitle.get_text()


def test_gamma_gridworld_title_says_where_the_policy_goes():
    from course_lib.plotting.mdp import gamma_gridworld
    assert "near +1" in gamma_gridworld(0.5)._suptitle.get_text()
    assert "far +10" in gamma_gridworld(0.9)._suptitle.get_text()


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_llm_credit_figure(gamma):
    from course_lib.plotting.mdp import llm_credit
    fig = llm_credit(gamma, n_tokens=50)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("γ = 1: first token gets 1" in l for l in labels)
    with pytest.raises(ValueError, match="n_tokens must be a positive integer"):
        llm_credit(gamma, n_tokens=0)


def test_value_iteration_convergence_figure_and_errors():
    from course_lib.plotting.mdp import grid_heatmap, value_iteration_convergence
    _, _, hist = value_iteration(two_state_example(), None, 0.9, return_history=True)
    assert value_iteration_convergence(hist, states={"s0": 0, "s1": 1}) is not None
    with pytest.raises(ValueError, match="history must have shape"):
        value_iteration_convergence(hist[:1])
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"values must have shape \(6,\) for a 2x3 grid"):
        grid_heatmap(ax, np.zeros(5), (2, 3))
    plt.close(fig)


@pytest.mark.parametrize("gamma", [0.1, 0.6, 0.95])
def test_sliders_build(gamma):
    import ipywidgets as widgets

    from course_lib.widgets.mdp import gamma_slider, gridworld_gamma_slider, llm_gamma_slider
    for box in (gridworld_gamma_slider(gamma), llm_gamma_slider(max(gamma, 0.5)), gamma_slider(gamma)):
        assert isinstance(box, widgets.VBox)
    box = gridworld_gamma_slider(gamma)
    box.children[0].children[0].value = 0.8  # moving the slider redraws without error


# -- text generation as an MDP; gymnasium toy-text models ----------------------------------------

def test_token_mdp_is_deterministic_with_reward_at_the_end():
    from course_lib.mdp import greedy_text, token_mdp
    vocab = ["a", "b", "c", "."]
    mdp, states = token_mdp(vocab, 4, lambda t: {"abc.": 1.0, "a.": 0.7}.get(t, 0.0))
    assert len(states) == 1 + 3 + 9 + 27 + 1 and states[0] == "" and states[-1] == "<end>"
    assert set(np.unique(mdp.P)) == {0.0, 1.0}  # every transition is deterministic
    nonterminal_to_nonterminal = mdp.R[:-1, :, :-1]
    assert np.all(nonterminal_to_nonterminal == 0)  # rewards only on reaching the end
    # γ = 1 (RLHF, GRPO): the best answer wins whatever its length
    V, pi = value_iteration(mdp, None, 1.0)
    assert V[0] == pytest.approx(1.0) and greedy_text(mdp, states, pi, vocab) == "abc."
    # γ = 0.8 makes the agent prefer the short, worse answer: 0.8·0.7 > 0.8³·1
    V, pi = value_iteration(mdp, None, 0.8)
    assert greedy_text(mdp, states, pi, vocab) == "a."


def test_token_mdp_validation():
    from course_lib.mdp import token_mdp
    with pytest.raises(ValueError, match="vocab must hold at least 2 distinct tokens including eos"):
        token_mdp(["a", "b"], 3, len)
    with pytest.raises(ValueError, match="max_len must be an integer from 1 to 8"):
        token_mdp(["a", "."], 9, len)
    with pytest.raises(ValueError, match="reward must be a function"):
        token_mdp(["a", "."], 3, 1.0)


def test_from_toy_text_frozen_lake_matches_play():
    from course_lib.mdp import from_toy_text
    from course_lib.tabular import greedy_return
    env = gym.make("FrozenLake-v1", max_episode_steps=2000)  # (the default 100-step limit cuts some)
    mdp = from_toy_text(env)
    assert mdp.n_states == 17 and mdp.terminal[16]
    V, pi = value_iteration(mdp, None, 0.99)
    Q = np.zeros((16, 4))
    Q[np.arange(16), pi[:16]] = 1.0
    success = greedy_return(env, Q, n_episodes=400, seed=0)  # reward 1 only at the goal
    V1 = policy_evaluation_exact(mdp, None, pi, 1.0)  # undiscounted: probability of reaching the goal
    assert abs(success - V1[0]) < 0.05
    with pytest.raises(ValueError, match="toy-text environment"):
        from_toy_text(gym.make("CartPole-v1"))


# -- properties over many random MDPs (hypothesis) -----------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), S=st.integers(1, 6), A=st.integers(1, 4),
       gamma=st.sampled_from([0.0, 0.3, 0.8, 0.95]))
def test_optimal_values_dominate_every_policy(seed, S, A, gamma):
    rng = np.random.default_rng(seed)
    P, R = rng.dirichlet(np.ones(S), size=(S, A)), rng.normal(size=(S, A, S))
    V_star, pi_star = value_iteration(P, R, gamma, tol=1e-12)
    for _ in range(3):
        pi = rng.dirichlet(np.ones(A), size=S)
        V_pi = policy_evaluation_exact(P, R, pi, gamma)
        assert np.all(V_star >= V_pi - 1e-7)
        # the exact values are a fixed point of the Bellman backup
        np.testing.assert_allclose(bellman_backup(P, R, V_pi, pi, gamma), V_pi, atol=1e-8)
