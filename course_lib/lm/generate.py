"""Sampling from the policy, and the log-probabilities RL trains on.

The LLM is a policy: the state is the text so far, an action is the next token, and the
probability of a whole completion y given a prompt x is the product of its token probabilities,

    log π_θ(y | x) = Σ_t log π_θ(y_t | x, y_<t).

``generate`` samples completions for a batch of prompts (left-padded, so every completion starts
in the same column) and records log π of each sampled token; ``token_logprobs`` and
``sequence_logprobs`` recompute the same quantities with gradients, for training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ..core import check_finite_array, check_finite_number, check_indices, check_positive_int
from .model import GPT, GrowingKVCache, KVCache

MIN_TEMPERATURE = 1e-6  # below this (but above 0) logits / temperature can overflow to inf, and NaN follows


def _check_temperature(temperature, allow_greedy: bool) -> float:
    t = check_finite_number("temperature", temperature, low=0.0, low_open=not allow_greedy)
    if 0.0 < t < MIN_TEMPERATURE or (t == 0.0 and not allow_greedy):
        raise ValueError(f"temperature must be {'0 (greedy) or ' if allow_greedy else ''}at least "
                         f"{MIN_TEMPERATURE:g} (smaller ones overflow the scaled logits), got {temperature!r}")
    return t


@dataclass
class Generation:
    """A batch of sampled completions.

    Attributes:
        tokens: (B, P + N) prompt (left-padded to width P) followed by the completion.
        prompt_len: P, the column where every completion starts.
        completions: (B, N) the sampled tokens; <pad> after a row's <eos>.
        logprobs: (B, N) log π(sampled token | text so far) at the sampling temperature; 0 on padding.
        mask: (B, N) bool, True for real completion tokens (the <eos> included), False for padding.
        finished: (B,) bool, True where the row produced <eos>.
        step_logits: (B, N, V) the raw logits of every step, only if asked for.
    """

    tokens: torch.Tensor
    prompt_len: int
    completions: torch.Tensor
    logprobs: torch.Tensor
    mask: torch.Tensor
    finished: torch.Tensor
    step_logits: torch.Tensor | None = None

    def full_mask(self) -> torch.Tensor:
        """(B, P + N) completion mask over ``tokens``: what ``sequence_logprobs`` should count."""
        B = self.tokens.shape[0]
        prompt = torch.zeros(B, self.prompt_len, dtype=torch.bool, device=self.mask.device)
        return torch.cat([prompt, self.mask], dim=1)

    def key_valid(self, pad_id: int) -> torch.Tensor:
        """(B, P + N) True for every real token (prompt or completion)."""
        prompt_valid = self.tokens[:, :self.prompt_len] != pad_id
        return torch.cat([prompt_valid, self.mask], dim=1)


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack prompts of different lengths, padded on the left.

    Returns:
        (tokens, key_valid): both (B, P) with P the longest prompt.
    """
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__len__") or len(prompts) == 0:
        raise ValueError("prompts must be a non-empty list of token-id lists")
    if any(isinstance(p, (str, bytes)) or not hasattr(p, "__len__") for p in prompts):
        raise ValueError("prompts must be a non-empty list of token-id lists (encode text with the tokenizer first)")
    check_indices("pad_id", pad_id, 2**62)
    lengths = [len(p) for p in prompts]
    if min(lengths) == 0:
        raise ValueError("every prompt needs at least one token (usually <bos>)")
    P = max(lengths)
    # the padded rows built as lists and turned into one tensor (a write per row costs more)
    rows = [[pad_id] * (P - len(p)) + (p.tolist() if torch.is_tensor(p) else list(p)) for p in prompts]
    tokens = torch.tensor(rows, dtype=torch.long)
    valid = torch.arange(P)[None, :] >= torch.tensor([P - n for n in lengths])[:, None]
    return tokens.to(device), valid.to(device)


def _next_token(logits: torch.Tensor, temperature: float, top_k: int | None,
                generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick the next token from (B, V) logits; return it and its log-probability."""
    if temperature == 0.0:  # greedy: the most likely token, scored at temperature 1
        nxt = logits.argmax(-1)
        logp = F.log_softmax(logits, -1)
    else:
        scaled = logits / temperature
        logp = F.log_softmax(scaled, -1)
        if top_k is not None and top_k < logits.shape[-1]:
            kth = torch.topk(scaled, top_k, dim=-1).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        probs = F.softmax(scaled, -1)
        if generator is not None and generator.device != probs.device:  # e.g. a CPU generator, CUDA model
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(probs.device)
        else:
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return nxt, logp.gather(1, nxt[:, None]).squeeze(1)


@torch.no_grad()
def generate(model: GPT, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
             eos_id: int, temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True,
             stop_at_eos: bool = True, return_logits: bool = False, repeats: int = 1) -> Generation:
    """Sample completions for a batch of prompts.

    Args:
        model: the policy.
        prompts: token-id lists (each usually starts with <bos>); lengths may differ.
        max_new_tokens: at most this many tokens per completion.
        eos_id: the <eos> token: a row stops after producing it.
        temperature: divides the logits before sampling; 0 means greedy (argmax).
        top_k: sample only among the k most likely tokens (None: all).
        generator: a seeded torch.Generator for reproducible samples.
        use_cache: keep keys/values between steps (True) or recompute the whole sequence
            every step (False; the same result, slower — see ``bench lm``).
        stop_at_eos: False keeps sampling after <eos> (for timing a fixed length).
        return_logits: also return every step's logits (for tests).
        repeats: completions per prompt: row i · repeats + j of the result is the j-th completion
            of ``prompts[i]``. Each prompt goes through the network once and its keys and values
            are shared by its completions (GRPO's G samples of a prompt), instead of being
            recomputed for each; with a KV cache only.

    Returns:
        A Generation. ``logprobs`` are log-probabilities under the temperature-scaled
        distribution (before top-k), which is what ``token_logprobs(..., temperature=...)``
        recomputes; for greedy decoding they are taken at temperature 1.
    """
    if not isinstance(getattr(getattr(model, "config", None), "vocab_size", None), int):
        raise ValueError(f"model must be a GPT (with a config.vocab_size), got {type(model).__name__}")
    max_new_tokens = check_positive_int("max_new_tokens", max_new_tokens)
    temperature = _check_temperature(temperature, allow_greedy=True)  # 0 = greedy
    if top_k is not None:
        top_k = check_positive_int("top_k", top_k)
    V = model.config.vocab_size
    eos_id = check_indices("eos_id", eos_id, V)  # a token of the model's vocabulary
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__len__"):
        raise ValueError("prompts must be a non-empty list of token-id lists")
    for i, p in enumerate(prompts):  # ids the embedding can look up (a float id is not truncated)
        check_indices(f"prompts[{i}]", p if torch.is_tensor(p) or isinstance(p, (str, bytes)) else list(p), V)
    was_training = model.training
    if was_training:  # (switching walks every submodule: only when needed)
        model.eval()
    pad_id = model.config.pad_id
    dev = model.device
    repeats = check_positive_int("repeats", repeats)
    if repeats > 1 and not use_cache:
        raise ValueError("repeats > 1 shares each prompt's cached keys and values: it needs use_cache=True")
    prompt_tokens, prompt_valid = left_pad(prompts, pad_id, dev)
    n, P = prompt_tokens.shape
    B = n * repeats
    if P + max_new_tokens > model.config.block_size:
        raise ValueError(f"a prompt of {P} tokens plus max_new_tokens={max_new_tokens} "
                         f"exceeds the model's block_size {model.config.block_size}")

    # inference mode: no autograd bookkeeping at all (faster per operation than no_grad alone); the
    # results are stacked below, outside it, into ordinary tensors that training may use
    with torch.inference_mode():
        cache = (KVCache(model.config, n, P + max_new_tokens, device=dev, dtype=next(model.parameters()).dtype)
                 if use_cache else None)
        new_tokens, logps, masks, all_logits = [], [], [], []
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        logits = model(prompt_tokens, key_valid=prompt_valid, cache=cache)[:, -1]  # (n, V)
        if repeats > 1:  # each prompt's completions continue from its keys and values
            logits, cache = logits.repeat_interleave(repeats, 0), cache.repeat_interleave(repeats)
            prompt_tokens, prompt_valid = (prompt_tokens.repeat_interleave(repeats, 0),
                                           prompt_valid.repeat_interleave(repeats, 0))
        seq, seq_valid = prompt_tokens, prompt_valid
        for step in range(max_new_tokens):
            if return_logits:
                all_logits.append(logits)
            nxt, lp = _next_token(logits, temperature, top_k, generator)
            real = ~done  # rows still writing; finished rows get padding
            nxt = nxt.masked_fill(done, pad_id)
            new_tokens.append(nxt)
            logps.append(lp.masked_fill(done, 0.0))
            masks.append(real)
            if stop_at_eos:
                done = done | (nxt == eos_id)
                if bool(done.all()):
                    break
            if step == max_new_tokens - 1:
                break
            if use_cache:  # one new token per row through the network
                logits = model(nxt[:, None], key_valid=real[:, None], cache=cache)[:, -1]
            else:  # recompute the whole sequence so far
                seq = torch.cat([seq, nxt[:, None]], 1)
                seq_valid = torch.cat([seq_valid, real[:, None]], 1)
                logits = model(seq, key_valid=seq_valid)[:, -1]
    completions = torch.stack(new_tokens, 1)
    mask = torch.stack(masks, 1)
    finished = ((completions == eos_id) & mask).any(1)
    if was_training:
        model.train()
    return Generation(
        tokens=torch.cat([prompt_tokens, completions], 1), prompt_len=P, completions=completions,
        logprobs=torch.stack(logps, 1), mask=mask, finished=finished,
        step_logits=torch.stack(all_logits, 1) if return_logits else None)


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ_t mask_t · log softmax(logits_{t-1})[tokens_t]: the masked sequence log-probability.

    The logits at position t-1 predict the token at position t, so the targets are
    ``tokens[:, 1:]`` scored by ``logits[:, :-1]``.

    Args:
        logits: (B, T, V) the model's logits on ``tokens``.
        tokens: (B, T) token ids.
        mask: (B, T) 1 where the token's log-probability counts (the completion), 0 for the
            prompt and for padding. mask[:, 0] must be 0 (the first token has no context).

    Returns:
        (B,) the sum of the counted tokens' log-probabilities.
    """
    if not torch.is_tensor(logits) or not logits.is_floating_point():
        raise ValueError(f"logits must be a float tensor (B, T, V), got {type(logits).__name__}")
    check_finite_array("logits", logits)  # a NaN logit would make every log-probability of its row NaN
    if not torch.is_tensor(tokens):
        raise ValueError(f"tokens must be a (B, T) tensor of token ids, got {type(tokens).__name__}")
    if tokens.dim() == 2 and logits.dim() == 3:
        check_indices("tokens", tokens, logits.shape[-1])
    return _masked_token_logprobs(logits, tokens, mask).sum(1)


def _masked_token_logprobs(logits, tokens, mask):
    if logits.dim() != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(f"logits must be (B, T, V) and tokens (B, T); got {tuple(logits.shape)} "
                         f"and {tuple(tokens.shape)}")
    if not torch.is_tensor(mask) or mask.shape != tokens.shape:
        raise ValueError(f"mask must have the shape of tokens {tuple(tokens.shape)}, got "
                         f"{tuple(mask.shape) if torch.is_tensor(mask) else type(mask).__name__}")
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only 0 and 1 (or False and True)")
    if bool(mask[:, 0].bool().any()):
        raise ValueError("mask[:, 0] must be 0: the first token has no context to be predicted from")
    logp = F.log_softmax(logits[:, :-1].float(), -1)  # (B, T-1, V): predictions for tokens 1..T-1
    picked = logp.gather(2, tokens[:, 1:, None]).squeeze(2)  # (B, T-1)
    picked = torch.where(mask[:, 1:].bool(), picked, torch.zeros_like(picked))  # padding never counts
    return torch.cat([torch.zeros_like(picked[:, :1]), picked], 1)  # (B, T), 0 at t = 0


def token_logprobs(model: GPT, tokens: torch.Tensor, mask: torch.Tensor,
                   key_valid: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """Per-token log π_θ(tokens_t | tokens_<t) where ``mask`` is set, 0 elsewhere; with gradients.

    Args:
        model: the policy.
        tokens: (B, T) prompts (left padding allowed) followed by completions.
        mask: (B, T) 1 on the tokens whose log-probability counts (usually the completion).
        key_valid: (B, T) which tokens are real; None derives it as ``tokens != pad_id``.
            Pass it when padding may hold arbitrary ids.
        temperature: score at this sampling temperature (logits / temperature), as ``generate``.

    Returns:
        (B, T) float tensor; column t is the log-probability of tokens[:, t] (0 where mask is 0).
    """
    if not torch.is_tensor(tokens) or tokens.dim() != 2:
        raise ValueError(f"tokens must have shape (B, T), got {tuple(getattr(tokens, 'shape', ())) or type(tokens).__name__}")
    check_indices("tokens", tokens, model.config.vocab_size)
    temperature = _check_temperature(temperature, allow_greedy=False)
    if key_valid is None:
        key_valid = tokens != model.config.pad_id
    logits = model(tokens, key_valid=key_valid)
    return _masked_token_logprobs(logits / temperature, tokens, mask)


def completion_logprobs(model: GPT, prompt_tokens: torch.Tensor, prompt_valid: torch.Tensor,
                        completions: torch.Tensor, mask: torch.Tensor, repeats: int = 1,
                        temperature: float = 1.0) -> torch.Tensor:
    """Per-token log π_θ of completions that share prompts, with gradients: each prompt runs once.

    The same values as ``token_logprobs`` on the prompts (repeated) followed by their completions,
    computed as ``generate`` computes them: the prompt's keys and values once per prompt (the
    ``repeats`` completions of a prompt read them; the gradient of every completion flows back
    into them), then the completion tokens (``GrowingKVCache``). A GRPO batch of n prompts × G
    completions then costs n prompt passes instead of n · G.

    Args:
        model: the policy.
        prompt_tokens, prompt_valid: (n, P) the distinct prompts, left-padded, and which tokens are real.
        completions: (n · repeats, N) completion tokens; rows i · repeats … i · repeats + repeats − 1
            continue prompt i.
        mask: (n · repeats, N) True on real completion tokens (a prefix of each row).
        repeats: completions per prompt.
        temperature: score at this sampling temperature, as ``generate``.

    Returns:
        (n · repeats, N) log-probabilities of the completion tokens; 0 on padding.
    """
    repeats = check_positive_int("repeats", repeats)
    temperature = _check_temperature(temperature, allow_greedy=False)
    n, P = prompt_tokens.shape
    B, N = completions.shape
    if B != n * repeats or mask.shape != completions.shape or prompt_valid.shape != prompt_tokens.shape:
        raise ValueError(f"completions and mask must be ({n} prompts · {repeats}, N) and prompt_valid {(n, P)}; got "
                         f"{tuple(completions.shape)}, {tuple(mask.shape)} and {tuple(prompt_valid.shape)}")
    check_indices("prompt_tokens", prompt_tokens, model.config.vocab_size)
    check_indices("completions", completions, model.config.vocab_size)
    mask = mask.bool()
    cache = GrowingKVCache(model.config, n, device=prompt_tokens.device)
    first = model.lm_head(model.hidden(prompt_tokens, key_valid=prompt_valid, cache=cache)[:, -1])  # (n, V)
    logits = first.repeat_interleave(repeats, 0)[:, None]  # (B, 1, V): predicts completion token 0
    if N > 1:  # tokens 1 … N−1, each predicted from the one before it
        cache = cache.repeat_interleave(repeats)
        rest = model(completions[:, :-1], key_valid=mask[:, :-1], cache=cache)  # (B, N−1, V)
        logits = torch.cat([logits, rest], 1)
    logp = F.log_softmax(logits.float() / temperature, -1).gather(2, completions[:, :, None]).squeeze(2)
    return torch.where(mask, logp, torch.zeros_like(logp))  # (B, N)


def sequence_logprobs(model: GPT, tokens: torch.Tensor, mask: torch.Tensor,
                      key_valid: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
    """log π_θ(completion | prompt) = Σ_t mask_t · log π_θ(tokens_t | tokens_<t), per row; with gradients.

    Padding and the prompt never count (mask is 0 there). See ``token_logprobs`` for the args.

    Returns:
        (B,) one log-probability per sequence.
    """
    return token_logprobs(model, tokens, mask, key_valid, temperature).sum(1)
