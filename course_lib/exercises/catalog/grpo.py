"""Exercises of notebook 08 (GRPO): group-relative advantages and the k3 KL estimator."""
from __future__ import annotations

import torch

from ...grpo.losses import ADV_EPS, group_advantages, kl_k3
from ..registry import Case, Exercise, Mistake, register

# ---------------------------------------------------------------------------------------------
# group_advantages(rewards, group_size): Â_i = (r_i − mean_group) / (std_group + eps)
# ---------------------------------------------------------------------------------------------


def _adv_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(808)
    t = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
    cases = [
        Case((t([1.0, 0.0, 0.0, 1.0]), 2), label="rewards=[1, 0, 0, 1], group_size=2 (two prompts)"),
        Case((t([2.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 1.0]), 4),
             label="rewards=[2, 0, 1, 1, 2, 2, 0, 1], group_size=4"),
        Case((t([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]), 4),
             label="rewards=[1, 1, 1, 1, 0, 1, 0, 0], group_size=4 (the first group is all correct)"),
        Case((t([0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0, 2.0, 1.0]), 3),
             label="rewards=[0, 0, 0, 2, 2, 2, 0, 2, 1], group_size=3 (two groups with equal rewards)"),
    ]
    for G, n_prompts in ((4, 3), (8, 2), (2, 5), (6, 3)):
        r = torch.randint(0, 3, (n_prompts * G,), generator=gen).float()
        cases.append(Case((r, G)))
    return cases


def teaching_group_advantages(rewards, group_size):
    """Â_i = (r_i − mean of its group) / (std of its group + 1e-4). rewards: (B,), groups consecutive."""
    import torch
    groups = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)  # (n_prompts, G)
    centred = groups - groups.mean(dim=1, keepdim=True)  # the group mean is the baseline
    return (centred / (groups.std(dim=1, keepdim=True) + 1e-4)).reshape(-1)


def _adv_reference(rewards, group_size):
    return group_advantages(rewards, group_size)


def _adv_whole_batch(rewards, group_size):
    r = torch.as_tensor(rewards, dtype=torch.float32)
    return (r - r.mean()) / (r.std() + ADV_EPS)  # one mean and std for the whole batch


def _adv_zero_std(rewards, group_size):
    g = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
    return ((g - g.mean(1, keepdim=True)) / g.std(1, keepdim=True)).reshape(-1)  # 0/0 for equal rewards


def _adv_population_std(rewards, group_size):
    g = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
    return ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True, unbiased=False) + ADV_EPS)).reshape(-1)


def _adv_no_std(rewards, group_size):
    g = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
    return (g - g.mean(1, keepdim=True)).reshape(-1)


def _adv_strided_groups(rewards, group_size):
    # view(group_size, -1) puts every n-th completion in a group instead of G consecutive ones
    g = torch.as_tensor(rewards, dtype=torch.float32).view(group_size, -1)
    return ((g - g.mean(0, keepdim=True)) / (g.std(0, keepdim=True) + ADV_EPS)).reshape(-1)


def _adv_batch_mean_group_std(rewards, group_size):
    r = torch.as_tensor(rewards, dtype=torch.float32)
    g = r.view(-1, group_size)
    return ((g - r.mean()) / (g.std(1, keepdim=True) + ADV_EPS)).reshape(-1)


register(Exercise(
    name="group_advantages",
    reference=_adv_reference,
    cases=_adv_cases,
    signature="group_advantages(rewards, group_size) -> tensor of shape (B,)",
    notebook="08_grpo",
    library=("course_lib.grpo.losses:group_advantages",),
    tensor_out=True,
    teaching=teaching_group_advantages,
    formula="Reshape the rewards to (n_prompts, G) with .view(-1, group_size) (the G completions of a prompt "
            "are consecutive); Â = (r − mean of the row) / (std of the row + eps), with torch.std (Bessel's "
            "correction) and a small eps such as 1e-4; flatten back to (B,).",
    code_hint="g = rewards.view(-1, group_size); adv = (g - g.mean(dim=1, keepdim=True)) / "
              "(g.std(dim=1, keepdim=True) + 1e-4); return adv.reshape(-1).",
    rtol=1e-3,  # any small eps (or returning exact zeros for equal rewards) passes
    atol=1e-5,
    hint="GRPO has no critic: each completion is compared only with the other completions of the same "
         "prompt. Good means better than its group's average, measured in units of the group's spread.",
    mistakes=(
        Mistake("whole_batch", _adv_whole_batch,
                "You normalised over the whole batch. GRPO compares each completion only with the other "
                "completions of the same prompt: reshape to (n_prompts, G) and take the mean and std per row. "
                "A batch-wide baseline makes easy prompts look good and hard ones look bad."),
        Mistake("zero_std", _adv_zero_std,
                "You get NaN for a group whose rewards are all equal: its std is 0 and you divide 0 by 0. "
                "Add a small eps to the std, or give such a group advantages of 0: when every answer is "
                "equally good there is nothing to prefer. (DeepSeekMath's formula divides by the std with "
                "no eps; the 1e-4 the course uses is TRL's.)"),
        Mistake("population_std", _adv_population_std,
                "Close, but you used the population std (divide by G). The course, like torch.std and "
                "TRL, uses the sample std with Bessel's correction (divide by G − 1): g.std(dim=1)."),
        Mistake("no_std", _adv_no_std,
                "You only subtracted the group mean. That is Dr. GRPO's advantage (scale='none'); "
                "DeepSeekMath's GRPO also divides by the group's std (its formula has no eps; the course "
                "adds TRL's 1e-4 so that a group of equal rewards gets 0, not 0/0)."),
        Mistake("strided_groups", _adv_strided_groups,
                "Your groups mix prompts: .view(group_size, -1) puts every n-th completion together. The G "
                "completions of one prompt are consecutive, so reshape with .view(-1, group_size) and "
                "reduce over dim=1."),
        Mistake("batch_mean_group_std", _adv_batch_mean_group_std,
                "You subtracted the mean of the whole batch. The baseline is the mean of the completion's "
                "own group: g.mean(dim=1, keepdim=True)."),
    ),
))

# ---------------------------------------------------------------------------------------------
# kl_k3(logp, logp_ref, mask): exp(logp_ref − logp) − (logp_ref − logp) − 1 on real tokens
# ---------------------------------------------------------------------------------------------


def _kl_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(809)
    cases = []
    t = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
    cases.append(Case((t([[-1.0, -0.5]]), t([[-1.0, -0.5]]), t([[1.0, 1.0]])),
                      label="logp == logp_ref (the two policies agree), no padding"))
    cases.append(Case((t([[-0.2, -1.5, 0.0]]), t([[-0.9, -0.4, -2.3]]), t([[1.0, 1.0, 0.0]])),
                      label="logp=[[-0.2, -1.5, 0.0]], logp_ref=[[-0.9, -0.4, -2.3]], mask=[[1, 1, 0]]"))
    for B, T in ((3, 4), (4, 5), (2, 6)):
        logp, logp_ref, mask = _random_kl_batch(gen, B, T)
        cases.append(Case((logp, logp_ref, mask)))
    # "whatever the padding holds": -inf and NaN in the padding, next to ordinary garbage
    logp, logp_ref, mask = _random_kl_batch(gen, 3, 6)
    pad = ~mask.bool()
    first_pad = pad & (pad.cumsum(1) == 1)  # the first padding position of each row
    logp = torch.where(first_pad, torch.full_like(logp, float("-inf")), logp)
    cases.append(Case((logp, logp_ref, mask),
                      label="3 sequences whose padding holds -inf in logp (a sampler's masked-out value)"))
    logp, logp_ref, mask = _random_kl_batch(gen, 2, 7)
    pad = ~mask.bool()
    first_pad = pad & (pad.cumsum(1) == 1)
    logp_ref = torch.where(first_pad, torch.full_like(logp_ref, float("nan")), logp_ref)
    cases.append(Case((logp, logp_ref, mask), label="2 sequences whose padding holds NaN in logp_ref"))
    return cases


def _random_kl_batch(gen, B, T):
    logp = -torch.rand(B, T, generator=gen) * 3
    logp_ref = logp + torch.randn(B, T, generator=gen) * 0.7
    lengths = torch.randint(1, T - 1, (B,), generator=gen)
    lengths[0] = T  # one row without padding
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    # what padding often holds: logp 0 (sampler) and a reference log-prob of a pad token
    logp = torch.where(mask.bool(), logp, torch.zeros_like(logp))
    logp_ref = torch.where(mask.bool(), logp_ref, torch.full_like(logp_ref, -4.0))
    return logp, logp_ref, mask


def teaching_kl_k3(logp, logp_ref, mask):
    """k3 = exp(x) − x − 1 per token with x = logp_ref − logp; 0 on padding. All (B, T)."""
    import torch
    keep = mask.bool()
    # Replace padding *before* any arithmetic: it may hold -inf or NaN, and 0 · inf is NaN,
    # in the value and in the gradient.
    logp = torch.where(keep, logp, torch.zeros_like(logp))
    logp_ref = torch.where(keep, logp_ref, torch.zeros_like(logp_ref))
    x = logp_ref - logp  # log(π_ref / π_θ)
    return (torch.exp(x) - x - 1) * keep


def _kl_reference(logp, logp_ref, mask):
    return kl_k3(logp, logp_ref, mask)


# The common mistakes come in two halves: a wrong per-token estimate, and padding handled wrongly.
# A learner often makes one of each; the padding cases (-inf, NaN) would then hide the estimate's
# hint, so every pair is registered too, and its verdict names both.
_KL_ESTIMATES = {  # name -> the wrong per-token estimate, from logp and logp_ref
    "reversed": lambda lp, ref: torch.exp(lp - ref) - (lp - ref) - 1,  # log(π_θ/π_ref): upside down
    "negated": lambda lp, ref: -(torch.exp(ref - lp) - (ref - lp) - 1),
    "k1_log_ratio": lambda lp, ref: lp - ref,
    "no_minus_one": lambda lp, ref: torch.exp(ref - lp) - (ref - lp),
    "plus_log": lambda lp, ref: torch.exp(ref - lp) + (ref - lp) - 1,
}
_K3 = lambda lp, ref: torch.exp(ref - lp) - (ref - lp) - 1  # noqa: E731 - the right estimate


def _pad_clean(est, logp, logp_ref, mask):  # right: the inputs' padding replaced before any arithmetic
    keep = mask.bool()
    logp = torch.where(keep, logp, torch.zeros_like(logp))
    logp_ref = torch.where(keep, logp_ref, torch.zeros_like(logp_ref))
    return est(logp, logp_ref) * mask


def _pad_ignored(est, logp, logp_ref, mask):  # padding leaks into the result
    return est(logp, logp_ref)


def _pad_mask_after_exp(est, logp, logp_ref, mask):  # 0 · inf and 0 · NaN are NaN
    return est(logp, logp_ref) * mask


def _pad_where_after_exp(est, logp, logp_ref, mask):  # right values, NaN gradient on padding
    k = est(logp, logp_ref)
    return torch.where(mask.bool(), k, torch.zeros_like(k))


_KL_PADDING = {"ignores_mask": _pad_ignored, "mask_after_exp": _pad_mask_after_exp,
               "where_after_exp": _pad_where_after_exp}


def _kl_mistake(estimate: str | None, padding: str | None):
    """The learner's kl_k3 with a wrong ``estimate`` and/or a wrong ``padding`` rule (None: right)."""
    est = _KL_ESTIMATES[estimate] if estimate else _K3
    pad = _KL_PADDING[padding] if padding else _pad_clean

    def fn(logp, logp_ref, mask):
        return pad(est, logp, logp_ref, mask)

    fn.__name__ = f"_kl_{estimate or 'k3'}_{padding or 'clean'}"
    return fn


_KL_SINGLE = dict(
    reversed="Your ratio is upside down: k3 for KL[π_θ || π_ref] uses r = π_ref/π_θ, i.e. "
             "x = logp_ref − logp (the tokens were sampled from π_θ), then exp(x) − x − 1.",
    negated="Your values are the negative of the KL: the k3 estimate exp(x) − x − 1 is never negative. "
            "The minus sign belongs in the objective (J − β·KL), not in the estimator.",
    k1_log_ratio="You returned the log-ratio logp − logp_ref (the k1 estimator). It is unbiased but can be "
                 "negative per token and is noisy; k3 = exp(x) − x − 1 with x = logp_ref − logp is never negative.",
    no_minus_one="Every value is 1 too large: k3 = exp(x) − x − 1, so that it is 0 when the two policies agree.",
    plus_log="Check the sign of the middle term: k3 = r − log r − 1 = exp(x) − x − 1, not exp(x) + x − 1.",
    ignores_mask="Padding leaks in: positions where mask is 0 are not real tokens, but your KL is not 0 there. "
                 "Padding may hold anything (even -inf or NaN): replace it in the inputs first "
                 "(torch.where(mask.bool(), logp, 0)), then compute, so padding adds nothing.",
    mask_after_exp="Right on real tokens, but NaN on padding that holds -inf or NaN: multiplying by the mask "
                   "comes too late, because 0 · inf and 0 · NaN are NaN. Replace the padding in the inputs "
                   "first: logp = torch.where(mask.bool(), logp, 0) (and the same for logp_ref).",
    where_after_exp="Your values are right, but the gradient on padding is NaN: torch.where picks the value, "
                    "yet the backward pass still multiplies the zero gradient of the unused branch by that "
                    "branch's derivative there (exp(inf) = inf, and 0 · inf = NaN), which would poison the "
                    "whole model. Clean the inputs before the exp: torch.where(mask.bool(), logp, 0), the "
                    "same for logp_ref.",
)
_KL_PADDING_SHORT = dict(  # the padding half of a two-part hint
    ignores_mask="Padding leaks in: where mask is 0 your KL is not 0. Replace the padding in the inputs "
                 "first (torch.where(mask.bool(), logp, 0), the same for logp_ref), then compute.",
    mask_after_exp="On padding that holds -inf or NaN you get NaN: multiplying by the mask comes too late "
                   "(0 · inf and 0 · NaN are NaN). Replace the padding in the inputs first: "
                   "torch.where(mask.bool(), logp, 0), the same for logp_ref.",
    where_after_exp="On padding that holds -inf or NaN your gradient is NaN: torch.where after the exp picks "
                    "the right value, but backward still multiplies 0 by exp(inf). Replace the padding in "
                    "the inputs before the exp.",
)

register(Exercise(
    name="kl_k3",
    reference=_kl_reference,
    cases=_kl_cases,
    signature="kl_k3(logp, logp_ref, mask) -> tensor of the shape of logp, 0 where mask is 0",
    notebook="08_grpo",
    library=("course_lib.grpo.losses:kl_k3", "course_lib.ppo.math:k3"),
    grad_args=("logp", "logp_ref"),
    tensor_out=True,
    teaching=teaching_kl_k3,
    hint="k3 estimates, token by token, how far the policy has drifted from the reference, from the two "
         "log-probabilities alone; it is never negative. Padding tokens must count zero, whatever numbers "
         "they hold (even -inf or NaN), in the value and in the gradient.",
    formula="With x = logp_ref − logp = log(π_ref/π_θ), the k3 estimate per token is exp(x) − x − 1; "
            "0 where mask is 0 — replace the padding in the inputs before the exp.",
    code_hint="keep = mask.bool(); logp = torch.where(keep, logp, torch.zeros_like(logp)) and the same for "
              "logp_ref; x = logp_ref - logp; return (torch.exp(x) - x - 1) * keep.",
    mistakes=(
        *(Mistake(est, _kl_mistake(est, None), _KL_SINGLE[est]) for est in _KL_ESTIMATES),
        *(Mistake(pad, _kl_mistake(None, pad), _KL_SINGLE[pad]) for pad in _KL_PADDING),
        # two mistakes at once get one verdict that names both (the padding cases would hide the first)
        *(Mistake(f"{est}+{pad}", _kl_mistake(est, pad),
                  f"Two things to fix. (1) {_KL_SINGLE[est]} (2) {_KL_PADDING_SHORT[pad]}")
          for est in _KL_ESTIMATES for pad in _KL_PADDING
          if (est, pad) != ("k1_log_ratio", "where_after_exp")),  # k1 has no exp: where() is then enough
    ),
))

# ---------------------------------------------------------------------------------------------
# grpo_loss(logp, logp_old, logp_ref, adv, mask, eps, beta): the whole objective, assembled
# ---------------------------------------------------------------------------------------------
from ...grpo.losses import grpo_loss as _library_grpo_loss  # noqa: E402


def _grpo_batch(gen, B, T, spread):
    logp_old = -torch.rand(B, T, generator=gen) * 3 - 0.05
    logp = logp_old + torch.randn(B, T, generator=gen) * spread  # far enough for ρ to leave [1−ε, 1+ε]
    logp_ref = logp_old + torch.randn(B, T, generator=gen) * 0.5
    lengths = torch.randint(1, T, (B,), generator=gen)
    lengths[0] = T  # one completion without padding
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    pad = ~mask.bool()
    # padding holds whatever the sampler left there: 0 in logp and logp_old, a pad token's log-prob in logp_ref
    logp = torch.where(pad, torch.zeros_like(logp), logp)
    logp_old = torch.where(pad, torch.zeros_like(logp_old), logp_old)
    logp_ref = torch.where(pad, torch.full_like(logp_ref, -4.0), logp_ref)
    adv = torch.randn(B, generator=gen)
    return logp, logp_old, logp_ref, adv, mask


def _grpo_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(810)
    t = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
    cases = [Case((t([[-1.0, -0.5, 0.0]]), t([[-1.0, -0.5, 0.0]]), t([[-1.0, -0.5, 0.0]]), t([1.0]),
                   t([[1.0, 1.0, 0.0]]), 0.2, 0.04),
                  label="one completion of 2 tokens + 1 padding, on-policy (ρ = 1), π_ref = π_θ, Â = 1")]
    for B, T, spread, eps, beta in ((4, 5, 0.4, 0.2, 0.0), (6, 7, 0.5, 0.2, 0.04), (3, 6, 0.8, 0.1, 0.1),
                                    (8, 4, 0.3, 0.28, 0.02), (5, 9, 0.6, 0.2, 0.5)):
        logp, logp_old, logp_ref, adv, mask = _grpo_batch(gen, B, T, spread)
        cases.append(Case((logp, logp_old, logp_ref, adv, mask, eps, beta),
                          label=f"B={B} completions of up to T={T} tokens, eps={eps}, beta={beta}"))
    # the same rule as kl_k3: padding may hold anything, -inf and NaN included
    logp, logp_old, logp_ref, adv, mask = _grpo_batch(gen, 4, 6, 0.5)
    pad = ~mask.bool()
    first_pad = pad & (pad.cumsum(1) == 1)  # the first padding position of each row
    logp = torch.where(first_pad, torch.full_like(logp, float("-inf")), logp)
    cases.append(Case((logp, logp_old, logp_ref, adv, mask, 0.2, 0.04),
                      label="4 completions whose padding holds -inf in logp (a sampler's masked-out value)"))
    logp, logp_old, logp_ref, adv, mask = _grpo_batch(gen, 3, 7, 0.5)
    pad = ~mask.bool()
    logp_ref = torch.where(pad & (pad.cumsum(1) == 1), torch.full_like(logp_ref, float("nan")), logp_ref)
    cases.append(Case((logp, logp_old, logp_ref, adv, mask, 0.2, 0.04),
                      label="3 completions whose padding holds NaN in logp_ref"))
    return cases


def teaching_grpo_loss(logp, logp_old, logp_ref, adv, mask, eps, beta):
    """−J of DeepSeekMath Eq. 3 for one batch. logp*, mask: (B, T); adv: (B,) -> scalar tensor."""
    import torch
    keep = mask.bool()
    zero = torch.zeros_like(logp)
    # Padding may hold anything, -inf and NaN included: replace it before any exp.
    logp = torch.where(keep, logp, zero)
    logp_old = torch.where(keep, logp_old, zero).detach()  # π_old sampled the tokens: a constant
    logp_ref = torch.where(keep, logp_ref, zero).detach()  # the frozen reference: a constant
    A = adv.detach()[:, None]  # (B, 1): one advantage shared by all tokens of a completion
    ratio = torch.exp(logp - logp_old)  # ρ = π_θ / π_old per token
    surrogate = torch.min(ratio * A, torch.clamp(ratio, 1 - eps, 1 + eps) * A)  # pessimistic
    x = logp_ref - logp
    k3 = torch.exp(x) - x - 1  # per-token KL estimate to the reference, ≥ 0
    per_token = -(surrogate - beta * k3)  # the loss is −J
    m = keep.float()
    per_sequence = (per_token * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)  # 1/|o_i| Σ_t
    return per_sequence.mean()  # 1/G Σ_i (over all completions of the batch)


def library_grpo_loss(logp, logp_old, logp_ref, adv, mask, eps, beta):
    """The library's ``course_lib.grpo.grpo_loss`` in the exercise's signature (the expected outputs)."""
    return _library_grpo_loss(logp, logp_old, logp_ref, adv, mask, eps_low=eps, beta=beta,
                              aggregation="grpo")[0]


def _grpo_variant(logp, logp_old, logp_ref, adv, mask, eps, beta, *, ratio_fn=None, combine=None,
                  kl_sign=1.0, aggregate="sequence", detach_adv=True, detach_old=True, sign=-1.0,
                  padding="clean"):
    """The teaching solution with one step changed (two where a pair is registered): each mistake
    below names its change. ``padding``: "clean" (right), "multiplied" (the per-token loss times the
    mask, inputs not cleaned) or "where" (torch.where on the per-token loss, inputs not cleaned)."""
    keep = mask.bool()
    zero = torch.zeros_like(logp)
    if padding == "clean":
        logp = torch.where(keep, logp, zero)
        logp_old = torch.where(keep, logp_old, zero)
        logp_ref = torch.where(keep, logp_ref, zero)
    logp_old = logp_old.detach() if detach_old else logp_old
    logp_ref = logp_ref.detach()
    A = (adv.detach() if detach_adv else adv)[:, None]
    ratio = ratio_fn(logp, logp_old) if ratio_fn else torch.exp(logp - logp_old)
    clipped = torch.clamp(ratio, 1 - eps, 1 + eps) * A
    surrogate = combine(ratio * A, clipped) if combine else torch.min(ratio * A, clipped)
    x = logp_ref - logp
    per_token = sign * (surrogate - kl_sign * beta * (torch.exp(x) - x - 1))
    if padding == "where":
        per_token = torch.where(keep, per_token, torch.zeros_like(per_token))
    m = keep.float()
    if aggregate == "all_positions":  # padding counted: divide by T, not by the completion's length
        return ((per_token * m).sum(1) / logp.shape[1]).mean()
    if aggregate == "token_mean":  # one mean over every real token of the batch (DAPO's choice)
        return (per_token * m).sum() / m.sum()
    if aggregate == "sum":
        return ((per_token * m).sum(1)).mean()
    return ((per_token * m).sum(1) / m.sum(1).clamp_min(1)).mean()


def _grpo_mask_multiplied(*a):
    return _grpo_variant(*a, padding="multiplied")


def _grpo_where_after_exp(*a):
    return _grpo_variant(*a, padding="where")


def _grpo_pair(mistake: str, padding: str):
    """One of the value mistakes below made together with a padding mistake (one verdict, both named)."""
    change = _GRPO_CHANGES[mistake]

    def fn(*a):
        return _grpo_variant(*a, padding=padding, **change)

    fn.__name__ = f"_grpo_{mistake}_{padding}"
    return fn


def _grpo_adv_not_detached(*a):
    return _grpo_variant(*a, detach_adv=False)


def _grpo_old_not_detached(*a):
    return _grpo_variant(*a, detach_old=False)


_GRPO_CHANGES = {  # the value mistakes as changes of one step, for the pairs with a padding mistake
    "not_negated": dict(sign=1.0), "padding_counted": dict(aggregate="all_positions"),
    "token_mean": dict(aggregate="token_mean"), "sum_per_sequence": dict(aggregate="sum"),
    "max_not_min": dict(combine=torch.max), "no_clip": dict(combine=lambda unclipped, clipped: unclipped),
    "kl_sign_flipped": dict(kl_sign=-1.0), "ratio_not_exp": dict(ratio_fn=lambda lp, lp_old: lp - lp_old),
}
_GRPO_HINTS = {  # each value mistake's hint (its pairs with a padding mistake reuse it)
    "not_negated": "Your value is −1 times the loss: you returned the objective J. Optimisers minimise, so "
                   "the loss is −J; descending J would make the good completions less likely.",
    "padding_counted": "Padding counts in your average: you divided each completion's sum by T, the padded "
                       "length. Divide by the completion's own number of real tokens, mask.sum(dim=1) "
                       "(1/|o_i|).",
    "token_mean": "You took one mean over every real token of the batch (DAPO's aggregation). GRPO first "
                  "averages over each completion's tokens (1/|o_i|), then over the completions, so a long "
                  "completion weighs as much as a short one.",
    "sum_per_sequence": "You summed over each completion's tokens; GRPO averages them: divide by the "
                        "completion's number of real tokens, mask.sum(dim=1), before averaging over "
                        "completions.",
    "max_not_min": "You took the max of the two surrogates. The clipped objective is the pessimistic bound: "
                   "min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â), so that moving the ratio past the clip earns nothing.",
    "no_clip": "Your loss ignores eps: without min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â) nothing stops a single update "
               "from moving the policy far from the one that sampled the data.",
    "kl_sign_flipped": "Your KL term has the wrong sign: you added β·k3 to the objective, which rewards "
                       "drifting away from the reference. J = surrogate − β·k3, so the loss is −surrogate + "
                       "β·k3.",
    "ratio_not_exp": "Your ratio is logp − logp_old, a log-ratio. The ratio π_θ/π_old is exp(logp − "
                     "logp_old) (1 when the policies agree, not 0).",
}
_GRPO_PADDING = dict(  # the same rule and words as kl_k3's padding hints
    multiplied="On padding that holds -inf or NaN your loss is NaN: multiplying the per-token loss by the "
               "mask comes too late, because 0 · inf and 0 · NaN are NaN. Replace the padding in the inputs "
               "before any exp: torch.where(mask.bool(), ·, 0) for logp, logp_old and logp_ref.",
    where="Your value is right, but on padding that holds -inf or NaN the gradient is NaN: torch.where on "
          "the per-token loss picks the right value, yet backward still multiplies 0 by exp(inf). Replace "
          "the padding in logp, logp_old and logp_ref before any exp.",
)

register(Exercise(
    name="grpo_loss",
    reference=library_grpo_loss,
    cases=_grpo_cases,
    signature="grpo_loss(logp, logp_old, logp_ref, adv, mask, eps, beta) -> scalar tensor",
    notebook="08_grpo",
    library=("course_lib.exercises.catalog.grpo:library_grpo_loss", "course_lib.grpo.losses:grpo_loss",
             "course_lib.lmrl.objectives:aggregate_token_loss", "course_lib.lmrl.objectives:clipped_objective",
             "course_lib.lmrl.objectives:kl_k3"),
    grad_args=("logp", "logp_old", "logp_ref", "adv"),  # only logp may receive a gradient
    tensor_out=True,
    teaching=teaching_grpo_loss,
    rtol=1e-4,
    atol=1e-6,
    hint="Assemble the pieces you have: per token, the clipped surrogate of the ratio π_θ/π_old times the "
         "completion's advantage, minus β times the k3 KL to the reference; then average over each "
         "completion's real tokens, then over the completions, and negate (optimisers minimise). Only "
         "logp may carry a gradient: logp_old, logp_ref and adv are constants of the loss. Padding may hold "
         "anything (even -inf or NaN), as in kl_k3: it must count zero in the value and in the gradient.",
    formula="ρ = exp(logp − logp_old); per token J_t = min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â) − β·k3 with "
            "k3 = exp(x) − x − 1, x = logp_ref − logp; loss = −mean_i [ Σ_t mask·J_t / Σ_t mask ] "
            "(DeepSeekMath Eq. 3: 1/G Σ_i 1/|o_i| Σ_t). Padding must not count: replace it in the inputs "
            "before any exp.",
    code_hint="keep = mask.bool(); clean logp, logp_old, logp_ref with torch.where(keep, ·, 0) and detach "
              "logp_old, logp_ref and adv; A = adv[:, None]; ratio = torch.exp(logp - logp_old); "
              "surr = torch.min(ratio * A, torch.clamp(ratio, 1 - eps, 1 + eps) * A); per_token = -(surr - "
              "beta * k3); m = keep.float(); return ((per_token * m).sum(1) / m.sum(1)).mean().",
    mistakes=(
        *(Mistake(name, _grpo_pair(name, "clean"), _GRPO_HINTS[name]) for name in _GRPO_HINTS),
        Mistake("adv_not_detached", _grpo_adv_not_detached,
                "The value is right but gradients flow into adv. The advantage is a constant of the loss "
                "(it came from the rewards, not from π_θ): use adv.detach()."),
        Mistake("old_not_detached", _grpo_old_not_detached,
                "The value is right but gradients flow into logp_old. π_old is the policy that sampled the "
                "data, a constant of this loss: use logp_old.detach() (and logp_ref.detach())."),
        Mistake("mask_multiplied", _grpo_mask_multiplied,
                "Right on clean batches, but " + _GRPO_PADDING["multiplied"][:1].lower()
                + _GRPO_PADDING["multiplied"][1:]),
        Mistake("where_after_exp", _grpo_where_after_exp, _GRPO_PADDING["where"]),
        # two mistakes at once get one verdict that names both (the padding cases would hide the first)
        *(Mistake(f"{name}+{pad}", _grpo_pair(name, pad),
                  f"Two things to fix. (1) {_GRPO_HINTS[name]} (2) {_GRPO_PADDING[pad]}")
          for name in _GRPO_HINTS for pad in _GRPO_PADDING),
    ),
))
