"""Exercise of notebook 07 (RLHF with PPO): the per-token KL-penalised rewards."""
from __future__ import annotations

import torch

from ...rlhf.losses import kl_penalized_rewards
from ..registry import Case, Exercise, Mistake, register

# ---------------------------------------------------------------------------------------------
# kl_penalized_rewards(logp, logp_ref, score, mask, beta):
#   r_t = −β (logp_t − logp_ref_t) where mask is 1, + score at each row's last mask-1 column, 0 elsewhere
# ---------------------------------------------------------------------------------------------


def _t(xs) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float32)


def _full_width_case(gen: torch.Generator, B: int, P: int, N: int, beta: float) -> Case:
    """Rows of prompt (P columns, mask 0) then completion (N columns, right-padded, mask 1 on real tokens).

    logp and logp_ref hold numbers at every position, the prompt's and the padding's too, as a model
    scoring the whole sequence would give them: only the mask says which are completion tokens.
    """
    T = P + N
    logp = -torch.rand(B, T, generator=gen) * 3
    logp_ref = logp + torch.randn(B, T, generator=gen) * 0.8
    lengths = torch.randint(1, N + 1, (B,), generator=gen)
    lengths[0] = N
    lengths[-1] = min(int(lengths[-1]), N - 1) if N > 1 else 1  # at least one shorter row
    cols = torch.arange(T)[None, :]
    mask = ((cols >= P) & (cols < P + lengths[:, None])).float()
    score = torch.randn(B, generator=gen) + 1
    return Case((logp, logp_ref, score, mask, beta),
                label=f"B={B} completions, {P} prompt columns then {N} completion columns (right-padded; "
                      f"lengths {lengths.tolist()}), beta={beta}")


def _kpr_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(707)
    cases = [
        Case((_t([[-0.5, -1.0, -0.2]]), _t([[-0.7, -0.9, -0.2]]), _t([1.0]), _t([[1, 1, 1]]), 0.1),
             label="one completion of 3 tokens, no prompt columns, no padding: logp=[[-0.5, -1.0, -0.2]], "
                   "logp_ref=[[-0.7, -0.9, -0.2]], score=[1.0], beta=0.1"),
        Case((_t([[-1.0, -2.0, -0.5], [-0.3, -1.0, -2.0]]), _t([[-1.5, -1.0, -0.5], [-0.3, -2.0, -0.1]]),
              _t([1.0, 2.0]), _t([[1, 1, 1], [1, 1, 0]]), 0.1),
             label="two completions, the second one token shorter (its last column is padding): "
                   "mask=[[1, 1, 1], [1, 1, 0]], score=[1.0, 2.0], beta=0.1"),
        Case((_t([[-0.9, -0.4, -1.2, -0.6, -0.3, -2.0]]), _t([[-1.4, -0.4, -0.7, -0.6, -1.3, -0.2]]),
              _t([0.5]), _t([[0, 0, 1, 1, 1, 0]]), 0.2),
             label="one row of 2 prompt columns, 3 completion tokens and 1 padding column: "
                   "mask=[[0, 0, 1, 1, 1, 0]], score=[0.5], beta=0.2"),
    ]
    for B, P, N, beta in ((3, 3, 4, 0.05), (4, 2, 5, 0.2), (2, 4, 3, 0.1)):
        cases.append(_full_width_case(gen, B, P, N, beta))
    return cases


def _kpr_reference(logp, logp_ref, score, mask, beta):
    return kl_penalized_rewards(logp, logp_ref, score, mask, beta)


def teaching_kl_penalized_rewards(logp, logp_ref, score, mask, beta):
    import torch
    keep = mask.bool()
    # the KL penalty on real completion tokens only (padding may hold anything)
    log_ratio = torch.where(keep, logp - logp_ref, torch.zeros_like(logp))
    rewards = -beta * log_ratio.detach()
    # the sequence's reward at each row's last real token: the last column where mask is 1
    T = mask.shape[1]
    last = T - 1 - keep.flip(1).long().argmax(1)
    rewards[torch.arange(len(score)), last] += score.detach()
    return rewards


def _last_real(mask):
    """(B,) the column of each row's last mask-1 entry."""
    T = mask.shape[1]
    return T - 1 - mask.flip(1).long().argmax(1)


def _first_real(mask):
    return mask.long().argmax(1)


def _with_score(pen, score, cols):
    r = pen.clone()
    r[torch.arange(r.shape[0]), cols] += score
    return r


def _kpr_kl_sign(logp, logp_ref, score, mask, beta):
    pen = beta * (logp - logp_ref) * mask  # a bonus for moving away from the reference
    return _with_score(pen, score, _last_real(mask))


def _kpr_penalty_everywhere(logp, logp_ref, score, mask, beta):
    pen = -beta * (logp - logp_ref)  # the mask never applied: prompt and padding penalised too
    return _with_score(pen, score, _last_real(mask))


def _kpr_penalty_on_prompt(logp, logp_ref, score, mask, beta):
    T = mask.shape[1]
    upto_last = (torch.arange(T)[None, :] <= _last_real(mask)[:, None]).float()  # prompt included
    return _with_score(-beta * (logp - logp_ref) * upto_last, score, _last_real(mask))


def _kpr_penalty_on_padding(logp, logp_ref, score, mask, beta):
    T = mask.shape[1]
    from_first = (torch.arange(T)[None, :] >= _first_real(mask)[:, None]).float()  # padding included
    return _with_score(-beta * (logp - logp_ref) * from_first, score, _last_real(mask))


def _kpr_score_last_column(logp, logp_ref, score, mask, beta):
    pen = -beta * (logp - logp_ref) * mask
    return _with_score(pen, score, torch.full_like(_last_real(mask), mask.shape[1] - 1))


def _kpr_score_at_length(logp, logp_ref, score, mask, beta):
    pen = -beta * (logp - logp_ref) * mask
    return _with_score(pen, score, mask.sum(1).long() - 1)  # as if every completion started at column 0


def _kpr_score_every_token(logp, logp_ref, score, mask, beta):
    return (-beta * (logp - logp_ref) + score[:, None]) * mask


def _kpr_score_first_token(logp, logp_ref, score, mask, beta):
    return _with_score(-beta * (logp - logp_ref) * mask, score, _first_real(mask))


def _kpr_score_replaces_penalty(logp, logp_ref, score, mask, beta):
    r = -beta * (logp - logp_ref) * mask
    last = _last_real(mask)
    r[torch.arange(r.shape[0]), last] = score  # the last token's penalty overwritten
    return r


def _kpr_no_beta(logp, logp_ref, score, mask, beta):
    return _with_score(-(logp - logp_ref) * mask, score, _last_real(mask))


def _kpr_k3(logp, logp_ref, score, mask, beta):
    x = logp_ref - logp
    return _with_score(-beta * (torch.exp(x) - x - 1) * mask, score, _last_real(mask))


def _kpr_score_after_last(logp, logp_ref, score, mask, beta):
    keep = mask.bool()
    r = -beta * torch.where(keep, logp - logp_ref, torch.zeros_like(logp))
    last = mask.shape[1] - keep.flip(1).long().argmax(1)  # the "- 1" forgotten: one column too far
    r[torch.arange(r.shape[0]), last] += score  # IndexError on a row without padding
    return r


def _kpr_ratio_penalty(logp, logp_ref, score, mask, beta):
    ratio = torch.exp(logp) / torch.exp(logp_ref)  # π/π_ref, not its log
    return _with_score(-beta * ratio * mask, score, _last_real(mask))


def _kpr_kl_on_last_token(logp, logp_ref, score, mask, beta):
    kl = ((logp - logp_ref) * mask).sum(1)  # the whole completion's log-ratio, in one place
    return _with_score(torch.zeros_like(logp), score - beta * kl, _last_real(mask))


def _kpr_beta_divides(logp, logp_ref, score, mask, beta):
    return _with_score(-(logp - logp_ref) / beta * mask, score, _last_real(mask))


register(Exercise(
    name="kl_penalized_rewards",
    reference=_kpr_reference,
    cases=_kpr_cases,
    signature="kl_penalized_rewards(logp, logp_ref, score, mask, beta) -> tensor of the shape of logp",
    notebook="07_rlhf_with_ppo",
    rtol=1e-5,
    atol=1e-6,
    library=("course_lib.rlhf.losses:kl_penalized_rewards",),
    tensor_out=True,
    teaching=teaching_kl_penalized_rewards,
    hint="Every token the policy wrote pays a small price for each nat it moved away from the reference; "
         "the reward model's verdict on the whole completion arrives once, when the completion ends. "
         "Tokens the policy did not write (the prompt, the padding after a shorter completion) get nothing.",
    formula="r_t = −β·(logp_t − logp_ref_t) where mask is 1, and 0 where mask is 0; then add score[b] at "
            "row b's last real token, the last column where mask is 1 (not the array's last column, and not "
            "column mask.sum() − 1 when the arrays start with the prompt).",
    code_hint="keep = mask.bool(); r = -beta * torch.where(keep, logp - logp_ref, torch.zeros_like(logp)); "
              "last = T - 1 - keep.flip(1).long().argmax(1) (the last True of each row); "
              "r[torch.arange(B), last] += score.",
    mistakes=(
        Mistake("kl_sign", _kpr_kl_sign,
                "Your KL term has the wrong sign: you reward the policy for moving away from the reference. The "
                "penalty is −β·(log π − log π_ref): a token the policy likes more than the reference costs reward."),
        Mistake("penalty_everywhere", _kpr_penalty_everywhere,
                "You penalised every position, the prompt's and the padding's too. The policy chose only the "
                "completion tokens: multiply the penalty by the mask."),
        Mistake("penalty_on_prompt", _kpr_penalty_on_prompt,
                "The prompt's positions get a penalty in your answer. The prompt was given, not sampled by the "
                "policy: where mask is 0 the reward is 0 (multiply the penalty by the mask)."),
        Mistake("penalty_on_padding", _kpr_penalty_on_padding,
                "Padding after a shorter completion gets a penalty in your answer. Padding is not a token the policy "
                "wrote: where mask is 0 the reward is 0 (multiply the penalty by the mask)."),
        Mistake("score_last_column", _kpr_score_last_column,
                "You put the score in the last column of the array. For a completion shorter than the longest one "
                "that column is padding: put it at the row's last real token, the last column where mask is 1."),
        Mistake("score_at_length", _kpr_score_at_length,
                "You put the score at column mask.sum() − 1, which is right only when completions start at column "
                "0. When the arrays begin with the prompt, find the last column where mask is 1 instead."),
        Mistake("score_every_token", _kpr_score_every_token,
                "You added the score to every completion token. The sequence's reward arrives once, at its last "
                "token (InstructGPT's bandit view, §3.5); GAE then carries it back to earlier tokens."),
        Mistake("score_first_token", _kpr_score_first_token,
                "You put the score at the first completion token. The reward model judges the whole completion, so "
                "its score belongs to the last real token (the last column where mask is 1)."),
        Mistake("score_replaces_penalty", _kpr_score_replaces_penalty,
                "At the last token you replaced the KL penalty by the score. The last token pays its penalty too: "
                "add the score to it (r_T = −β·log-ratio_T + score)."),
        Mistake("no_beta", _kpr_no_beta,
                "Your penalty is not scaled by beta: it is −β·(log π − log π_ref), and β sets how strong the "
                "leash to the reference is."),
        Mistake("score_after_last", _kpr_score_after_last,
                "Your score lands one column after the last real token: on a row without padding that column "
                "does not exist (hence the IndexError), and on a shorter row it is the first padding column. The "
                "last real token of a row is column T − 1 − keep.flip(1).long().argmax(1): the − 1 matters.",
                error=r"IndexError: index (\d+) is out of bounds for dimension 1 with size \1"),
        Mistake("ratio_penalty", _kpr_ratio_penalty,
                "You penalised the probability ratio π/π_ref; the penalty is on its log, −β·(log π − log π_ref) = "
                "−β·(logp − logp_ref), no exp. The ratio is 1, not 0, when the policy has not moved, so every "
                "token would pay β for nothing, and its sum is not an estimate of the KL (InstructGPT Eq. 2)."),
        Mistake("kl_on_last_token", _kpr_kl_on_last_token,
                "You put the whole completion's penalty −β·Σ_t(logp_t − logp_ref_t) on the last token. Each row "
                "sums to the same total, but the reward is defined per token: r_t = −β·(logp_t − logp_ref_t) on "
                "every real token. Where a reward arrives matters to PPO: the return from token t (and GAE's "
                "advantage, with λ < 1 and a value model) counts only the rewards from t on, so in your version "
                "token t is charged for the drift of the tokens before it, which it did not choose, and is no "
                "longer told which of its own choices moved away from the reference."),
        Mistake("beta_divides", _kpr_beta_divides,
                "You divided by beta. β multiplies the log-ratio: r_t = −β·(logp_t − logp_ref_t); dividing makes "
                "a small β (a loose leash) the strongest penalty instead of the weakest."),
        Mistake("k3_penalty", _kpr_k3,
                "You used the k3 estimate exp(x) − x − 1 (GRPO's KL term in the loss). In RLHF-PPO the penalty "
                "inside the reward is the plain log-ratio −β·(log π − log π_ref) (InstructGPT Eq. 2), whose sum "
                "over a completion is −β times the sampled estimate of its KL."),
    ),
))
