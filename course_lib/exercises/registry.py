"""The exercise registry: what each exercise is, its seeded cases and its common mistakes.

Each topic registers its exercises in a module of ``course_lib.exercises.catalog``; every
module there is imported the first time an exercise is looked up, so adding a topic's
exercises never means editing a shared list.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..i18n import message_format


@dataclass(frozen=True)
class Case:
    """One seeded call of an exercise function: ``fn(*args, **kwargs)``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    label: str = ""  # how the case is described to the learner; derived from args if empty

    def describe(self) -> str:
        if self.label:
            return self.label
        parts = [short_repr(a) for a in self.args]
        parts += [f"{k}={short_repr(v)}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer, written as code, and the hint it earns.

    ``fn`` takes the same arguments as the exercise and returns what a learner who made this
    mistake would return. The checker gives ``hint`` when the learner's outputs match ``fn``'s
    on every case the learner got wrong. A mistake that shows as an error instead (``fn`` raises
    on some case) sets ``error``: a regular expression searched in the learner's error text
    ("OverflowError: int too large ..."); a learner error it matches gets ``hint``.
    """

    name: str
    fn: Callable[..., Any]
    hint: str
    error: str = ""


@dataclass(frozen=True)
class Exercise:
    """An exercise: the reference answer, the cases it is checked on, its known mistakes, its help.

    Help comes as a ladder, each rung on request: ``hint`` (level 1, a conceptual nudge, also
    what a wrong answer that matches no known mistake gets), ``formula`` (level 2) and
    ``code_hint`` (level 3, code-level help). ``teaching`` is the short, self-contained answer
    that ``solution()`` shows; the registry-wide test checks it equals ``reference``.
    """

    name: str
    reference: Callable[..., Any]  # the library's implementation: the expected outputs
    cases: Callable[[], list[Case]]  # builds the seeded cases (same cases every call)
    signature: str  # how the exercise calls the learner's function, e.g. "f(x, gamma)"
    mistakes: tuple[Mistake, ...] = ()
    hint: str = ""  # level 1: a conceptual nudge (and the advice for an unrecognised wrong answer)
    notebook: str = ""  # where the exercise is taught
    time_limit: float = 5.0  # seconds for all of the learner's calls together
    rtol: float = 1e-5
    atol: float = 1e-6
    # Optional custom comparison: returns None when equal, else what differs.
    compare: Callable[[Any, Any], str | None] | None = None
    formula: str = ""  # level 2: the formula / the algorithm in words
    code_hint: str = ""  # level 3: code-level help (the key lines, not the whole function)
    teaching: Callable[..., Any] | None = None  # short self-contained answer shown by solution()
    notebooks: tuple[str, ...] = ()  # every notebook that checks it (``notebook`` included or not)
    # Parameters that get ``requires_grad`` in the check (tensor inputs of a loss): the learner's
    # gradients with respect to them are compared with the reference's.
    grad_args: tuple[str, ...] = ()
    tensor_out: bool = False  # the signature promises a torch tensor (a float or array fails)
    # "module:function" names of the library's own implementation(s): a learner function that
    # is, or calls, one of them is refused ("write your own").
    library: tuple[str, ...] = ()

    @property
    def all_notebooks(self) -> tuple[str, ...]:
        """``notebook`` and ``notebooks`` together, without repeats, in that order."""
        out = [self.notebook] if self.notebook else []
        return tuple(out + [n for n in self.notebooks if n not in out])


_REGISTRY: dict[str, Exercise] = {}
_loaded = False


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (called by the catalog modules at import)."""
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register expects an Exercise, got {type(exercise).__name__}")
    existing = _REGISTRY.get(exercise.name)
    if existing is not None and existing is not exercise:
        raise ValueError(f"an exercise named {exercise.name!r} is already registered")
    _REGISTRY[exercise.name] = exercise
    return exercise


def load_catalog() -> None:
    """Import every catalogue module once, so that each registers its exercises."""
    global _loaded
    if _loaded:
        return
    from . import catalog

    for mod in sorted(pkgutil.iter_modules(catalog.__path__), key=lambda m: m.name):
        importlib.import_module(f"{catalog.__name__}.{mod.name}")
    _loaded = True


def list_exercises() -> list[str]:
    """Names of all registered exercises, sorted."""
    load_catalog()
    return sorted(_REGISTRY)


# The words of the lookup's errors (key -> English template), shown in the learner's language by
# ``course_lib.i18n.message_format`` and listed by ``english_messages`` for ``translate status``.
_TEXTS = {
    "registry.name_not_str": "the exercise name must be a string, got {type}",
    "registry.unknown": "there is no exercise named {name}.{maybe} Known exercises: {known}.",
    "registry.did_you_mean": " Did you mean {close}?",
}


def english_messages() -> dict[str, str]:
    """The message keys of the registry's own errors with their current English (see ``course_lib.i18n``)."""
    return dict(_TEXTS)


def _say(key: str, **fields) -> str:
    return message_format(key, _TEXTS[key], **fields)


def get_exercise(name: str) -> Exercise:
    """Look an exercise up by name; an unknown name is a KeyError that suggests close names."""
    load_catalog()
    if not isinstance(name, str):
        raise KeyError(_say("registry.name_not_str", type=type(name).__name__))
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        maybe = _say("registry.did_you_mean", close=", ".join(repr(c) for c in close)) if close else ""
        known = ", ".join(repr(n) for n in sorted(_REGISTRY))
        raise KeyError(_say("registry.unknown", name=repr(name), maybe=maybe, known=known))
    return _REGISTRY[name]


def teaching_source(ex: Exercise) -> str:
    """The source of the exercise's teaching solution, its function named after the exercise."""
    fn = ex.teaching or ex.reference
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return f"# source not available; the reference is {fn!r}\n"
    return re.sub(r"^def \w+\(", f"def {ex.name}(", source, count=1, flags=re.M)


def short_repr(x: Any, limit: int = 80) -> str:
    """A one-line description of a value for hints: arrays by values if short, else shape."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            if x.numel() <= 12:
                return f"tensor({np.array2string(x.detach().cpu().numpy(), precision=4, separator=', ')})"
            return f"tensor of shape {tuple(x.shape)}"
    except ImportError:  # pragma: no cover
        pass
    if isinstance(x, np.ndarray):
        if x.size <= 12:
            return np.array2string(x, precision=4, separator=", ")
        return f"array of shape {x.shape}"
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."
