"""``check`` and ``solution``: compare a learner's function with the reference, with hints."""
from __future__ import annotations

import copy
import html
import inspect
import textwrap
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from .registry import Case, Exercise, get_exercise, short_repr
from .runner import Stopwatch, TimeLimitExceeded, call_with_time_limit, describe_learner_error

# The MIME type under which every check result is stored in a notebook's outputs, so that
# grading can read executed notebooks (see ``collect_results``).
RESULT_MIME = "application/vnd.course-lib.check.v1+json"

PASSED, FAILED, NOT_ATTEMPTED, ERROR, TIMEOUT, INVALID = (
    "passed", "failed", "not attempted", "error", "timeout", "invalid",
)
_ICON = {PASSED: "✅", FAILED: "❌", NOT_ATTEMPTED: "✏️", ERROR: "💥", TIMEOUT: "⏱️", INVALID: "⚠️"}


class ExerciseFailed(AssertionError):
    """Raised by ``check(..., strict=True)`` when the check does not pass."""

    def __init__(self, result: "CheckResult"):
        super().__init__(result.text())
        self.result = result


@dataclass
class CheckResult:
    """The outcome of one ``check`` call.

    Attributes:
        exercise: the exercise name.
        status: "passed", "failed", "not attempted", "error", "timeout" or "invalid".
        passed: True only when every case matched the reference.
        hint: what to look at next ("" when passed).
        message: one line saying what happened.
        details: the failing case, the learner's error line, ... ("" when none).
        mistake: the name of the recognised common mistake, or None.
        cases_passed, cases_total: how many seeded cases matched.
        seconds: time the learner's function ran in total.
    """

    exercise: str
    status: str
    passed: bool
    hint: str = ""
    message: str = ""
    details: str = ""
    mistake: str | None = None
    cases_passed: int = 0
    cases_total: int = 0
    seconds: float = 0.0

    def __post_init__(self):
        self._shown_in: tuple | None = None

    def __bool__(self) -> bool:
        return self.passed

    def record(self) -> dict:
        """The machine-readable form stored in the notebook's output (schema v1)."""
        out = {k: v for k, v in asdict(self).items()}
        out["schema"] = "course_lib.check/1"
        out["seconds"] = round(self.seconds, 4)
        return out

    def text(self) -> str:
        lines = [f"{_ICON[self.status]} {self.exercise}: {self.message}"]
        if self.details:
            lines.append(textwrap.indent(self.details, "   "))
        if self.hint:
            lines.append(f"   Hint: {self.hint}")
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return self.text()

    def _html(self) -> str:
        colour = {PASSED: "#1a7f37", NOT_ATTEMPTED: "#6e7781"}.get(self.status, "#cf222e")
        parts = [
            f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0">',
            f"<b>{_ICON[self.status]} {html.escape(self.exercise)}</b>: {html.escape(self.message)}",
        ]
        if self.details:
            parts.append(f'<pre style="margin:4px 0">{html.escape(self.details)}</pre>')
        if self.hint:
            parts.append(f"<div><b>Hint:</b> {html.escape(self.hint)}</div>")
        parts.append("</div>")
        return "".join(parts)

    def mime_bundle(self) -> dict:
        return {"text/plain": self.text(), "text/html": self._html(), RESULT_MIME: self.record()}

    def _ipython_display_(self) -> None:
        # check() displays its result; when the same cell also ends with the result as its
        # value, IPython asks again: show it once per cell execution.
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        where = (id(shell), getattr(shell, "execution_count", None))
        if self._shown_in == where:
            return
        self._shown_in = where
        display(self.mime_bundle(), raw=True)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _show(result: CheckResult) -> None:
    if _in_ipython():
        from IPython.display import display

        display(result)
    else:
        print(result.text())


def _to_array(x: Any) -> Any:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    return x


def compare_outputs(got: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """None if ``got`` equals ``expected`` (numerically, within tolerance), else what differs."""
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {short_repr(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            diff = compare_outputs(g, e, rtol, atol)
            if diff:
                return f"item {i} of the returned tuple: {diff}"
        return None
    if got is None:
        return "your function returned None"
    g, e = _to_array(got), _to_array(expected)
    try:
        g_arr = np.asarray(g, dtype=float)
    except (TypeError, ValueError):
        return f"expected numbers, got {short_repr(got)}"
    e_arr = np.asarray(e, dtype=float)
    if g_arr.shape != e_arr.shape:
        return f"expected shape {e_arr.shape}, got shape {g_arr.shape}"
    if not np.allclose(g_arr, e_arr, rtol=rtol, atol=atol, equal_nan=True):
        return f"expected {short_repr(e_arr)}, got {short_repr(g_arr)}"
    return None


def _fresh(case: Case) -> tuple[tuple, dict]:
    # Each call gets its own copy, so a function that changes its inputs cannot affect
    # the reference or later cases.
    return copy.deepcopy(case.args), copy.deepcopy(case.kwargs)


def _signature_problem(fn: Callable, ex: Exercise, case: Case) -> str | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return None
    try:
        sig.bind(*case.args, **case.kwargs)
    except TypeError as exc:
        return (f"your function has the signature {getattr(fn, '__name__', 'fn')}{sig}, but the "
                f"exercise calls it as {ex.signature} ({exc}).")
    return None


def _comparer(ex: Exercise) -> Callable[[Any, Any], str | None]:
    """The exercise's own comparison, or numeric closeness within its tolerances."""
    return ex.compare or (lambda g, e: compare_outputs(g, e, ex.rtol, ex.atol))


def _matches(ex: Exercise, got: Any, expected: Any) -> bool:
    try:
        return _comparer(ex)(got, expected) is None
    except Exception:
        return False


def _diagnose(ex: Exercise, failing: list[tuple[Case, Any]]) -> tuple[str | None, str]:
    """Find the registered mistake that reproduces the learner's outputs on every failing case."""
    for mistake in ex.mistakes:
        ok = True
        for case, got in failing:
            args, kwargs = _fresh(case)
            try:
                wrong = mistake.fn(*args, **kwargs)
            except Exception:
                ok = False
                break
            if not _matches(ex, got, wrong):
                ok = False
                break
        if ok:
            return mistake.name, mistake.hint
    return None, ""


def check(name: str, fn: Callable, *, strict: bool = False) -> CheckResult:
    """Check a learner's implementation of exercise ``name`` against the library's reference.

    Runs ``fn`` on the exercise's seeded cases under a time limit and compares each output with
    the reference. A wrong answer that matches a registered common mistake gets that mistake's
    hint. A function that still raises NotImplementedError is "not attempted"; an exception or a
    time-out is reported with the learner's own failing line. The result is shown (and stored in
    the notebook's output for grading) and returned.

    Args:
        name: the exercise, e.g. "discounted_returns" (see ``list_exercises()``).
        fn: the learner's function.
        strict: raise ExerciseFailed unless the check passes (for tests and scripts); by
            default nothing is ever raised into the notebook.

    Returns:
        A CheckResult; ``result.passed`` and ``result.hint`` say how it went.
    """
    result = _run_check(name, fn)
    _show(result)
    if strict and not result.passed:
        raise ExerciseFailed(result)
    return result


def _run_check(name: str, fn: Callable) -> CheckResult:
    label = name if isinstance(name, str) else repr(name)
    try:
        ex = get_exercise(name)
    except KeyError as exc:
        return CheckResult(label, INVALID, False, message=exc.args[0],
                           hint="Check the spelling of the exercise name in the check cell.")
    if not callable(fn):
        return CheckResult(
            ex.name, INVALID, False,
            message=f"check needs your function itself, but got {type(fn).__name__} {short_repr(fn)}.",
            hint=f"Pass the function without calling it: check({ex.name!r}, my_function), "
                 f"not check({ex.name!r}, my_function(...)).")
    try:
        cases = ex.cases()
    except Exception as exc:  # a bug in the library, never the learner's fault
        return CheckResult(ex.name, ERROR, False, message=f"the exercise's cases failed to build: {exc!r}")
    total = len(cases)
    problem = _signature_problem(fn, ex, cases[0])
    if problem:
        return CheckResult(ex.name, INVALID, False, message="wrong signature.", details=problem,
                           hint=f"Define it as {ex.signature}.", cases_total=total)

    outputs: list[Any] = []
    clock = Stopwatch(ex.time_limit)
    started = time.perf_counter()
    for i, case in enumerate(cases):
        args, kwargs = _fresh(case)
        try:
            outputs.append(call_with_time_limit(lambda: fn(*args, **kwargs), clock.left()))
        except NotImplementedError:
            return CheckResult(ex.name, NOT_ATTEMPTED, False, message="not attempted yet.",
                               hint="Replace `raise NotImplementedError` with your code, run that "
                                    "cell, then run this check again.", cases_total=total)
        except TimeLimitExceeded:
            return CheckResult(
                ex.name, TIMEOUT, False, cases_total=total,
                seconds=time.perf_counter() - started,
                message=f"stopped after {ex.time_limit:g} s without finishing (on case {i + 1} of {total}).",
                details=f"case {i + 1}: {case.describe()}",
                hint="Look for a loop that never ends: a while-condition that never becomes false, "
                     "or an index that is never updated.")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the learner's bug: report it, never raise it
            return CheckResult(
                ex.name, ERROR, False, cases_total=total, seconds=time.perf_counter() - started,
                message=f"your function raised an error on case {i + 1} of {total}.",
                details=f"case {i + 1}: {case.describe()}\n{describe_learner_error(exc)}",
                hint="Fix the line shown above; run your function by hand on the case shown to see it fail.")
    seconds = time.perf_counter() - started

    failing: list[tuple[Case, Any]] = []
    first_diff = ""
    compare = _comparer(ex)
    for case, got in zip(cases, outputs):
        args, kwargs = _fresh(case)
        expected = ex.reference(*args, **kwargs)
        diff = compare(got, expected)
        if diff:
            if not failing:
                first_diff = f"case: {case.describe()}\n{diff}"
            failing.append((case, got))
    passed = total - len(failing)
    if not failing:
        return CheckResult(ex.name, PASSED, True, message=f"all {total} cases match the reference.",
                           cases_passed=passed, cases_total=total, seconds=seconds)
    mistake, hint = _diagnose(ex, failing)
    if mistake is None:
        if all(got is None for _, got in failing):
            hint = "Your function returns None: did you forget the `return` statement?"
        else:
            hint = ex.hint or "Work the failing case by hand and compare with your function, step by step."
    return CheckResult(ex.name, FAILED, False, hint=hint, mistake=mistake, cases_passed=passed,
                       cases_total=total, seconds=seconds, details=first_diff,
                       message=f"{len(failing)} of {total} cases differ from the reference.")


@dataclass(frozen=True)
class Solution:
    """The reference implementation of an exercise, shown as code."""

    exercise: str
    source: str

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return self.source

    def _repr_markdown_(self) -> str:
        return f"Reference solution for **{self.exercise}** (from `course_lib`):\n\n```python\n{self.source}```"


def solution(name: str) -> Solution:
    """The library's reference implementation of exercise ``name``, for display."""
    ex = get_exercise(name)
    try:
        source = inspect.getsource(ex.reference)
    except (OSError, TypeError):
        source = f"# source not available; the reference is {ex.reference!r}\n"
    return Solution(ex.name, textwrap.dedent(source))
