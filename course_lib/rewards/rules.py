"""The rule-based rewards of the arithmetic task and the helpers every reward in TRL's convention uses
(notebooks 06, 08 and 09); the package's face, ``course_lib.rewards``, says what the convention is."""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..core import check_finite_number
from ..tasks import as_answer, follows_format, parse_answer

RewardFn = Callable[..., list]


def _text(completion: Any) -> str:
    """The text of one completion: a string, or TRL's conversational ``[{"content": ...}]``."""
    if isinstance(completion, str):
        return completion
    if (isinstance(completion, (list, tuple)) and completion and isinstance(completion[-1], dict)
            and isinstance(completion[-1].get("content"), str)):
        return completion[-1]["content"]
    raise ValueError("each completion must be a string or a list of messages with a 'content' string, "
                     f"got {completion!r}")


def check_completions(completions: Any) -> list[str]:
    """The texts of ``completions`` (strings, or TRL's conversational messages); anything else is refused."""
    if isinstance(completions, str) or not isinstance(completions, Sequence):
        raise ValueError(f"completions must be a list of completions, got {type(completions).__name__}")
    return [_text(c) for c in completions]


def check_column(name: str, values: Any, n: int) -> list:
    """``values`` (a dataset column a reward reads, e.g. ``answer``) as a list of one value per completion."""
    if values is None:
        raise ValueError(f"{name} is required: pass one value per completion as the keyword argument {name}=...")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise ValueError(f"{name} must be a list with one value per completion, got {values!r}")
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} values but there are {n} completions; "
                         "pass one value per completion (repeat a prompt's answer for each of its G samples)")
    return values


def format_reward(completions: Sequence, finished: Sequence[bool] | None = None, **kwargs) -> list[float]:
    """1.0 for a completion that follows the task's answer format, else 0.0.

    The format (``course_lib.tasks``): 1–3 digits, least-significant first, then <eos>.

    Args:
        completions: generated texts up to (not including) <eos>.
        finished: optional, one bool per completion: whether it produced <eos>. A completion
            that ran out of tokens before <eos> breaks the format even if its digits parse.
            TRL does not pass this; without it only the text is judged.
        **kwargs: ignored (prompts, answer and other dataset columns).

    Returns:
        One reward per completion.
    """
    texts = check_completions(completions)
    done = [True] * len(texts) if finished is None else check_column("finished", finished, len(texts))
    return [1.0 if follows_format(t, bool(f)) else 0.0 for t, f in zip(texts, done)]


def accuracy_reward(completions: Sequence, answer: Sequence | None = None,
                    finished: Sequence[bool] | None = None, **kwargs) -> list[float]:
    """1.0 when the parsed answer equals the true answer exactly, else 0.0.

    A completion that breaks the format has no parsed answer and earns 0.0 (as in R1, where an
    answer must appear in the required place to be checked).

    Args:
        completions: generated texts up to (not including) <eos>.
        answer: the true answers, one per completion (the dataset's ``answer`` column).
        finished: optional, as in ``format_reward``.
        **kwargs: ignored.

    Returns:
        One reward per completion.
    """
    texts = check_completions(completions)
    truth = [as_answer(a) for a in check_column("answer", answer, len(texts))]
    ok_format = format_reward(texts, finished=finished)
    return [1.0 if fmt and parse_answer(t) == a else 0.0 for t, a, fmt in zip(texts, truth, ok_format)]


def combine_rewards(reward_fns: Sequence[RewardFn], weights: Sequence[float] | None = None) -> RewardFn:
    """A reward function returning Σ_k w_k · reward_k(completions, **kwargs).

    Args:
        reward_fns: reward functions in the TRL convention.
        weights: one weight per function; None gives 1.0 each (R1's equal-weight sum).

    Returns:
        A reward function in the same convention (TRL would take the list and the weights
        separately, as ``reward_funcs`` and ``reward_weights``).
    """
    fns = list(reward_fns) if isinstance(reward_fns, (list, tuple)) else None
    if not fns:
        raise ValueError(f"reward_fns must be a non-empty list of reward functions, got {reward_fns!r}")
    for f in fns:
        if not callable(f):
            raise ValueError(f"reward_fns must contain functions, got {f!r}")
    if weights is None:
        w = [1.0] * len(fns)
    else:
        w = list(weights)
        if len(w) != len(fns):
            raise ValueError(f"weights has {len(w)} values but there are {len(fns)} reward functions")
        w = [check_finite_number("weights", x) for x in w]

    def combined(completions, **kwargs) -> list[float]:
        n = len(check_completions(completions))
        total = [0.0] * n
        for f, wk in zip(fns, w):
            r = f(completions, **kwargs)
            if len(r) != n:
                raise ValueError(f"reward function {getattr(f, '__name__', f)!r} returned {len(r)} "
                                 f"rewards for {n} completions")
            total = [t + wk * float(x) for t, x in zip(total, r)]
        return total

    names = " + ".join(f"{wk:g}*{getattr(f, '__name__', 'reward')}" for f, wk in zip(fns, w))
    combined.__name__ = "combined_reward"
    combined.__doc__ = f"Weighted sum of rewards: {names}."
    return combined


def r1_reward(completions: Sequence, **kwargs) -> list[float]:
    """Accuracy plus format with equal weight, as DeepSeek-R1 adds them (0, 1 or 2 per completion)."""
    return _R1(completions, **kwargs)


_R1 = combine_rewards([accuracy_reward, format_reward], [1.0, 1.0])


__all__ = ["accuracy_reward", "format_reward", "combine_rewards", "r1_reward", "check_completions",
           "check_column", "RewardFn"]
