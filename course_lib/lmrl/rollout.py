"""Rollouts of a language-model policy: the one sampling function and the batch every LM trainer uses.

A rollout batch holds B = n_prompts · G sampled completions (the G completions of a prompt
consecutive; G = 1 for trainers without groups), with what the update needs: the tokens (prompt
left-padded, completion right-padded), the completion mask, the log-probs of the policy that
sampled them (log π_old), the rewards, the texts and the dataset columns the reward saw.

``sample_rollouts`` is the only place that turns prompts into scored completions
(encode → ``lm.generate`` → decode → reward); ``train_grpo``, the RLHF trainer, the sweeps and
the notebooks call it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import torch

from ..lm.generate import completion_logprobs, generate, token_logprobs

RewardFn = Callable[..., list]


@dataclass
class RolloutBatch:
    """B sampled completions and their rewards.

    Attributes:
        tokens: (B, P + N) prompt (left-padded to width P) followed by the completion.
        prompt_len: P, the column where every completion starts.
        mask: (B, N) bool, True on real completion tokens (the <eos> included).
        logprobs: (B, N) log π_old of the sampled tokens at the sampling temperature; 0 on padding.
        finished: (B,) bool, True where the completion produced <eos>.
        rewards: (B,) float32 rewards, on the policy's device.
        texts: B completion texts (up to <eos>).
        prompts: B prompt texts (a prompt repeated G times).
        group_size: G; rows g·G … g·G + G − 1 are the completions of prompt g.
        pad_id: the tokenizer's padding id.
        temperature: the sampling temperature (log-probs are recomputed at the same one).
        columns: dataset columns passed to the reward, one value per row (e.g. "answer").
        scores: other per-row scores computed with the reward (e.g. "accuracy", "format"), for logging.
    """

    tokens: torch.Tensor
    prompt_len: int
    mask: torch.Tensor
    logprobs: torch.Tensor
    finished: torch.Tensor
    rewards: torch.Tensor
    texts: list
    prompts: list
    group_size: int
    pad_id: int
    temperature: float
    columns: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def completions(self) -> torch.Tensor:
        """(B, N) the sampled completion tokens (<pad> after a row's <eos>)."""
        return self.tokens[:, self.prompt_len:]

    @property
    def n_groups(self) -> int:
        return len(self) // self.group_size

    def full_mask(self) -> torch.Tensor:
        """(B, P + N) completion mask over ``tokens``: the positions whose log-probs are trained."""
        prompt = torch.zeros(len(self), self.prompt_len, dtype=torch.bool, device=self.mask.device)
        return torch.cat([prompt, self.mask], dim=1)

    def key_valid(self) -> torch.Tensor:
        """(B, P + N) True on every real token (prompt or completion): what attention may see."""
        prompt_valid = self.tokens[:, :self.prompt_len] != self.pad_id
        return torch.cat([prompt_valid, self.mask], dim=1)

    def lengths(self) -> torch.Tensor:
        """(B,) number of real completion tokens of each row."""
        return self.mask.sum(1)

    def token_logprobs(self, model, share_prompts: bool = False) -> torch.Tensor:
        """(B, N) log π of the completion tokens under ``model`` (with gradients; 0 on padding).

        ``share_prompts``: run each prompt through the network once for its G completions
        (``lm.completion_logprobs``; the same values up to float rounding, n prompt passes instead
        of n · G) instead of the whole (B, P + N) batch at once."""
        if share_prompts:
            G, P = self.group_size, self.prompt_len
            prompts = self.tokens[::G, :P]
            return completion_logprobs(model, prompts, prompts != self.pad_id, self.completions, self.mask,
                                       repeats=G, temperature=self.temperature)
        return token_logprobs(model, self.tokens, self.full_mask(), self.key_valid(),
                              self.temperature)[:, self.prompt_len:]

    def select_groups(self, keep: torch.Tensor) -> "RolloutBatch":
        """The rows of the kept groups; ``keep`` is (n_groups,) bool."""
        keep = torch.as_tensor(keep, dtype=torch.bool)
        if keep.shape != (self.n_groups,):
            raise ValueError(f"keep must have shape ({self.n_groups},), one flag per group, got {tuple(keep.shape)}")
        rows = keep.repeat_interleave(self.group_size)
        idx = rows.nonzero().squeeze(1).tolist()
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        rows_d = rows.to(self.tokens.device)
        return replace(self, tokens=self.tokens[rows_d], mask=self.mask[rows_d], logprobs=self.logprobs[rows_d],
                       finished=self.finished[rows_d], rewards=self.rewards[rows.to(self.rewards.device)],
                       texts=pick(self.texts), prompts=pick(self.prompts),
                       columns={k: pick(v) for k, v in self.columns.items()},
                       scores={k: pick(v) for k, v in self.scores.items()})

    def trimmed(self) -> "RolloutBatch":
        """The same rows without columns that are padding in every row: the left-padding columns all
        prompts share and the completion columns after the longest completion. Values and
        log-probabilities are unchanged (positions count real tokens only); a forward pass has
        fewer positions to compute."""
        if len(self) == 0:
            return self
        prompt_valid = self.tokens[:, :self.prompt_len] != self.pad_id  # (B, P)
        first = int(prompt_valid.any(0).long().argmax()) if bool(prompt_valid.any()) else self.prompt_len
        n = max(1, int(self.lengths().max()))  # a completion's real tokens come first, padding after
        if first == 0 and n == self.mask.shape[1]:
            return self
        return replace(self, tokens=self.tokens[:, first:self.prompt_len + n], prompt_len=self.prompt_len - first,
                       mask=self.mask[:, :n], logprobs=self.logprobs[:, :n])

    @staticmethod
    def concat(parts: Sequence["RolloutBatch"]) -> "RolloutBatch":
        """One batch from several (their prompts and completions may be padded to different widths)."""
        parts = list(parts)
        if not parts:
            raise ValueError("parts must hold at least one RolloutBatch")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        for p in parts[1:]:
            if (p.group_size, p.pad_id, p.temperature) != (first.group_size, first.pad_id, first.temperature):
                raise ValueError("parts must share group_size, pad_id and temperature")
        P = max(p.prompt_len for p in parts)
        N = max(p.mask.shape[1] for p in parts)
        tokens, logps, masks = [], [], []
        for p in parts:
            B, n = len(p), p.mask.shape[1]
            dev = p.tokens.device
            left = torch.full((B, P - p.prompt_len), p.pad_id, dtype=p.tokens.dtype, device=dev)
            right = torch.full((B, N - n), p.pad_id, dtype=p.tokens.dtype, device=dev)
            tokens.append(torch.cat([left, p.tokens, right], 1))
            logps.append(torch.cat([p.logprobs, torch.zeros(B, N - n, dtype=p.logprobs.dtype, device=dev)], 1))
            masks.append(torch.cat([p.mask, torch.zeros(B, N - n, dtype=torch.bool, device=dev)], 1))
        join = lambda name: sum((getattr(p, name) for p in parts), [])  # noqa: E731
        return replace(first, tokens=torch.cat(tokens), prompt_len=P, mask=torch.cat(masks),
                       logprobs=torch.cat(logps), finished=torch.cat([p.finished for p in parts]),
                       rewards=torch.cat([p.rewards for p in parts]), texts=join("texts"),
                       prompts=join("prompts"),
                       columns={k: sum((p.columns[k] for p in parts), []) for k in first.columns},
                       scores={k: sum((p.scores[k] for p in parts), []) for k in first.scores})


def _check_rewards(values, n: int, name: str) -> list[float]:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"the reward function {name} must return a list with one finite number per completion, "
                         f"got {type(values).__name__}")
    values = list(values)
    if len(values) != n:
        raise ValueError(f"the reward function {name} must return one finite number per completion: "
                         f"it returned {len(values)} values for {n} completions")
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"the reward function {name} must return one finite number per completion, "
                             f"got {v!r}") from None
        if isinstance(v, bool) or not math.isfinite(x):
            raise ValueError(f"the reward function {name} must return one finite number per completion, got {v!r}")
        out.append(x)
    return out


def sample_rollouts(model, tokenizer, prompts: Sequence[str], *, group_size: int = 1, max_new_tokens: int,
                    temperature: float, generator: torch.Generator | None = None, reward_fn: RewardFn,
                    columns: Mapping[str, Sequence] | None = None,
                    metrics: Mapping[str, RewardFn] | None = None, share_prompts: bool = False) -> RolloutBatch:
    """Sample ``group_size`` completions for each prompt and score them: encode → generate → decode → reward.

    The reward is called in TRL's convention, ``reward_fn(completions=texts, prompts=..., finished=...,
    **columns)`` with every column repeated for the G completions of its prompt, and must return
    one finite number per completion (``finished`` is the course's extra: whether each completion
    produced <eos>; a reward that does not use it takes it in ``**kwargs``).

    Args:
        model: the policy (a course GPT).
        tokenizer: its tokenizer (``<bos>`` is added to every prompt).
        prompts: the distinct prompts (n_prompts).
        group_size: G completions per prompt, consecutive in the batch.
        max_new_tokens: the longest completion.
        temperature: sampling temperature (> 0 samples; 0 is greedy).
        generator: the torch generator that drives sampling (seeded by the caller).
        reward_fn: a reward in TRL's convention.
        columns: dataset columns, one value per prompt (e.g. ``{"answer": [...]}``).
        metrics: more rewards in the same convention, computed for logging into ``batch.scores``.
        share_prompts: run each prompt through the network once for its G completions
            (``generate(repeats=G)``) instead of once per completion.

    Returns:
        A RolloutBatch of n_prompts · G rows.
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise ValueError(f"prompts must be a non-empty list of strings, got {prompts!r:.80}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    if not callable(reward_fn):
        raise ValueError(f"reward_fn must be a function reward(completions, **kwargs) -> list[float], got {reward_fn!r}")
    G = group_size
    columns = dict(columns or {})
    for k, v in columns.items():
        if len(v) != len(prompts):
            raise ValueError(f"column {k!r} has {len(v)} values for {len(prompts)} prompts")
    if share_prompts:  # groups consecutive: the G completions of a prompt read its keys and values
        out = generate(model, [tokenizer.encode(p, bos=True) for p in prompts], max_new_tokens,
                       eos_id=tokenizer.eos_id, temperature=temperature, generator=generator, repeats=G)
    else:
        encoded = [tokenizer.encode(p, bos=True) for p in prompts for _ in range(G)]  # groups consecutive
        out = generate(model, encoded, max_new_tokens, eos_id=tokenizer.eos_id, temperature=temperature,
                       generator=generator)
    texts = tokenizer.decode_batch(out.completions.tolist(), stop_at_eos=True)
    finished = out.finished.tolist()
    rep_columns = {k: [x for x in v for _ in range(G)] for k, v in columns.items()}
    kwargs = dict(prompts=[p for p in prompts for _ in range(G)], **rep_columns, finished=finished)
    name = getattr(reward_fn, "__name__", repr(reward_fn))
    rewards = torch.tensor(_check_rewards(reward_fn(completions=texts, **kwargs), len(texts), name),
                           dtype=torch.float32).to(out.tokens.device)
    scores = {k: [float(x) for x in fn(texts, **kwargs)] for k, fn in (metrics or {}).items()}
    return RolloutBatch(tokens=out.tokens, prompt_len=out.prompt_len, mask=out.mask, logprobs=out.logprobs,
                        finished=out.finished, rewards=rewards, texts=texts, prompts=kwargs["prompts"],
                        group_size=G, pad_id=tokenizer.pad_id, temperature=float(temperature),
                        columns=rep_columns, scores=scores)
