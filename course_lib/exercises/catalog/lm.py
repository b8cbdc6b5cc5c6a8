"""Exercises of notebook 05 (the language model as a policy)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...lm.generate import logprobs_from_logits
from ..registry import Case, Exercise, Mistake, register

PAD_ID = 0  # the tokenizer's <pad> id, as in the notebook


def _logprob_cases() -> list[Case]:
    g = torch.Generator().manual_seed(505)
    cases = []
    # (batch, prompt width, completion width, vocab): rows are left-padded prompts followed by
    # completions that end early and are right-padded, like a batch from ``generate``.
    for B, P, N, V in [(1, 3, 2, 5), (2, 4, 3, 6), (3, 5, 4, 17), (4, 6, 5, 17), (2, 3, 6, 9)]:
        T = P + N
        tokens = torch.randint(3, V, (B, T), generator=g)
        mask = torch.zeros(B, T, dtype=torch.bool)
        for i in range(B):
            left = int(torch.randint(0, P - 1, (1,), generator=g))  # left padding of the prompt
            tokens[i, :left] = PAD_ID
            length = int(torch.randint(1, N + 1, (1,), generator=g))  # completion length
            mask[i, P:P + length] = True
            tokens[i, P + length:] = PAD_ID
        logits = torch.randn(B, T, V, generator=g) * 2.0
        label = f"{B} sequence(s): prompt width {P}, completions of up to {N} tokens, vocabulary {V}"
        cases.append(Case((logits, tokens, mask), label=label))
    return cases


def teaching_sequence_logprobs(logits, tokens, mask):
    """Σ_t mask[:, t] · log softmax(logits[:, t-1])[tokens[:, t]] for each sequence.

    logits: (B, T, V); tokens, mask: (B, T). Returns (B,), with logits' gradient.
    """
    import torch
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # (B, T-1, V): predictions for tokens 1..T-1
    picked = logp.gather(2, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, T-1): log π(token_t | tokens_<t)
    keep = mask[:, 1:].bool()  # the mask of those same target tokens
    return torch.where(keep, picked, torch.zeros_like(picked)).sum(dim=1)


def _shifted(logits, tokens):
    return F.log_softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None]).squeeze(2)  # (B, T-1)


def _forgot_mask(logits, tokens, mask):
    return _shifted(logits, tokens).sum(1)


def _counted_prompt(logits, tokens, mask):
    real = (tokens != PAD_ID)[:, 1:]  # every real token: the prompt's too
    return (_shifted(logits, tokens) * real).sum(1)


def _off_by_one(logits, tokens, mask):
    # logits[:, t] scored against tokens[:, t]: the prediction *after* a token used for itself
    logp = F.log_softmax(logits, -1).gather(2, tokens[:, :, None]).squeeze(2)
    return (logp * mask).sum(1)


def _mask_misaligned(logits, tokens, mask):
    # targets shifted correctly, but the mask was not shifted with them
    return (_shifted(logits, tokens) * mask[:, :-1]).sum(1)


def _no_log_softmax(logits, tokens, mask):
    raw = logits[:, :-1].gather(2, tokens[:, 1:, None]).squeeze(2)
    return (raw * mask[:, 1:]).sum(1)


def _mean_not_sum(logits, tokens, mask):
    m = mask[:, 1:].float()
    return (_shifted(logits, tokens) * m).sum(1) / m.sum(1)


def _probabilities(logits, tokens, mask):
    p = F.softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None]).squeeze(2)
    return (p * mask[:, 1:]).sum(1)


def _compare(got, expected):
    if not isinstance(got, torch.Tensor):
        return f"expected a torch tensor of shape {tuple(expected.shape)}, got {type(got).__name__}"
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)} (one number per sequence), got {tuple(got.shape)}"
    if not torch.allclose(got.detach().float(), expected.float(), rtol=1e-4, atol=1e-4):
        return f"expected {expected.tolist()}, got {got.detach().tolist()}"
    return None


register(Exercise(
    name="sequence_logprobs",
    reference=logprobs_from_logits,
    cases=_logprob_cases,
    signature="sequence_logprobs(logits, tokens, mask)",
    notebook="05_language_model_as_policy",
    compare=_compare,
    library=("course_lib.lm.generate:logprobs_from_logits", "course_lib.lm.generate:_masked_token_logprobs",
             "course_lib.lm.generate:sequence_logprobs", "course_lib.lm.generate:token_logprobs"),
    grad_args=("logits",),
    tensor_out=True,
    teaching=teaching_sequence_logprobs,
    hint="The model's output at position t is its guess about the *next* token. Score each completion token "
         "with the guess made just before it, as a log-probability, and add up only the tokens the mask marks.",
    formula="log π(y|x) = Σ_t mask[:, t] · log_softmax(logits[:, t-1])[tokens[:, t]]: shift by one (the "
            "logits at t-1 predict the token at t), use log_softmax over the vocabulary, and sum only "
            "where mask is 1.",
    code_hint="logp = torch.log_softmax(logits[:, :-1], dim=-1); picked = logp.gather(2, tokens[:, 1:].unsqueeze(-1))"
              ".squeeze(-1); return (picked * mask[:, 1:]).sum(dim=1) (or torch.where on mask[:, 1:].bool()).",
    mistakes=(
        Mistake("forgot_mask", _forgot_mask,
                "You summed over every position, padding included. Multiply the token log-probs by the "
                "mask (shifted like the targets: mask[:, 1:]) so padding and the prompt count zero."),
        Mistake("counted_prompt", _counted_prompt,
                "You left out the padding but counted the prompt's tokens too: that is log π(prompt and "
                "completion), not log π(completion | prompt). Use the completion mask you are given."),
        Mistake("off_by_one", _off_by_one,
                "Off by one: logits[:, t] is the prediction for the *next* token, tokens[:, t+1]. Score "
                "tokens[:, 1:] with logits[:, :-1]."),
        Mistake("mask_misaligned", _mask_misaligned,
                "The targets are shifted (tokens[:, 1:]) but the mask is not: use mask[:, 1:], the mask of "
                "those same target tokens."),
        Mistake("no_log_softmax", _no_log_softmax,
                "You summed raw logits. Logits are unnormalised scores; turn them into log-probabilities "
                "with torch.log_softmax(logits, dim=-1) first."),
        Mistake("mean_not_sum", _mean_not_sum,
                "You averaged over the completion's tokens. The sequence log-probability is the *sum* "
                "(the log of a product of token probabilities); per-token means come later, in the loss."),
        Mistake("probabilities", _probabilities,
                "You summed probabilities. Take logs: log π(y|x) = Σ log π(y_t | ...), which is the log "
                "of the product of the token probabilities."),
    ),
))
