"""The course's verifiable task: two-digit addition and subtraction.

A problem is written ``a+b=`` or ``a-b=`` (a, b in 0..99; for subtraction a >= b, so answers
are never negative), and the answer is written with its digits **least-significant first**:
34+58=92 is written ``34+58=29``. A small transformer learns arithmetic this way much more easily,
because each answer digit depends only on digits it has already seen and one carry.

The three stages of the course's language model each use a different view of the same task:

* **pretraining text**: unlabelled documents of 1–3 solved problems joined by ``;``
  (``<bos>12+5=71;40-13=72<eos>``): the model learns arithmetic, but not when to stop;
* **SFT examples**: a prompt ``<bos>a+b=`` and the completion ``answer<eos>``: the answer sits
  exactly where pretraining put it, and the model learns to stop after it;
* **evaluation and RL prompts**: the same prompt, scored by a rule (a verifier), not by a
  reference text.

The answer format is checked by a rule: the completion, up to <eos>, must be 1–3 ASCII digits and
nothing else (the whole string: no space, no newline) and must end with <eos>. ``parse_answer`` returns the number or None; exact-match accuracy compares it
with the true answer. The held-out evaluation problems (``data/lm/eval.jsonl``) are drawn once
from all problems with a fixed seed and never appear in pretraining, SFT or RL prompts.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..core import check_int_in_range, check_nonnegative_int, check_positive_int
from ..lm.tokenizer import CharTokenizer

CHARS = "0123456789+-=;"
SEPARATOR = ";"
MAX_ANSWER_TOKENS = 4  # up to 3 digits and <eos>
EVAL_SIZE = 500
SPLIT_SEED = 20240605  # fixes which problems are held out; never change it
EVAL_FILE = "lm/eval.jsonl"
_ANSWER_RE = re.compile(r"[0-9]{1,3}")  # used with fullmatch: "12\n" does not pass ($ would let it)
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_LEADING_DIGITS = re.compile(r"^[0-9]*")


def make_tokenizer() -> CharTokenizer:
    """The tokenizer of the task: digits, ``+ - = ;`` and the specials."""
    return CharTokenizer(CHARS)


@dataclass(frozen=True)
class Problem:
    a: int
    op: str  # "+" or "-"
    b: int

    def __post_init__(self):
        if self.op not in ("+", "-"):
            raise ValueError(f"op must be '+' or '-', got {self.op!r}")
        try:
            a, b = check_int_in_range("a", self.a, 0, 99), check_int_in_range("b", self.b, 0, 99)
        except ValueError:
            raise ValueError(f"a and b must be integers in 0..99, got a={self.a!r}, b={self.b!r}") from None
        object.__setattr__(self, "a", a)  # np.int64(3) is stored as 3, so prompts read the same
        object.__setattr__(self, "b", b)
        if self.op == "-" and self.a < self.b:
            raise ValueError(f"subtraction needs a >= b, got {self.a}-{self.b}")

    @property
    def prompt(self) -> str:
        return f"{self.a}{self.op}{self.b}="

    @property
    def answer(self) -> int:
        return self.a + self.b if self.op == "+" else self.a - self.b

    @property
    def completion(self) -> str:
        """The answer as the model writes it (digits reversed), without <eos>."""
        return format_answer(self.answer)

    def text(self) -> str:
        return self.prompt + self.completion

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "answer": self.answer, "completion": self.completion,
                "a": self.a, "op": self.op, "b": self.b}


def format_answer(n: int) -> str:
    """The answer written least-significant digit first: 92 -> "29", 100 -> "001"."""
    return str(check_nonnegative_int("n", n))[::-1]


def as_answer(value) -> int:
    """A true answer as an ``int``: an integer (Python, NumPy or torch), an integral float
    (``12.0``) or an integer string (``"12"``). Anything else is a ValueError, never rounded or
    truncated: ``3.7`` is refused, not read as 3. The one rule the rewards and ``evaluate`` use."""
    v = value
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # NumPy and torch scalars
        v = v.item()
    if isinstance(v, str) and _INTEGER_RE.fullmatch(v.strip()):
        return int(v.strip())
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"answer values must be integers (or integer strings), got {value!r}")
    if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
        raise ValueError(f"answer values must be integers (or integer strings), got {value!r}: "
                         "a non-integral answer is refused, not rounded")
    return int(v)


def parse_answer(completion: str) -> int | None:
    """The number in a completion that follows the format, else None.

    The completion is the generated text up to (not including) <eos>. It follows the format when
    it is 1–3 digits and nothing else; the digits are least-significant first.
    """
    if not isinstance(completion, str):
        raise ValueError(f"completion must be a string, got {type(completion).__name__}")
    if not _ANSWER_RE.fullmatch(completion):
        return None
    return int(completion[::-1])


def follows_format(completion: str, finished: bool = True) -> bool:
    """True when the completion parses and ended with <eos> (``finished``).

    With ``max_new_tokens = MAX_ANSWER_TOKENS`` (4) a completion that never produced <eos> has 4
    characters and fails ``parse_answer`` anyway, so a reward that sees only the text (as TRL's
    reward functions do) can check the format with ``parse_answer(text) is not None``.
    """
    return bool(finished) and parse_answer(completion) is not None


def all_problems() -> list[Problem]:
    """Every problem of the task: 10,000 additions and 5,050 subtractions."""
    probs = [Problem(a, "+", b) for a in range(100) for b in range(100)]
    probs += [Problem(a, "-", b) for a in range(100) for b in range(a + 1)]
    return probs


@lru_cache(maxsize=1)
def _split() -> tuple[tuple[Problem, ...], tuple[Problem, ...]]:
    probs = all_problems()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(probs))
    held = tuple(probs[i] for i in order[:EVAL_SIZE])
    train = tuple(probs[i] for i in sorted(order[EVAL_SIZE:]))
    return train, held


def train_problems() -> tuple[Problem, ...]:
    """All problems that may be used for training (pretraining, SFT, RL prompts)."""
    return _split()[0]


def eval_problems() -> tuple[Problem, ...]:
    """The held-out problems (the content of ``data/lm/eval.jsonl``)."""
    return _split()[1]


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    try:
        return np.random.default_rng(check_nonnegative_int("seed", seed))
    except ValueError:
        raise ValueError(f"seed must be a non-negative integer or a numpy Generator, got {seed!r}") from None


def _check_n(n) -> int:
    return check_positive_int("n", n)


def sample_problems(n: int, seed=0) -> list[Problem]:
    """``n`` training problems drawn uniformly (with replacement), never held-out ones."""
    n, rng = _check_n(n), _rng(seed)
    train = train_problems()
    return [train[i] for i in rng.integers(0, len(train), size=n)]


def pretraining_documents(n: int, seed=0, max_problems: int = 3) -> list[str]:
    """Unlabelled pretraining text: ``n`` documents of 1..max_problems solved problems.

    Each document is e.g. ``"12+5=71;40-13=72"``; the trainer adds <bos> and <eos> around it.
    """
    n, rng = _check_n(n), _rng(seed)
    max_problems = check_positive_int("max_problems", max_problems)
    train = train_problems()
    docs = []
    for k in rng.integers(1, max_problems + 1, size=n):
        docs.append(SEPARATOR.join(train[i].text() for i in rng.integers(0, len(train), size=k)))
    return docs


def sft_examples(n: int, seed=0) -> list[dict]:
    """``n`` supervised examples ``{"prompt", "completion", "answer"}`` from the training problems."""
    return [p.to_dict() for p in sample_problems(n, seed)]


def eval_dataset() -> list[dict]:
    """The held-out evaluation set as shipped in ``data/lm/eval.jsonl`` (list of dicts), checked
    against ``data/MANIFEST.json`` first."""
    from ..data import verified_path

    return load_jsonl(verified_path(EVAL_FILE))


def write_eval_set(path: str | Path) -> Path:
    """Write the held-out problems as JSON Lines (one problem per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(p.to_dict(), sort_keys=True) for p in eval_problems()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_jsonl(path: str | Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}, line {n}: not valid JSON ({exc})") from None
    return rows


def prompts_and_answers(dataset: Iterable) -> tuple[list[str], list[int]]:
    """The prompts and the true answers of a data set's rows (``Problem``s or their dicts)."""
    prompts, answers = [], []
    for row in dataset:
        if isinstance(row, Problem):
            prompts.append(row.prompt)
            answers.append(row.answer)
        elif isinstance(row, dict) and "prompt" in row and "answer" in row:
            prompts.append(row["prompt"])
            answers.append(as_answer(row["answer"]))
        else:
            raise ValueError(f"dataset rows must be Problems or dicts with 'prompt' and 'answer', got {row!r}")
    if not prompts:
        raise ValueError("dataset is empty")
    return prompts, answers


def complete(model, tokenizer: CharTokenizer, prompts: Sequence[str], *, temperature: float = 0.0,
             top_k: int | None = None, seed: int = 0, max_new_tokens: int = MAX_ANSWER_TOKENS,
             batch_size: int = 512) -> tuple[list[str], list[bool]]:
    """Generate completions for text prompts (``<bos>`` is added).

    Returns:
        (texts, finished): each completion's text up to <eos>, and whether it produced <eos>.
    """
    import torch

    from ..lm.generate import generate

    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ValueError("prompts must be a list of strings")
    batch_size = check_positive_int("batch_size", batch_size)
    gen = torch.Generator(device="cpu").manual_seed(check_nonnegative_int("seed", seed))
    texts, finished = [], []
    for start in range(0, len(prompts), batch_size):
        chunk = [tokenizer.encode(p, bos=True) for p in prompts[start:start + batch_size]]
        out = generate(model, chunk, max_new_tokens, eos_id=tokenizer.eos_id, temperature=temperature,
                       top_k=top_k, generator=gen)
        texts += tokenizer.decode_batch(out.completions.tolist(), stop_at_eos=True)
        finished += out.finished.tolist()
    return texts, finished


def evaluate(model, dataset, tokenizer: CharTokenizer | None = None, *, greedy: bool = True,
             temperature: float = 1.0, seed: int = 0, samples: int = 1,
             max_new_tokens: int = MAX_ANSWER_TOKENS) -> dict:
    """Exact-match accuracy and format rate of ``model`` on ``dataset``.

    Args:
        model: a GPT.
        dataset: Problems or dicts with "prompt" and "answer" (e.g. ``eval_dataset()``).
        tokenizer: default ``make_tokenizer()``.
        greedy: argmax decoding (the number the course reports); False samples at
            ``temperature`` with a torch generator seeded by ``seed``.
        samples: completions per prompt when sampling (accuracy averages over all of them).

    Returns:
        {"accuracy", "format_rate", "lenient_accuracy", "n", "completions"}: accuracy is the
        share of completions whose parsed answer equals the true answer (a completion that
        breaks the format counts as wrong); format_rate the share that follow the format;
        lenient_accuracy ignores the format and reads the digits the completion starts with
        (it shows what a model knows before it has learned to stop, e.g. after pretraining).
    """
    tokenizer = tokenizer or make_tokenizer()
    prompts, answers = prompts_and_answers(dataset)
    if greedy:
        samples = 1
    else:
        samples = check_positive_int("samples", samples)
    prompts_rep = [p for p in prompts for _ in range(samples)]
    answers_rep = [a for a in answers for _ in range(samples)]
    texts, finished = complete(model, tokenizer, prompts_rep, temperature=0.0 if greedy else temperature,
                               seed=seed, max_new_tokens=max_new_tokens)
    ok_format = [follows_format(t, f) for t, f in zip(texts, finished)]
    correct = [fmt and parse_answer(t) == a for t, fmt, a in zip(texts, ok_format, answers_rep)]
    lenient = [parse_answer(_LEADING_DIGITS.match(t).group(0)) == a for t, a in zip(texts, answers_rep)]
    n = len(texts)
    return {"accuracy": sum(correct) / n, "format_rate": sum(ok_format) / n,
            "lenient_accuracy": sum(lenient) / n, "n": n, "completions": texts}
