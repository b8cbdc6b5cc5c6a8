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
    import numpy as np
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
    import torch
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


# --- ppo_minibatch_loss: one minibatch of PPO's update, assembled ------------------------------

from ...ppo.losses import ppo_loss  # noqa: E402

ADV_NORM_EPS = 1e-8  # as course_lib.ppo.train normalises each minibatch's advantages


def _minibatch_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(2004)
    t = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
    cases = [Case((t([-0.5, -1.0, -0.7, -2.0]), t([-0.5, -1.0, -0.7, -2.0]), t([1.0, -1.0, 2.0, 0.0]),
                   t([0.5, 0.0, 1.0, -1.0]), t([1.0, 0.0, 0.5, -1.0]), 0.2, 0.5),
                  label="4 samples, first epoch (logp_new == logp_old), adv=[1, -1, 2, 0], eps=0.2, vf_coef=0.5")]
    for n, spread, eps, vf_coef in ((8, 0.3, 0.2, 0.5), (16, 0.4, 0.1, 1.0), (12, 0.5, 0.3, 0.25),
                                    (32, 0.3, 0.2, 0.5), (6, 0.6, 0.2, 2.0)):
        logp_old = -torch.rand(n, generator=gen) * 2 - 0.05
        logp_new = logp_old + torch.randn(n, generator=gen) * spread
        adv = torch.randn(n, generator=gen) * 3 + 1  # raw GAE advantages: not centred, not unit scale
        values = torch.randn(n, generator=gen) * 2
        returns = values + torch.randn(n, generator=gen) * 2
        cases.append(Case((logp_new, logp_old, adv, values, returns, eps, vf_coef),
                          label=f"a minibatch of {n} samples, eps={eps}, vf_coef={vf_coef}"))
    return cases


def library_ppo_minibatch_loss(logp_new, logp_old, adv, values, returns, eps, vf_coef):
    """What ``course_lib.ppo.train`` minimises on one minibatch: the library's ``ppo.losses.ppo_loss``."""
    return ppo_loss(logp_new, logp_old, adv, values, returns, eps, vf_coef)[0]


def teaching_ppo_minibatch_loss(logp_new, logp_old, adv, values, returns, eps, vf_coef):
    """PPO's loss on one minibatch: clipped surrogate + vf_coef · value loss. All inputs (N,) -> scalar."""
    import torch
    adv = adv.detach()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)  # normalised per minibatch: a scale-free step
    ratio = torch.exp(logp_new - logp_old.detach())  # ρ = π_θ(a|s) / π_old(a|s)
    surrogate = torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv)
    policy_loss = -surrogate.mean()  # maximise the pessimistic surrogate
    value_loss = ((values - returns.detach()) ** 2).mean()  # the critic regresses on the returns
    return policy_loss + vf_coef * value_loss


def _mb_variant(logp_new, logp_old, adv, values, returns, eps, vf_coef, *, norm="sample", ratio_fn=None,
                clip=True, v_sign=1.0, v_scale=1.0, coef_on_policy=False, detach_ret=True, detach_old=True, detach_adv=True):
    """The teaching solution with one step changed: each mistake below names its change."""
    adv = adv.detach() if detach_adv else adv
    if norm == "sample":
        adv = (adv - adv.mean()) / (adv.std() + ADV_NORM_EPS)
    elif norm == "population":
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + ADV_NORM_EPS)
    elif norm == "scale_only":
        adv = adv / (adv.std() + ADV_NORM_EPS)
    lp_old = logp_old.detach() if detach_old else logp_old
    ratio = ratio_fn(logp_new, lp_old) if ratio_fn else torch.exp(logp_new - lp_old)
    surr = torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv) if clip else ratio * adv
    ret = returns.detach() if detach_ret else returns
    v_loss = v_scale * ((values - ret) ** 2).mean()
    if coef_on_policy:
        return vf_coef * -surr.mean() + v_loss
    return -surr.mean() + v_sign * vf_coef * v_loss


def _mb_ratio_not_exp(*a):
    return _mb_variant(*a, ratio_fn=lambda new, old: new - old)


def _mb_ratio_of_logs(*a):
    return _mb_variant(*a, ratio_fn=lambda new, old: new / old)


def _mb_value_sign(*a):
    return _mb_variant(*a, v_sign=-1.0)


def _mb_half_mse(*a):
    return _mb_variant(*a, v_scale=0.5)  # ½·mean((values − returns)²), as CleanRL writes it


def _mb_no_clip(*a):
    return _mb_variant(*a, clip=False)


def _mb_no_norm(*a):
    return _mb_variant(*a, norm="none")


def _mb_population_std(*a):
    return _mb_variant(*a, norm="population")


def _mb_not_centred(*a):
    return _mb_variant(*a, norm="scale_only")


def _mb_coef_on_policy(*a):
    return _mb_variant(*a, coef_on_policy=True)


def _mb_returns_not_detached(*a):
    return _mb_variant(*a, detach_ret=False)


def _mb_old_not_detached(*a):
    return _mb_variant(*a, detach_old=False)


def _mb_adv_not_detached(*a):
    return _mb_variant(*a, detach_adv=False)


register(Exercise(
    name="ppo_minibatch_loss",
    reference=library_ppo_minibatch_loss,
    cases=_minibatch_cases,
    signature="ppo_minibatch_loss(logp_new, logp_old, adv, values, returns, eps, vf_coef) -> scalar tensor",
    notebook="04_ppo_cartpole",
    library=("course_lib.exercises.catalog.ppo:library_ppo_minibatch_loss", "course_lib.ppo.losses:ppo_loss",
             "course_lib.ppo.math:clipped_surrogate",
             "course_lib.ppo.math:clipped_objective", "course_lib.ppo.math:value_loss"),
    grad_args=("logp_new", "logp_old", "adv", "values", "returns"),  # only logp_new and values may get gradients
    tensor_out=True,
    teaching=teaching_ppo_minibatch_loss,
    rtol=1e-4,
    atol=1e-6,
    hint="One minibatch of PPO trains the actor and the critic with one loss: the actor's clipped surrogate "
         "on normalised advantages, plus vf_coef times the critic's regression error. Only the new "
         "log-probabilities and the values are being trained; everything from the rollout is a constant.",
    formula="Â = (adv − mean(adv)) / (std(adv) + 1e-8) over the minibatch (torch.std); ρ = exp(logp_new − "
            "logp_old); L = −mean(min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â)) + vf_coef · mean((values − returns)²).",
    code_hint="a = adv.detach(); a = (a - a.mean()) / (a.std() + 1e-8); ratio = torch.exp(logp_new - "
              "logp_old.detach()); surr = torch.min(ratio * a, torch.clamp(ratio, 1 - eps, 1 + eps) * a); "
              "return -surr.mean() + vf_coef * ((values - returns.detach()) ** 2).mean().",
    mistakes=(
        Mistake("ratio_not_exp", _mb_ratio_not_exp,
                "Your ratio is logp_new − logp_old, a log-ratio (0 when nothing changed). The probability ratio "
                "is exp(logp_new − logp_old), 1 when the policy has not moved."),
        Mistake("ratio_of_logprobs", _mb_ratio_of_logs,
                "You divided the log-probabilities. π_θ/π_old = exp(log π_θ − log π_old): subtract the logs, "
                "then exponentiate."),
        Mistake("value_loss_sign", _mb_value_sign,
                "Your value term has the wrong sign: the critic's squared error is a loss to *minimise*, so it "
                "is added: policy loss + vf_coef · mean((values − returns)²)."),
        Mistake("half_mse", _mb_half_mse,
                "Your value term is half the expected one: you wrote ½·mean((values − returns)²). CleanRL "
                "does (the ½ tidies the gradient), but the course's value loss, like Stable-Baselines3's "
                "F.mse_loss, has no ½: vf_coef · mean((values − returns)²). With ½ the critic's effective "
                "weight is vf_coef / 2."),
        Mistake("no_clip", _mb_no_clip,
                "Your policy term ignores eps: take min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â), so later epochs on the same "
                "data cannot push the ratio far past 1 ± ε."),
        Mistake("advantages_not_normalised", _mb_no_norm,
                "You used the raw advantages. The course (like SB3 and CleanRL) normalises them per minibatch: "
                "(adv − mean) / (std + 1e-8), so the step size does not depend on the reward scale."),
        Mistake("population_std", _mb_population_std,
                "Close: you normalised with the population std (divide by N). Use torch.std's default, the "
                "sample std (divide by N − 1), as course_lib.ppo.train does."),
        Mistake("advantages_not_centred", _mb_not_centred,
                "You divided the advantages by their std but did not subtract their mean first: "
                "Â = (adv − mean(adv)) / (std(adv) + 1e-8)."),
        Mistake("vf_coef_on_policy_loss", _mb_coef_on_policy,
                "vf_coef weights the value loss, not the policy loss: L = policy loss + vf_coef · value loss."),
        Mistake("returns_not_detached", _mb_returns_not_detached,
                "The value is right, but gradients flow into returns. The returns are the critic's target, a "
                "constant of the loss: regress values on returns.detach()."),
        Mistake("old_not_detached", _mb_old_not_detached,
                "The value is right, but gradients flow into logp_old. π_old collected the data; it is a "
                "constant of this loss: use logp_old.detach()."),
        Mistake("adv_not_detached", _mb_adv_not_detached,
                "The value is right, but gradients flow into adv (in a full PPO they would reach the critic "
                "through GAE). Advantages are constants of the policy loss: use adv.detach()."),
    ),
))
