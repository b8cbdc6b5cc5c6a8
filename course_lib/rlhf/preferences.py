"""Simulated annotators and the preference pairs a reward model learns from (notebook 06).

RLHF's reward model is trained on **comparisons**: a person sees one prompt and two answers and
says which is better (InstructGPT, Ouyang et al. 2022, arXiv 2203.02155, §3.5). The course has no
people, so it simulates them. Each simulated annotator has a hidden **utility** u(y) for an answer
y to a prompt with true answer a:

    u(y) = right_bonus · [y is right] − distance_weight · ln(1 + |y − a|) + length_bonus · len(y)

(a completion that breaks the answer format gets ``malformed_utility`` instead). So annotators
prefer the right answer, then the nearer number, and they have **one bias** that real preference
data shows: **longer answers are preferred** (Singhal et al. 2023, arXiv 2310.03716, find that
reward models trained on open helpfulness data score longer answers higher). Here "longer" means
more digits: between two answers that are equally far from the truth, the one with one digit
more gets ``length_bonus`` (0.5) more utility, which annotators choose σ(0.5) ≈ 62% of the time.
The bias is modest on purpose: it never makes a wrong answer beat a right one on average, but a
reward model that fits the labels learns it.

Labels are noisy the way the Bradley–Terry model says they are: an annotator shown y₁ and y₂
picks y₁ with probability σ(u(y₁) − u(y₂)), so near-ties are coin flips and clear cases are
almost always labelled right.

The answers compared are real samples of the shipped SFT model (``course_lib.lm.load_shipped``)
on the task's training prompts, split **by prompt** into train / validation / test (no prompt in
two splits; none among the held-out evaluation problems). ``python -m course_lib train-rm``
rebuilds ``data/rm/{train,val,test}.jsonl`` byte for byte.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import tasks

SPLITS = ("train", "val", "test")
SPLIT_SIZES = {"train": 3000, "val": 500, "test": 1000}  # prompts per split
PROMPT_SEED = 6  # fixes which training problems go to which split
DATA_DIR = "rm"


@dataclass(frozen=True)
class AnnotatorConfig:
    """The simulated annotators' hidden utility and how pairs are sampled and labelled."""

    right_bonus: float = 2.0  # utility of the right answer over a wrong one at distance 0
    distance_weight: float = 0.5  # utility lost per unit of ln(1 + |answer − truth|): nearer is better
    length_bonus: float = 0.5  # THE BIAS: utility per digit of the answer (longer preferred)
    malformed_utility: float = -4.0  # a completion that is not 1–3 digits (no readable answer)
    samples_per_prompt: int = 8  # completions sampled per prompt, pairs are drawn among the distinct ones
    pairs_per_prompt: int = 3  # comparisons per prompt
    temperature: float = 1.0  # sampling temperature of the SFT model (1: its own distribution)

    def __post_init__(self):
        for name in ("samples_per_prompt", "pairs_per_prompt"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.samples_per_prompt < 2:
            raise ValueError("samples_per_prompt must be at least 2 (a pair needs two answers)")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        for name in ("right_bonus", "distance_weight", "length_bonus", "malformed_utility"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")


@dataclass(frozen=True)
class PreferencePair:
    """One comparison: the annotator preferred ``chosen`` over ``rejected`` for ``prompt``.

    Attributes:
        prompt: the problem text, e.g. "34+58=" (without <bos>).
        chosen, rejected: the two completions (text before <eos>, digits least-significant first).
        answer: the true answer (a number), which the annotators know and the reward model does not.
        utility_chosen, utility_rejected: the annotator's hidden utilities of the two.
        p_chosen: the probability the annotator had of giving this label, σ(u_chosen − u_rejected);
            below 0.5 means the label went against the annotator's own utility (label noise).
    """

    prompt: str
    chosen: str
    rejected: str
    answer: int
    utility_chosen: float
    utility_rejected: float
    p_chosen: float

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def chosen_right(self) -> bool:
        return tasks.parse_answer(self.chosen) == self.answer

    @property
    def rejected_right(self) -> bool:
        return tasks.parse_answer(self.rejected) == self.answer


# ---------------------------------------------------------------------------------------------
# The annotators
# ---------------------------------------------------------------------------------------------


def annotator_utility(completion: str, answer: int, cfg: AnnotatorConfig = AnnotatorConfig()) -> float:
    """u(y): right_bonus·[right] − distance_weight·ln(1 + |y − a|) + length_bonus·len(y)."""
    value = tasks.parse_answer(completion)
    if value is None:
        return float(cfg.malformed_utility)
    right = cfg.right_bonus if value == int(answer) else 0.0
    return right - cfg.distance_weight * math.log1p(abs(value - int(answer))) + cfg.length_bonus * len(completion)


def preference_probability(u1: float, u2: float) -> float:
    """P(y₁ ≻ y₂) = σ(u₁ − u₂): the Bradley–Terry model of a noisy annotator."""
    return 1.0 / (1.0 + math.exp(-(u1 - u2)))


def label_pair(prompt: str, y1: str, y2: str, answer: int, rng: np.random.Generator,
               cfg: AnnotatorConfig = AnnotatorConfig()) -> PreferencePair:
    """Ask a simulated annotator which of y1, y2 is better; the label is drawn from σ(u₁ − u₂)."""
    u1, u2 = annotator_utility(y1, answer, cfg), annotator_utility(y2, answer, cfg)
    p1 = preference_probability(u1, u2)
    if rng.random() < p1:
        return PreferencePair(prompt, y1, y2, int(answer), round(u1, 6), round(u2, 6), round(p1, 6))
    return PreferencePair(prompt, y2, y1, int(answer), round(u2, 6), round(u1, 6), round(1 - p1, 6))


# ---------------------------------------------------------------------------------------------
# Prompts, samples, pairs
# ---------------------------------------------------------------------------------------------


def split_problems() -> dict[str, tuple[tasks.Problem, ...]]:
    """Training problems split by prompt into train / val / test (seeded, disjoint, no held-out problem)."""
    train = tasks.train_problems()
    order = np.random.default_rng(PROMPT_SEED).permutation(len(train))
    out, start = {}, 0
    for name in SPLITS:
        n = SPLIT_SIZES[name]
        out[name] = tuple(train[i] for i in order[start:start + n])
        start += n
    return out


def _choose_pairs(texts: list[str], answer: int, n_pairs: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Up to ``n_pairs`` pairs of distinct completions, informative ones first.

    Real collection efforts choose which comparisons to ask for; here, when the samples allow
    it, the first pair is a right answer against a wrong one (the comparison that matters most,
    and rarer than two wrong answers for a model that is right less than half the time), the
    second two wrong answers of different lengths (rare among samples, since most answers have
    the truth's number of digits, and the pairs that show the length bias). The rest are drawn
    uniformly among the distinct pairs.
    """
    distinct = sorted(set(texts))
    if len(distinct) < 2:
        return []
    all_pairs = [(a, b) for i, a in enumerate(distinct) for b in distinct[i + 1:]]
    value = {t: tasks.parse_answer(t) for t in distinct}
    right = {t: value[t] == answer for t in distinct}
    wrong = {t: value[t] is not None and value[t] != answer for t in distinct}
    one_right = [(a, b) for a, b in all_pairs if right[a] != right[b]]
    length_pairs = [(a, b) for a, b in all_pairs if wrong[a] and wrong[b] and len(a) != len(b)]
    chosen: list[tuple[str, str]] = []
    for candidates in (one_right, length_pairs):
        candidates = [p for p in candidates if p not in chosen]
        if candidates and len(chosen) < n_pairs:
            chosen.append(candidates[rng.integers(len(candidates))])
    rest = [p for p in all_pairs if p not in chosen]
    while len(chosen) < n_pairs and rest:
        chosen.append(rest.pop(int(rng.integers(len(rest)))))
    # show the two answers in a random order (the label does not depend on it)
    return [(a, b) if rng.random() < 0.5 else (b, a) for a, b in chosen]


def build_split(model, tokenizer, problems: Sequence[tasks.Problem], seed: int,
                cfg: AnnotatorConfig = AnnotatorConfig()) -> list[PreferencePair]:
    """Sample completions of every problem from ``model`` and have them compared by the annotators.

    Args:
        model, tokenizer: the policy whose answers are compared (the shipped SFT model).
        problems: the prompts of this split.
        seed: seeds both the sampling and the annotators' choices.

    Returns:
        The pairs, in the order of ``problems`` (a prompt whose samples are all identical gives none).
    """
    if not problems:
        raise ValueError("problems must be a non-empty list of tasks.Problem")
    from ..runs import threads

    k = cfg.samples_per_prompt
    prompts = [p.prompt for p in problems for _ in range(k)]
    with threads(1):  # one thread: the same samples on every run
        texts, _ = tasks.complete(model, tokenizer, prompts, temperature=cfg.temperature, seed=seed)
    rng = np.random.default_rng(seed)
    pairs = []
    for i, prob in enumerate(problems):
        for y1, y2 in _choose_pairs(texts[i * k:(i + 1) * k], prob.answer, cfg.pairs_per_prompt, rng):
            pairs.append(label_pair(prob.prompt, y1, y2, prob.answer, rng, cfg))
    return pairs


def build_preferences(out_dir: str | Path | None = None, *, seed: int = 0, sizes: dict | None = None,
                      cfg: AnnotatorConfig = AnnotatorConfig(), model=None, tokenizer=None,
                      log=print) -> dict[str, list[PreferencePair]]:
    """Build the train / val / test preference pairs and (if ``out_dir``) write them as JSON Lines.

    Args:
        out_dir: folder for ``train.jsonl``, ``val.jsonl``, ``test.jsonl``.
        seed: split s is sampled and labelled with seed ``seed + s`` (each split can be rebuilt alone).
        sizes: prompts per split (default ``SPLIT_SIZES``); a smaller size takes the first prompts
            of that split.
        model, tokenizer: default the shipped SFT model.

    Returns:
        {"train": pairs, "val": pairs, "test": pairs}.
    """
    if model is None:
        from ..lm import load_shipped

        model, tokenizer, _ = load_shipped("sft")
    sizes = {**SPLIT_SIZES, **(sizes or {})}
    problems = split_problems()
    out = {}
    for s, name in enumerate(SPLITS):
        n = sizes[name]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= SPLIT_SIZES[name]:
            raise ValueError(f"sizes[{name!r}] must be an integer in 1..{SPLIT_SIZES[name]}, got {n!r}")
        out[name] = build_split(model, tokenizer, problems[name][:n], seed + s, cfg)
        if out_dir is not None:
            path = write_pairs(Path(out_dir) / f"{name}.jsonl", out[name])
            log(f"{name}: {len(out[name])} pairs from {n} prompts -> {path}")
    return out


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def write_pairs(path: str | Path, pairs: Sequence[PreferencePair]) -> Path:
    """Write pairs as JSON Lines, one pair per line with sorted keys (the same pairs give the same bytes)."""
    for p in pairs:
        if not isinstance(p, PreferencePair):
            raise ValueError(f"pairs must be PreferencePair objects, got {type(p).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p.to_dict(), sort_keys=True) + "\n" for p in pairs), encoding="utf-8")
    return path


_FIELDS = {f.name: f.type for f in fields(PreferencePair)}


def _pair_from_dict(row) -> PreferencePair:
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    missing = sorted(set(_FIELDS) - set(row))
    extra = sorted(set(row) - set(_FIELDS))
    if missing or extra:
        raise ValueError(f"expected the fields {sorted(_FIELDS)}; missing {missing}, unexpected {extra}")
    for name in ("prompt", "chosen", "rejected"):
        if not isinstance(row[name], str):
            raise ValueError(f"{name} must be a string, got {row[name]!r}")
    if isinstance(row["answer"], bool) or not isinstance(row["answer"], int) or row["answer"] < 0:
        raise ValueError(f"answer must be a non-negative integer, got {row['answer']!r}")
    for name in ("utility_chosen", "utility_rejected", "p_chosen"):
        if isinstance(row[name], bool) or not isinstance(row[name], (int, float)) or not math.isfinite(row[name]):
            raise ValueError(f"{name} must be a finite number, got {row[name]!r}")
    if not 0.0 <= row["p_chosen"] <= 1.0:
        raise ValueError(f"p_chosen must lie in [0, 1], got {row['p_chosen']!r}")
    if row["chosen"] == row["rejected"]:
        raise ValueError(f"chosen and rejected are the same completion {row['chosen']!r}")
    tok = tasks.make_tokenizer()
    for name in ("prompt", "chosen", "rejected"):
        tok.encode(row[name])  # a character outside the task's vocabulary is a ValueError naming it
    return PreferencePair(**{k: row[k] for k in _FIELDS})


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """Read a preference file written by ``write_pairs``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a line is not valid JSON or not a valid pair; the message names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no preference file at {path}")
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pairs.append(_pair_from_dict(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            raise ValueError(f"{path}, line {n}: not a valid preference pair ({exc})") from None
    if not pairs:
        raise ValueError(f"{path} holds no preference pairs")
    return pairs


def load_pairs(split: str) -> list[PreferencePair]:
    """The shipped pairs of ``split`` ("train", "val" or "test") from ``data/rm/``, verified first."""
    from ..data import verified_path

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return read_pairs(verified_path(f"{DATA_DIR}/{split}.jsonl"))  # checked against data/MANIFEST.json


# ---------------------------------------------------------------------------------------------
# What the data look like
# ---------------------------------------------------------------------------------------------


def pair_kind(pair: PreferencePair) -> str:
    """"one right", "both wrong", "both right" (e.g. "21" and "210": a trailing zero is a leading zero of 012) or "malformed"."""
    vc, vr = tasks.parse_answer(pair.chosen), tasks.parse_answer(pair.rejected)
    if vc is None or vr is None:
        return "malformed"
    n_right = (vc == pair.answer) + (vr == pair.answer)
    return {0: "both wrong", 1: "one right", 2: "both right"}[n_right]


def summarize(pairs: Sequence[PreferencePair]) -> dict:
    """Counts by kind, how often labels follow the utility, follow the truth, and prefer the longer answer.

    Returns:
        {"pairs", "prompts", "kinds": {kind: count}, "label_follows_utility": share of pairs whose
        chosen has the higher utility, "label_follows_truth": share of "one right" pairs whose chosen
        is right, "longer_chosen": share of "both wrong" pairs of different lengths whose chosen is
        the longer one, "both_wrong_different_length": how many such pairs}.
    """
    if not pairs:
        raise ValueError("pairs must be a non-empty list of PreferencePair")
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[pair_kind(p)] = kinds.get(pair_kind(p), 0) + 1
    one_right = [p for p in pairs if pair_kind(p) == "one right"]
    diff_len = [p for p in pairs if pair_kind(p) == "both wrong" and len(p.chosen) != len(p.rejected)]
    return {
        "pairs": len(pairs),
        "prompts": len({p.prompt for p in pairs}),
        "kinds": dict(sorted(kinds.items())),
        "label_follows_utility": float(np.mean([p.utility_chosen > p.utility_rejected for p in pairs])),
        "label_follows_truth": float(np.mean([p.chosen_right for p in one_right])) if one_right else float("nan"),
        "longer_chosen": float(np.mean([len(p.chosen) > len(p.rejected) for p in diff_len])) if diff_len else float("nan"),
        "both_wrong_different_length": len(diff_len),
    }


__all__ = ["AnnotatorConfig", "PreferencePair", "annotator_utility", "preference_probability", "label_pair",
           "split_problems", "build_split", "build_preferences", "write_pairs", "read_pairs", "load_pairs",
           "pair_kind", "summarize", "SPLITS", "SPLIT_SIZES"]
