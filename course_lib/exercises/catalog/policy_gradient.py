"""Exercises of notebook 03 (policy gradient): reward-to-go and the policy-gradient loss."""
from __future__ import annotations

import numpy as np
import torch

from ...policy_gradient import policy_gradient_loss, reward_to_go
from ..registry import Case, Exercise, Mistake, register


def _rtg_cases() -> list[Case]:
    rng = np.random.default_rng(31)
    cases = [
        Case((np.array([1.0, 1.0, 1.0]), 1.0), label="rewards=[1, 1, 1], gamma=1"),
        Case((np.array([1.0, 2.0, 3.0]), 0.5), label="rewards=[1, 2, 3], gamma=0.5"),
        Case((np.array([0.0, 0.0, 5.0, 1.0]), 0.9), label="rewards=[0, 0, 5, 1], gamma=0.9"),
    ]
    for _ in range(4):
        T = int(rng.integers(4, 12))
        cases.append(Case((np.round(rng.normal(size=T), 2), float(rng.choice([0.9, 0.99])))))
    return cases


def teaching_reward_to_go(rewards, gamma=1.0):
    """Ĝ_t = Σ_{k ≥ t} γ^(k−t) r_k: the discounted rewards from step t on. rewards: (T,) -> (T,)."""
    import numpy as np
    rewards = np.asarray(rewards, dtype=float)
    out = np.zeros(len(rewards))
    running = 0.0  # Ĝ_{t+1}
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def teaching_policy_gradient_loss(logp, returns, baseline=None):
    """L = −mean_t[ logp_t · (Ĝ_t − b_t) ], the weights detached. logp: (N,) with grad -> scalar tensor."""
    import torch
    logp = torch.as_tensor(logp)
    weight = torch.as_tensor(returns, dtype=logp.dtype)
    if baseline is not None:
        weight = weight - torch.as_tensor(baseline, dtype=logp.dtype)
    # The weight says how good the action was; it is a constant of this loss, not something to optimise.
    return -(logp * weight.detach()).mean()


def _rtg_total_everywhere(rewards, gamma=1.0):
    r = np.asarray(rewards, dtype=float)
    return np.full(len(r), teaching_reward_to_go(r, gamma)[0])


def _rtg_forwards(rewards, gamma=1.0):
    r = np.asarray(rewards, dtype=float)
    out, run = np.zeros(len(r)), 0.0
    for t in range(len(r)):
        run = r[t] + gamma * run
        out[t] = run
    return out


def _rtg_discount_from_start(rewards, gamma=1.0):
    r = np.asarray(rewards, dtype=float)
    w = gamma ** np.arange(len(r))
    return np.array([np.sum(w[t:] * r[t:]) for t in range(len(r))])


def _rtg_excludes_current(rewards, gamma=1.0):
    r = np.asarray(rewards, dtype=float)
    return np.append(teaching_reward_to_go(r, gamma)[1:], 0.0)


def _rtg_undiscounted(rewards, gamma=1.0):
    return teaching_reward_to_go(np.asarray(rewards, dtype=float), 1.0)


register(Exercise(
    name="reward_to_go",
    reference=reward_to_go,
    cases=_rtg_cases,
    signature="reward_to_go(rewards, gamma=1.0) -> array of shape (T,)",
    notebook="03_policy_gradient",
    library=("course_lib.policy_gradient:reward_to_go", "course_lib.mdp:discounted_returns"),
    teaching=teaching_reward_to_go,
    hint="An action can only influence the rewards that come after it. Weight each step by the rewards from "
         "that step on, discounted relative to that step.",
    formula="Ĝ_t = r_t + γ r_{t+1} + γ² r_{t+2} + ...: only the rewards from step t on, discounted "
            "relative to t. A backward loop Ĝ_t = r_t + γ Ĝ_{t+1} does it.",
    code_hint="out = np.zeros(len(rewards)); running = 0.0; for t in reversed(range(len(rewards))): "
              "running = rewards[t] + gamma * running; out[t] = running.",
    mistakes=(
        Mistake("total_return_everywhere", _rtg_total_everywhere,
                "You gave every step the whole episode's return. An action cannot change rewards that "
                "came before it: use only the rewards from step t onwards (that is what 'to go' means)."),
        Mistake("summed_forwards", _rtg_forwards,
                "You summed the past rewards (front to back). Ĝ_t looks ahead: loop from the last step "
                "backwards, Ĝ_t = r_t + γ Ĝ_{t+1}."),
        Mistake("discounts_from_episode_start", _rtg_discount_from_start,
                "You weighted r_k by γ^k from the start of the episode. From step t the weight of r_k "
                "is γ^(k−t): discounting restarts at t."),
        Mistake("excludes_current_reward", _rtg_excludes_current,
                "Ĝ_t starts with r_t itself: the reward of the action at step t belongs to it."),
        Mistake("undiscounted", _rtg_undiscounted,
                "You ignored gamma: multiply the later return by γ at each step back."),
    ),
))


def _loss_cases() -> list[Case]:
    g = torch.Generator().manual_seed(32)
    cases = []
    for i in range(6):
        n = 4 + 3 * i
        logp = -torch.rand(n, generator=g) * 2.0
        returns = torch.randn(n, generator=g) * 3.0 + 2.0
        baseline = torch.randn(n, generator=g) if i % 2 == 0 else None
        cases.append(Case((logp, returns, baseline)) if baseline is not None else Case((logp, returns)))
    return cases


def _loss_wrong_sign(logp, returns, baseline=None):
    return -teaching_policy_gradient_loss(logp, returns, baseline)


def _loss_sum(logp, returns, baseline=None):
    return teaching_policy_gradient_loss(logp, returns, baseline) * len(logp)


def _loss_probs(logp, returns, baseline=None):
    return teaching_policy_gradient_loss(torch.exp(torch.as_tensor(logp)), returns, baseline)


def _loss_adds_baseline(logp, returns, baseline=None):
    b = None if baseline is None else -torch.as_tensor(baseline)
    return teaching_policy_gradient_loss(logp, returns, b)


def _loss_not_detached(logp, returns, baseline=None):
    weight = returns if baseline is None else returns - baseline  # no .detach(): gradients leak
    return -(logp * weight).mean()


def _loss_ignores_baseline(logp, returns, baseline=None):
    return teaching_policy_gradient_loss(logp, returns, None)


register(Exercise(
    name="policy_gradient_loss",
    reference=policy_gradient_loss,
    cases=_loss_cases,
    signature="policy_gradient_loss(logp, returns, baseline=None) -> scalar tensor",
    notebook="03_policy_gradient",
    library=("course_lib.policy_gradient:policy_gradient_loss",),
    grad_args=("logp", "returns", "baseline"),  # a learned baseline carries gradients: they must not flow
    tensor_out=True,
    teaching=teaching_policy_gradient_loss,
    hint="Gradient *descent* on this loss should make actions that did better than the baseline more likely. "
         "Each log-probability is multiplied by a weight that says how good its action was; the weight is a "
         "constant of the loss, not something to optimise.",
    formula="L = −mean_t[ logp_t · (returns_t − baseline_t) ] (baseline 0 when None), with the weights "
            "detached. The minus sign makes gradient descent raise the log-probability of good actions.",
    code_hint="weight = returns if baseline is None else returns - baseline; return -(logp * weight.detach()).mean() "
              "— torch operations throughout, so the result is a tensor that carries logp's gradient.",
    mistakes=(
        Mistake("wrong_sign", _loss_wrong_sign,
                "Your loss has the wrong sign: optimisers minimise, and we want to *increase* "
                "logp·(return − baseline), so the loss is −mean(logp·(returns − baseline))."),
        Mistake("sum_not_mean", _loss_sum,
                "You summed over steps; the course's loss is the mean over steps (the same direction, "
                "but a step size that would change with the batch size)."),
        Mistake("probabilities_not_logprobs", _loss_probs,
                "You used the probabilities exp(logp). The estimator needs ∇ log π, so the loss uses "
                "the log-probabilities themselves."),
        Mistake("adds_baseline", _loss_adds_baseline,
                "The baseline is subtracted: the weight is returns − baseline."),
        Mistake("ignores_baseline", _loss_ignores_baseline,
                "When a baseline is given, subtract it from the returns before multiplying by logp."),
        Mistake("weights_not_detached", _loss_not_detached,
                "Your loss has the right value but the wrong gradient: the weights (returns − baseline) "
                "are not detached, so gradients flow into the returns and, with a learned baseline, into the "
                "critic (pushing V(s) to make the policy's loss smaller, not to predict returns). Use "
                "(returns − baseline).detach() as the weight."),
    ),
))


# ---------------------------------------------------------------------------------------------
# reinforce_step(W, obs, actions, returns, baseline, lr): one REINFORCE update, assembled
# ---------------------------------------------------------------------------------------------


def _step_cases() -> list[Case]:
    g = torch.Generator().manual_seed(33)
    cases = [Case((torch.zeros(2, 3), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), torch.tensor([0, 1, 2]),
                   torch.tensor([1.0, -1.0, 0.0]), torch.zeros(3), 1.0),
                  label="W = 0 (uniform policy), 3 states, actions [0, 1, 2], returns [1, -1, 0], baseline 0, lr=1")]
    for n, d, n_actions, lr in ((6, 3, 2, 0.5), (10, 4, 3, 0.1), (16, 4, 2, 0.05), (8, 2, 4, 1.0), (12, 5, 3, 0.2)):
        W = torch.randn(d, n_actions, generator=g) * 0.5
        obs = torch.randn(n, d, generator=g)
        actions = torch.randint(0, n_actions, (n,), generator=g)
        returns = torch.rand(n, generator=g) * 10
        baseline = returns.mean() + torch.randn(n, generator=g)  # a critic's rough estimate
        cases.append(Case((W, obs, actions, returns, baseline, lr),
                          label=f"{n} states of dimension {d}, {n_actions} actions, lr={lr}"))
    return cases


def library_reinforce_step(W, obs, actions, returns, baseline, lr):
    """One SGD step of the library's REINFORCE loss for the linear softmax policy π(·|s) = softmax(s W)."""
    W = W.detach().clone().requires_grad_(True)
    logp = torch.log_softmax(obs @ W, dim=1).gather(1, actions[:, None]).squeeze(1)
    loss = policy_gradient_loss(logp, returns, baseline)
    (grad,) = torch.autograd.grad(loss, W)
    return (W - lr * grad).detach()


def teaching_reinforce_step(W, obs, actions, returns, baseline, lr):
    """One REINFORCE step for π(·|s) = softmax(s W). W: (d, A); obs: (N, d); actions, returns, baseline: (N,)."""
    import torch
    W = W.detach().clone().requires_grad_(True)  # a copy: the caller's W stays as it was
    logp_all = torch.log_softmax(obs @ W, dim=1)  # (N, A): log π(a|s) of every action
    logp = logp_all.gather(1, actions[:, None]).squeeze(1)  # (N,): of the actions actually taken
    weight = (returns - baseline).detach()  # how much better than expected: a constant
    loss = -(logp * weight).mean()  # descending it raises the log-prob of better-than-expected actions
    (grad,) = torch.autograd.grad(loss, W)
    return (W - lr * grad).detach()  # one step of gradient descent


def _step_variant(W, obs, actions, returns, baseline, lr, *, logp_fn=None, reduce="mean", sign=1.0,
                  use_baseline=True):
    W = W.detach().clone().requires_grad_(True)
    logits = obs @ W
    logp = logp_fn(logits, actions) if logp_fn else torch.log_softmax(logits, 1).gather(1, actions[:, None]).squeeze(1)
    weight = (returns - baseline if use_baseline else returns).detach()
    terms = logp * weight
    loss = -(terms.sum() if reduce == "sum" else terms.mean())
    (grad,) = torch.autograd.grad(loss, W)
    return (W - sign * lr * grad).detach()


def _step_ascends_loss(*a):
    return _step_variant(*a, sign=-1.0)


def _step_sum(*a):
    return _step_variant(*a, reduce="sum")


def _step_greedy_actions(*a):
    return _step_variant(*a, logp_fn=lambda z, act: torch.log_softmax(z, 1).max(dim=1).values)


def _step_logits_not_logprobs(*a):
    return _step_variant(*a, logp_fn=lambda z, act: z.gather(1, act[:, None]).squeeze(1))


def _step_probabilities(*a):
    return _step_variant(*a, logp_fn=lambda z, act: torch.softmax(z, 1).gather(1, act[:, None]).squeeze(1))


def _step_ignores_baseline(*a):
    return _step_variant(*a, use_baseline=False)


def _step_wrong_axis(*a):
    return _step_variant(*a, logp_fn=lambda z, act: torch.log_softmax(z, 0).gather(1, act[:, None]).squeeze(1))


register(Exercise(
    name="reinforce_step",
    reference=library_reinforce_step,
    cases=_step_cases,
    signature="reinforce_step(W, obs, actions, returns, baseline, lr) -> tensor of shape (d, A), the new W",
    notebook="03_policy_gradient",
    library=("course_lib.exercises.catalog.policy_gradient:library_reinforce_step",
             "course_lib.policy_gradient:policy_gradient_loss"),
    tensor_out=True,
    teaching=teaching_reinforce_step,
    rtol=1e-4,
    atol=1e-6,
    hint="One REINFORCE step: the policy's log-probability of each action it took, weighted by how much better "
         "than the baseline that action turned out, averaged, negated into a loss; autograd gives the gradient "
         "with respect to W, and one step of gradient descent gives the new W (the caller's W stays unchanged).",
    formula="logits = obs @ W (N, A); log π(a_t|s_t) = log_softmax(logits, dim=1) at the taken action a_t; "
            "L = −mean_t[ log π(a_t|s_t) · (G_t − b_t) ] with the weights detached; W_new = W − lr · ∇_W L.",
    code_hint="W = W.detach().clone().requires_grad_(True); logp = torch.log_softmax(obs @ W, dim=1).gather(1, "
              "actions[:, None]).squeeze(1); loss = -(logp * (returns - baseline).detach()).mean(); "
              "(grad,) = torch.autograd.grad(loss, W); return (W - lr * grad).detach().",
    mistakes=(
        Mistake("ascends_the_loss", _step_ascends_loss,
                "Your step goes the wrong way: W + lr·∇L climbs the loss, making better-than-expected actions "
                "*less* likely. Gradient descent on the loss is W − lr·∇_W L."),
        Mistake("sum_not_mean", _step_sum,
                "Your step is N times too large: you summed over the samples. Average them, so the step size "
                "does not grow with the batch."),
        Mistake("greedy_actions", _step_greedy_actions,
                "You used the log-probability of the most likely action in each state, not of the action that "
                "was taken. The weight G_t − b_t belongs to a_t: gather the taken actions' log-probs."),
        Mistake("logits_not_logprobs", _step_logits_not_logprobs,
                "You used the raw logits of the taken actions. The estimator needs log π(a|s): apply "
                "log_softmax over the actions first, so every logit of the state takes part."),
        Mistake("probabilities_not_logprobs", _step_probabilities,
                "You used the probabilities π(a|s). The policy gradient is E[∇ log π(a|s) · weight]: use "
                "log_softmax, not softmax."),
        Mistake("ignores_baseline", _step_ignores_baseline,
                "You weighted by the returns alone: subtract the baseline, weight = returns − baseline."),
        Mistake("softmax_over_states", _step_wrong_axis,
                "Your softmax runs over the batch (dim=0), so each column sums to 1 across states. A policy is "
                "a distribution over actions in one state: log_softmax(obs @ W, dim=1)."),
    ),
))
