"""Measuring many samples of one model: pass@k, majority voting, best-of-n, diversity (notebook 09).

* ``pass_at_k(n, c, k)``: the unbiased estimator of Chen et al. 2021 (Codex, arXiv 2107.03374
  §2.1): from n ≥ k samples of which c are correct, the chance that at least one of k samples
  drawn **without replacement** is correct, 1 − C(n−c, k) / C(n, k). ``pass_at_k_naive``,
  1 − (1 − c/n)^k, plugs the sample's success rate into the formula for independent draws; it
  is biased (it underestimates: Jensen's inequality, and a test shows it).
* ``majority_vote`` and ``maj_at_k``: self-consistency (Wang et al. 2022, arXiv 2203.11171):
  answer with the most frequent parsed answer among k samples.
* ``best_of_n`` and ``best_of_n_at_k``: keep the sample a scorer likes best, the scorer being a
  verifier (a rule that knows the true answer) or a learned reward model.
* ``distinct_answers`` and ``token_entropy``: how diverse a model's samples are.
* ``sample_answers``: draw n samples per held-out problem from a model (``lm.generate``) and keep
  everything the measures above need.

Shapes: P problems, n samples per problem.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable, Hashable, Sequence

import numpy as np
import torch

from ..core import check_nonnegative_int, check_positive_int

__all__ = ["pass_at_k", "pass_at_k_naive", "mean_pass_at_k", "majority_vote", "maj_at_k", "best_of_n",
           "best_of_n_at_k", "distinct_answers", "token_entropy", "sample_answers"]


def _check_counts(n: Any, c: Any, k: Any) -> tuple[int, int, int]:
    n = check_positive_int("n", n)
    c = check_nonnegative_int("c", c)
    k = check_positive_int("k", k)
    if c > n:
        raise ValueError(f"c must be at most n (c correct among n samples), got c={c}, n={n}")
    if k > n:
        raise ValueError(f"k must be at most n (k samples are drawn from the n there are), got k={k}, n={n}")
    return n, c, k


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 − C(n−c, k) / C(n, k).

    Computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i) (Chen et al. 2021's numerically stable form): no
    huge binomials. 1.0 when fewer than k samples are wrong (every k-subset holds a correct one).

    Raises:
        ValueError: n < 1, c < 0, k < 1, c > n or k > n (named in the message).
    """
    n, c, k = _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_naive(n: int, c: int, k: int) -> float:
    """The biased plug-in 1 − (1 − c/n)^k (k independent draws at the sample's success rate).

    Shown only to be compared: averaged over repeated experiments it is below the true pass@k.
    """
    n, c, k = _check_counts(n, c, k)
    return 1.0 - (1.0 - c / n) ** k


def mean_pass_at_k(correct_counts: Sequence[int], n: int, k: int) -> float:
    """pass@k averaged over problems: ``correct_counts[p]`` correct among n samples of problem p."""
    counts = list(correct_counts)
    if not counts:
        raise ValueError("correct_counts must hold one count per problem (got none)")
    return float(np.mean([pass_at_k(n, c, k) for c in counts]))


def majority_vote(answers: Sequence[Hashable | None]) -> Hashable | None:
    """The most frequent answer among ``answers``, ignoring unparsable ones (``None``).

    Ties go to the tied answer that appears first in ``answers`` (so the result is defined and
    reproducible). With no parsable answer at all the result is ``None`` (which a grader counts
    as wrong).
    """
    if isinstance(answers, (str, bytes)):
        raise ValueError(f"answers must be a list of answers (None for unparsable), got a string {answers!r}")
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return None
    top = max(votes.values())
    return next(a for a in answers if a is not None and votes[a] == top)


def best_of_n(candidates: Sequence[Any], scores: Sequence[float]) -> Any:
    """The candidate with the highest score (the first of them on a tie).

    ``scores`` come from a verifier (e.g. 1 for a correct answer, 0 otherwise) or a reward model.
    """
    candidates, scores = list(candidates), [float(s) for s in scores]
    if not candidates:
        raise ValueError("candidates must not be empty")
    if len(scores) != len(candidates):
        raise ValueError(f"scores has {len(scores)} values for {len(candidates)} candidates (one each)")
    if not all(math.isfinite(s) for s in scores):
        raise ValueError("scores must be finite numbers")
    return candidates[int(np.argmax(scores))]


def _chunks(n: int, k: int) -> list[slice]:
    k = check_positive_int("k", k)
    if k > n:
        raise ValueError(f"k must be at most the number of samples per problem n={n}, got {k}")
    return [slice(s, s + k) for s in range(0, n - k + 1, k)]


def _check_table(answers: Sequence[Sequence], truths: Sequence) -> int:
    if len(answers) != len(truths) or not answers:
        raise ValueError(f"answers ({len(answers)} problems) and truths ({len(truths)}) must have one row per problem")
    n = len(answers[0])
    if n == 0 or any(len(row) != n for row in answers):
        raise ValueError("answers must have the same number n >= 1 of samples for every problem")
    return n


def maj_at_k(answers: Sequence[Sequence[Hashable | None]], truths: Sequence[Hashable], k: int) -> float:
    """maj@k: accuracy of the majority answer among k samples, averaged over problems.

    The n samples of each problem are cut into ⌊n/k⌋ disjoint groups of k; each group votes
    (``majority_vote``), and the accuracy is averaged over groups and problems.
    """
    n = _check_table(answers, truths)
    groups = _chunks(n, k)
    return float(np.mean([np.mean([majority_vote(row[g]) == t for g in groups]) for row, t in zip(answers, truths)]))


def best_of_n_at_k(answers: Sequence[Sequence], scores: Sequence[Sequence[float]], truths: Sequence, k: int) -> float:
    """Accuracy of the best-scored answer among k samples, averaged over disjoint groups and problems.

    With the verifier's scores (1 for a correct answer) this equals the empirical pass@k over
    disjoint groups: a perfect verifier turns "one of k is right" into "the answer is right".
    """
    n = _check_table(answers, truths)
    if len(scores) != len(answers) or any(len(s) != n for s in scores):
        raise ValueError("scores must have the shape of answers (one score per sample)")
    groups = _chunks(n, k)
    return float(np.mean([np.mean([best_of_n(row[g], s[g]) == t for g in groups])
                          for row, s, t in zip(answers, scores, truths)]))


def distinct_answers(answers: Sequence[Hashable]) -> int:
    """How many different answers there are among one prompt's samples (None counts as one answer)."""
    if isinstance(answers, (str, bytes)):
        raise ValueError("answers must be a list of answers, got a string")
    return len(set(answers))


def token_entropy(step_logits: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean entropy (nats) of the next-token distribution over the real sampled tokens.

    Args:
        step_logits: (B, N, V) raw logits of every generation step (``generate(..., return_logits=True)``).
        mask: (B, N) True on real completion tokens.
        temperature: the sampling temperature (the distribution sampled is softmax(logits / T)).
    """
    if not isinstance(step_logits, torch.Tensor) or step_logits.dim() != 3:
        raise ValueError(f"step_logits must be a (B, N, V) tensor, got {getattr(step_logits, 'shape', step_logits)!r}")
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != tuple(step_logits.shape[:2]):
        raise ValueError(f"mask must be a (B, N) tensor matching step_logits, got {getattr(mask, 'shape', mask)!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    logp = torch.log_softmax(step_logits.float() / temperature, dim=-1)
    h = -(logp.exp() * logp).sum(-1)  # (B, N)
    keep = mask.bool()
    return float(h[keep].mean()) if keep.any() else float("nan")


def sample_answers(model, tokenizer, problems: Sequence, n: int, *, temperature: float = 1.0, seed: int = 0,
                   max_new_tokens: int | None = None, batch_size: int = 4096,
                   scorer: Callable[[list, list], list] | None = None) -> dict:
    """n sampled completions per problem, parsed and checked, with their entropy.

    Args:
        model, tokenizer: a course GPT and its tokenizer.
        problems: P ``tasks.Problem`` (prompt and answer).
        n: samples per problem.
        temperature: sampling temperature (> 0).
        seed: seeds the sampling generator (no global RNG is touched).
        scorer: optional ``scorer(prompts, completions) -> scores`` (e.g. a reward model), called on
            all P·n samples.

    Returns:
        {"answers": P lists of n parsed answers (None where the format is broken),
         "correct": (P, n) bool array, "texts": P lists of n texts, "truths": P answers,
         "entropy": mean token entropy, "distinct": (P,) distinct answers per problem,
         "scores": P lists of n scores (only with a scorer)}.
    """
    from .. import tasks
    from ..lm.generate import generate

    n = check_positive_int("n", n)
    problems = list(problems)
    if not problems:
        raise ValueError("problems must not be empty")
    max_new_tokens = tasks.MAX_ANSWER_TOKENS if max_new_tokens is None else check_positive_int("max_new_tokens", max_new_tokens)
    gen = torch.Generator(device="cpu").manual_seed(check_nonnegative_int("seed", seed))
    prompts = [p.prompt for p in problems for _ in range(n)]
    texts, finished, ent_sum, ent_n = [], [], 0.0, 0
    with torch.no_grad():
        for s in range(0, len(prompts), batch_size):
            enc = [tokenizer.encode(p, bos=True) for p in prompts[s:s + batch_size]]
            out = generate(model, enc, max_new_tokens, eos_id=tokenizer.eos_id, temperature=temperature,
                           generator=gen, return_logits=True)
            m = out.mask.bool()
            ent_sum += token_entropy(out.step_logits, m, temperature) * int(m.sum())
            ent_n += int(m.sum())
            texts += tokenizer.decode_batch(out.completions.tolist(), stop_at_eos=True)
            finished += out.finished.tolist()
    parsed = [tasks.parse_answer(t) if tasks.follows_format(t, f) else None for t, f in zip(texts, finished)]
    P = len(problems)
    answers = [parsed[i * n:(i + 1) * n] for i in range(P)]
    truths = [p.answer for p in problems]
    result = {"answers": answers, "truths": truths,
              "correct": np.array([[a == t for a in row] for row, t in zip(answers, truths)]),
              "texts": [texts[i * n:(i + 1) * n] for i in range(P)],
              "entropy": ent_sum / max(ent_n, 1),
              "distinct": np.array([distinct_answers(row) for row in answers])}
    if scorer is not None:
        sc = [float(x) for x in scorer(prompts, texts)]
        result["scores"] = [sc[i * n:(i + 1) * n] for i in range(P)]
    return result
