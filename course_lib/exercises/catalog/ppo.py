"""Exercises of notebook 04 (PPO): "gae" and "clipped_surrogate"."""
from __future__ import annotations

import numpy as np
import torch

from ...ppo.math import clipped_surrogate, gae
from ..registry import Case, Exercise, Mistake, register

# --- gae ---------------------------------------------------------------------------------------


def _gae_cases() -> list[Case]:
    f, t = False, True
    cases = [
        Case((np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 1.5]), np.array([1.0, 1.5, 9.0]),
              np.array([f, f, t]), np.array([f, f, f]), 0.5, 0.5),
             label="the hand-worked case: 3 steps, terminated at the last one, gamma=0.5, lam=0.5"),
        Case((np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.2, 0.4, 0.6, 0.8]), np.array([0.4, 5.0, 0.8, 2.0]),
              np.array([f, f, f, f]), np.array([f, t, f, f]), 0.9, 0.8),
             label="4 steps, the first episode is cut by a time limit after step 1, gamma=0.9, lam=0.8"),
        Case((np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.2, 0.4, 0.6, 0.8]), np.array([0.4, 5.0, 0.8, 2.0]),
              np.array([f, t, f, f]), np.array([f, f, f, f]), 0.9, 0.8),
             label="the same 4 steps, but the first episode terminates after step 1"),
    ]
    rng = np.random.default_rng(404)
    for gamma, lam in ((0.99, 0.95), (0.9, 0.0), (0.98, 1.0), (0.95, 0.9), (0.9, 0.7)):
        T = int(rng.integers(8, 14))
        rewards = np.round(rng.normal(size=T), 2)
        values = np.round(rng.normal(size=T), 2)
        next_values = np.append(values[1:], np.round(rng.normal(), 2))
        terminated = rng.random(T) < 0.2
        truncated = (rng.random(T) < 0.15) & ~terminated
        terminated[2], truncated[5] = True, True  # at least one of each
        cases.append(Case((rewards, values, next_values, terminated, truncated, gamma, lam)))
    return cases


def teaching_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """GAE: A_t = δ_t + γλ·A_{t+1}, backwards, stopping at every episode end. All inputs (T,).

    δ_t = r_t + γ·V(s_{t+1})·(1 − terminated_t) − V(s_t): a terminated step has no future value,
    a truncated one still does. Returns (advantages, returns = advantages + values).
    """
    r, v, nv = (np.asarray(x, dtype=float) for x in (rewards, values, next_values))
    term, trunc = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
    done = term | trunc  # the episode ends here: A_{t+1} belongs to the next one
    adv = np.zeros(len(r))
    next_adv = 0.0
    for t in reversed(range(len(r))):
        delta = r[t] + gamma * nv[t] * (1.0 - term[t]) - v[t]
        next_adv = delta + gamma * lam * (1.0 - done[t]) * next_adv
        adv[t] = next_adv
    return adv, adv + v


def _gae_loop(rewards, values, next_values, terminated, truncated, gamma, lam, *,
              delta_sign=1.0, bootstrap_mask="terminated", recursion_mask="done",
              rec_gamma=True, rec_lam=True, add_values=True):
    """GAE with switches that reproduce the common mistakes (the defaults are correct)."""
    r = np.asarray(rewards, float)
    v = np.asarray(values, float)
    nv = np.asarray(next_values, float)
    term = np.asarray(terminated, bool)
    trunc = np.asarray(truncated, bool)
    done = term | trunc
    boot = {"terminated": 1.0 - term, "done": 1.0 - done, "none": np.ones_like(r)}[bootstrap_mask]
    cont = {"done": 1.0 - done, "none": np.ones_like(r), "terminated": 1.0 - term}[recursion_mask]
    coef = (gamma if rec_gamma else 1.0) * (lam if rec_lam else 1.0)
    adv = np.zeros_like(r)
    nxt = 0.0
    for t in reversed(range(len(r))):
        delta = delta_sign * (r[t] + gamma * nv[t] * boot[t] - v[t])
        nxt = delta + coef * cont[t] * nxt
        adv[t] = nxt
    return adv, (adv + v if add_values else adv)


def _sign_error(*a):
    return _gae_loop(*a, delta_sign=-1.0)


def _ignores_episode_ends(*a):
    return _gae_loop(*a, bootstrap_mask="none", recursion_mask="none")


def _flows_across_episodes(*a):
    return _gae_loop(*a, recursion_mask="none")


def _bootstraps_through_termination(*a):
    return _gae_loop(*a, bootstrap_mask="none")


def _truncation_as_termination(*a):
    return _gae_loop(*a, bootstrap_mask="done")


def _no_lambda(*a):
    return _gae_loop(*a, rec_lam=False)


def _no_gamma_in_recursion(*a):
    return _gae_loop(*a, rec_gamma=False)


def _returns_are_advantages(*a):
    return _gae_loop(*a, add_values=False)


register(Exercise(
    name="gae",
    reference=gae,
    cases=_gae_cases,
    signature="gae(rewards, values, next_values, terminated, truncated, gamma, lam)",
    notebook="04_ppo_cartpole",
    library=("course_lib.ppo.math:gae",),
    teaching=teaching_gae,
    hint="An advantage says how much better a step went than the critic expected. GAE adds up the one-step "
         "surprises (TD errors) from that step on, each further one weighted less (by γλ per step), and "
         "stops where the episode ends; only a real termination removes the value of the next state.",
    formula="Go backwards. δ_t = r_t + γ·V(s_{t+1})·(1 − terminated_t) − V(s_t); "
            "A_t = δ_t + γλ·(1 − done_t)·A_{t+1} with done_t = terminated_t or truncated_t; "
            "return (advantages, advantages + values).",
    code_hint="next_adv = 0.0; for t in reversed(range(T)): delta = rewards[t] + gamma * next_values[t] * "
              "(1 - terminated[t]) - values[t]; next_adv = delta + gamma * lam * (1 - done[t]) * next_adv; "
              "adv[t] = next_adv. Return adv, adv + values (numpy float arrays).",
    mistakes=(
        Mistake("sign_error", _sign_error,
                "Every advantage has the wrong sign. The TD error is what happened minus what was expected: "
                "δ_t = r_t + γ·V(s_{t+1}) − V(s_t), not V(s_t) − r_t − γ·V(s_{t+1})."),
        Mistake("ignores_episode_ends", _ignores_episode_ends,
                "Your advantages ignore episode ends. At a terminated step there is no V(s_{t+1}) to add, "
                "and at any episode end (terminated or truncated) A_{t+1} belongs to the next episode: "
                "multiply it by (1 − done_t)."),
        Mistake("flows_across_episodes", _flows_across_episodes,
                "Your δ is right, but the recursion runs across episode boundaries: the next step after an "
                "episode end is the first step of another episode. Use A_t = δ_t + γλ·(1 − done_t)·A_{t+1}, "
                "with done_t = terminated_t or truncated_t."),
        Mistake("bootstraps_through_termination", _bootstraps_through_termination,
                "At a terminated step you still add γ·V(s_{t+1}). A terminal state has no future: "
                "δ_t = r_t + γ·V(s_{t+1})·(1 − terminated_t) − V(s_t)."),
        Mistake("truncation_as_termination", _truncation_as_termination,
                "You treat a time-limit truncation like a termination and drop γ·V(s_{t+1}). The episode "
                "was only cut short; the state still had a future, so bootstrap from next_values there. Only "
                "`terminated` removes the bootstrap (the recursion still stops at both)."),
        Mistake("no_lambda", _no_lambda,
                "The recursion is missing λ: A_t = δ_t + γ·λ·(1 − done_t)·A_{t+1}."),
        Mistake("no_gamma_in_recursion", _no_gamma_in_recursion,
                "The recursion is missing γ: the weight of δ_{t+l} is (γλ)^l, so A_t = δ_t + γ·λ·A_{t+1}."),
        Mistake("returns_are_advantages", _returns_are_advantages,
                "Your advantages are right, but the returns are not: the value target is "
                "returns = advantages + values (A_t = R_t − V(s_t))."),
    ),
))


# --- clipped_surrogate -----------------------------------------------------------------------


def _surrogate_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2017)
    cases = [
        Case((torch.tensor([0.5, 1.0, 1.5, 1.5]), torch.tensor([1.0, -1.0, 1.0, -1.0]), 0.2),
             label="ratio=[0.5, 1.0, 1.5, 1.5], adv=[1, -1, 1, -1], eps=0.2"),
        Case((torch.tensor([1.3]), torch.tensor([2.0]), 0.1),
             label="one sample beyond the clip with a positive advantage: ratio=[1.3], adv=[2], eps=0.1"),
        Case((torch.tensor([0.7]), torch.tensor([-2.0]), 0.1),
             label="one sample beyond the clip with a negative advantage: ratio=[0.7], adv=[-2], eps=0.1"),
    ]
    for eps in (0.1, 0.2, 0.3):
        ratio = torch.exp(0.4 * torch.randn(12, generator=gen))
        adv = torch.randn(12, generator=gen)
        cases.append(Case((ratio, adv, eps)))
    return cases


def teaching_clipped_surrogate(ratio, adv, eps):
    """PPO's clipped surrogate as a loss: −mean(min(ρ·A, clip(ρ, 1 − ε, 1 + ε)·A)). ratio, adv: same shape."""
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - eps, 1 + eps) * adv
    return -torch.min(unclipped, clipped).mean()  # the pessimistic term, then minus: a loss to minimise


def _surr_terms(ratio, adv, eps):
    ratio, adv = torch.as_tensor(ratio), torch.as_tensor(adv)
    return ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv


def _surr_sign(ratio, adv, eps):
    a, b = _surr_terms(ratio, adv, eps)
    return torch.min(a, b).mean()


def _surr_max(ratio, adv, eps):
    a, b = _surr_terms(ratio, adv, eps)
    return -torch.max(a, b).mean()


def _surr_clips_adv(ratio, adv, eps):
    ratio, adv = torch.as_tensor(ratio), torch.as_tensor(adv)
    return -torch.min(ratio * adv, ratio * torch.clamp(adv, 1 - eps, 1 + eps)).mean()


def _surr_no_min(ratio, adv, eps):
    return -_surr_terms(ratio, adv, eps)[1].mean()


def _surr_no_clip(ratio, adv, eps):
    return -_surr_terms(ratio, adv, eps)[0].mean()


def _surr_sum(ratio, adv, eps):
    a, b = _surr_terms(ratio, adv, eps)
    return -torch.min(a, b).sum()


register(Exercise(
    name="clipped_surrogate",
    reference=clipped_surrogate,
    cases=_surrogate_cases,
    signature="clipped_surrogate(ratio, adv, eps)",
    notebook="04_ppo_cartpole",
    library=("course_lib.ppo.math:clipped_surrogate", "course_lib.ppo.math:clipped_objective"),
    grad_args=("ratio",),  # the gradient is what the clip is about: zero beyond the clip on the profitable side
    tensor_out=True,
    teaching=teaching_clipped_surrogate,
    hint="PPO takes the more pessimistic of two estimates of how good the new policy is: ratio × advantage, "
         "and the same with the ratio held inside [1 − ε, 1 + ε]. Then it turns that objective into a loss "
         "to minimise.",
    formula="loss = −mean(min(ratio·adv, clamp(ratio, 1 − eps, 1 + eps)·adv)): elementwise min, then the mean, "
            "then the minus sign (we minimise the loss to maximise the objective).",
    code_hint="unclipped = ratio * adv; clipped = torch.clamp(ratio, 1 - eps, 1 + eps) * adv; "
              "return -torch.min(unclipped, clipped).mean().",
    mistakes=(
        Mistake("sign_error", _surr_sign,
                "Right magnitude, wrong sign: L^CLIP is an objective to maximise, and optimisers minimise. "
                "Return its negative, −mean(min(ρA, clip(ρ)A))."),
        Mistake("max_instead_of_min", _surr_max,
                "You took the max of the two terms. PPO takes the min, the pessimistic bound: the update may "
                "not profit from moving the ratio beyond the clip, but it still pays for a bad move."),
        Mistake("clips_advantage", _surr_clips_adv,
                "You clipped the advantage. The clip is on the probability ratio: clamp(ratio, 1 − eps, 1 + eps) "
                "multiplied by adv, so the advantage keeps its full size and sign."),
        Mistake("no_min", _surr_no_min,
                "You used only the clipped term. Keep the min with the unclipped term ρ·A: without it a "
                "ratio pushed the wrong way (e.g. ρ < 1 − ε with A > 0) gets no gradient to come back."),
        Mistake("no_clip", _surr_no_clip,
                "This is the unclipped surrogate −mean(ρ·A). Add the clipped term clamp(ρ, 1 − ε, 1 + ε)·A and "
                "take the elementwise min of the two."),
        Mistake("sum_instead_of_mean", _surr_sum,
                "You summed over the samples; take the mean, so the loss does not grow with the batch size."),
    ),
))
