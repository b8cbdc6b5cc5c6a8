"""MDPs and returns (notebook 01; notebook 02 reuses them).

* ``returns``: the discounted return G_t = r_t + γ G_{t+1} of a reward sequence
  (``discounted_returns``) and the effective horizon 1/(1 − γ);
* ``finite``: finite MDPs (``FiniteMDP``: P[s, a, s'] and R[s, a, s'] as arrays), the Bellman
  backup, policy evaluation (iterative and exact), value iteration, the two-state example, the LLM
  as a token MDP, and gymnasium's toy-text environments as finite MDPs;
* ``gridworld``: the course's gridworlds as gymnasium environments with their P and R.

This face exports the public names of all three.
"""
from .finite import (FiniteMDP, as_mdp, bellman_backup, from_toy_text, greedy_policy, greedy_text, policy_evaluation,
                     policy_evaluation_exact, policy_matrix, q_from_v, token_mdp, two_state_example, value_iteration)
from .gridworld import ACTIONS, ARROWS, GridWorld, cliff_gridworld, two_rewards_gridworld
from .returns import as_1d, discounted_returns, effective_horizon

__all__ = ["as_1d", "discounted_returns", "effective_horizon", "FiniteMDP", "as_mdp", "policy_matrix", "bellman_backup",
           "q_from_v", "policy_evaluation", "policy_evaluation_exact", "greedy_policy", "value_iteration",
           "two_state_example", "token_mdp", "greedy_text", "from_toy_text", "GridWorld", "two_rewards_gridworld",
           "cliff_gridworld", "ACTIONS", "ARROWS"]
