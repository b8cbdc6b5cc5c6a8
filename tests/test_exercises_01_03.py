"""The exercises of notebooks 01–03: the reference passes, every registered mistake is recognised."""
import numpy as np
import pytest

from course_lib.exercises import check, get_exercise, list_exercises

NAMES = ["discounted_returns", "bellman_backup", "value_iteration", "td0_update", "q_learning_update",
         "epsilon_greedy_probs", "reward_to_go", "policy_gradient_loss"]


def test_all_registered():
    assert set(NAMES) <= set(list_exercises())


def test_unrecognised_wrong_answer_gets_the_general_hint():
    result = check("bellman_backup", lambda P, R, V, policy, gamma: np.zeros(len(V)) + 1.234)
    assert not result.passed and result.mistake is None
    assert result.hint == get_exercise("bellman_backup").hint


def test_stub_is_not_attempted():
    def td0_update(V, s, r, s_next, terminated, alpha, gamma):
        raise NotImplementedError

    assert check("td0_update", td0_update).status == "not attempted"


def test_a_learner_solution_written_differently_passes():
    def q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma):
        Q = Q.copy()  # mutating in place is fine too
        target = r if terminated else r + gamma * max(Q[s_next])
        Q[s][a] = Q[s][a] + alpha * (target - Q[s][a])
        return Q

    assert check("q_learning_update", q_learning_update).passed

    def value_iteration(P, R, gamma, tol):
        V = np.zeros(P.shape[0])
        while True:
            Q = np.einsum("ijk,ijk->ij", P, R) + gamma * P @ V
            if np.max(np.abs(Q.max(1) - V)) < tol:
                return Q.max(1), Q.argmax(1)
            V = Q.max(1)

    assert check("value_iteration", value_iteration).passed


NOTEBOOKS = {
    "01_mdp_and_discounted_return.ipynb": {"bellman_backup", "policy_evaluation", "value_iteration"},
    "02_learning_from_experience.ipynb": {"td0_update", "epsilon_greedy_probs", "q_learning_update"},
    "03_policy_gradient.ipynb": {"reward_to_go", "policy_gradient_loss", "reinforce_step"},
}


@pytest.mark.parametrize("notebook,expected", sorted(NOTEBOOKS.items()))
def test_notebooks_check_their_exercises(repo_root, notebook, expected):
    import re

    import nbformat
    nb = nbformat.read(repo_root / "notebooks" / notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = {m for c in code for m in re.findall(r'check\("([a-z0-9_]+)"', c.source)}
    assert checked == expected
    stubs = [c.source for c in code if "raise NotImplementedError" in c.source]
    assert len(stubs) == len(expected)  # one stub per exercise, each followed by its check
    assert "use_house_style()" in code[0].source and "set_seed(" in code[0].source and "fast_mode()" in code[0].source


def test_reinforce_step_mistakes_and_a_learner_version_with_an_optimizer():
    import torch

    from course_lib.exercises import check, get_exercise

    names = {m.name for m in get_exercise("reinforce_step").mistakes}
    assert {"ascends_the_loss", "sum_not_mean", "greedy_actions", "ignores_baseline"} <= names

    def learner(W, obs, actions, returns, baseline, lr):
        W = torch.nn.Parameter(W.clone())
        opt = torch.optim.SGD([W], lr=lr)
        dist = torch.distributions.Categorical(logits=obs @ W)
        loss = -(dist.log_prob(actions) * (returns - baseline)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return W.detach()

    assert check("reinforce_step", learner).passed


def test_a_reinforce_step_that_updates_the_callers_W_in_place_fails():
    import torch

    from course_lib.exercises import check, get_exercise

    teaching = get_exercise("reinforce_step").teaching

    def in_place(W, obs, actions, returns, baseline, lr):
        new = teaching(W, obs, actions, returns, baseline, lr)
        with torch.no_grad():
            W.copy_(new)  # an optimiser step on the caller's tensor
        return W

    result = check("reinforce_step", in_place)
    assert not result.passed and result.mistake == "modifies_input"


def test_policy_evaluation_accepts_a_learner_loop_built_on_their_own_backup():
    def backup(P, R, V, policy, gamma):
        return np.einsum("sa,sat,sat->s", policy, P, R) + gamma * np.einsum("sa,sat,t->s", policy, P, V)

    def learner(P, R, policy, gamma, tol):
        V = np.zeros(len(P))
        delta = np.inf
        while delta >= tol:
            V_new = backup(P, R, V, policy, gamma)
            delta = np.abs(V_new - V).max()
            V = V_new
        return V

    assert check("policy_evaluation", learner).passed
    names = {m.name for m in get_exercise("policy_evaluation").mistakes}
    assert {"single_sweep", "max_over_actions", "ignores_policy"} <= names
