"""The trusted side of a check: expected outputs, the comparison, the verdict.

Everything here runs in the *judge*, a process forked when ``course_lib.exercises`` is imported,
before any learner code can run (see ``checker``). The judge builds each exercise's cases and
computes the reference's and every registered mistake's outputs (with gradients where the
exercise is a loss) before the learner's function runs; the learner's outputs reach it only as
data (``wire.decode``), so nothing the learner does in the kernel or in its own child process
can change what it expects.

``run_case`` is the one way a function is called on a case, for the reference, the mistakes
and the learner alike, so the records compared are built the same way.
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..i18n import LANGS
from . import wire
from .registry import Case, Exercise
from .texts import case_label, exercise_text, mistake_hint, say

PASSED, FAILED, NOT_ATTEMPTED, ERROR, TIMEOUT, INVALID, LIBRARY = (
    "passed", "failed", "not attempted", "error", "timeout", "invalid", "library",
)
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6


def _torch():
    import sys

    return sys.modules.get("torch")


# --- calling a function on a case --------------------------------------------------------------


def _same(before: Any, after: Any) -> bool:
    """True when ``after`` holds what ``before`` held (arrays and tensors compared exactly)."""
    torch = _torch()
    if torch is not None and isinstance(before, torch.Tensor):
        if not isinstance(after, torch.Tensor) or after.shape != before.shape or after.dtype != before.dtype:
            return False
        a, b = before.detach(), after.detach()
        if a.is_floating_point() or a.is_complex():
            return bool(torch.equal(torch.nan_to_num(a, 0.0, 1e300, -1e300), torch.nan_to_num(b, 0.0, 1e300, -1e300))
                        and torch.equal(torch.isnan(a), torch.isnan(b)))
        return bool(torch.equal(a, b))
    if isinstance(before, np.ndarray):
        if not isinstance(after, np.ndarray) or after.shape != before.shape or after.dtype != before.dtype:
            return False
        return bool(np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"))
    if isinstance(before, (list, tuple)):
        return (type(after) is type(before) and len(after) == len(before)
                and all(_same(x, y) for x, y in zip(before, after)))
    if isinstance(before, dict):
        return (isinstance(after, dict) and before.keys() == after.keys()
                and all(_same(before[k], after[k]) for k in before))
    return True  # numbers, strings, None: immutable


def named_args(names: list[str], args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    """(parameter name, value) for every argument of a call; positional ones named by ``names``."""
    out = [(names[i] if i < len(names) else f"argument {i + 1}", a) for i, a in enumerate(args)]
    return out + list(kwargs.items())


def differentiable_part(out: Any) -> Any:
    """What gradients are taken of: the output, or the first item of a returned tuple/list."""
    return out[0] if isinstance(out, (tuple, list)) and len(out) > 0 else out


def run_case(fn, args: tuple, kwargs: dict, names: list[str], weight: Any = None) -> dict:
    """Call ``fn(*args, **kwargs)`` and record what a check compares.

    Returns {"out": the returned value, "grads": {name: gradient} or None, "mutated": [names of
    arguments changed in place]}. The gradients are those of sum(y · weight) with respect to
    every argument that requires grad (zeros where the output does not depend on it), where y is
    the output, or its first item when it returns a tuple such as (loss, stats); they are
    recorded only when y is a tensor with a graph and ``weight`` has its shape.
    """
    pristine = copy.deepcopy((args, kwargs))
    out = fn(*args, **kwargs)
    mutated = [name for (name, after), (_, before) in
               zip(named_args(names, args, kwargs), named_args(names, *pristine)) if not _same(before, after)]
    grads = None
    torch = _torch()
    y = differentiable_part(out)
    if (torch is not None and weight is not None and isinstance(y, torch.Tensor) and y.grad_fn is not None
            and tuple(y.shape) == tuple(weight.shape) and not mutated):  # a changed input breaks autograd
        inputs = [(n, a) for n, a in named_args(names, args, kwargs)
                  if isinstance(a, torch.Tensor) and a.requires_grad]
        if inputs:
            total = (y * weight.to(y.dtype)).sum()
            gs = torch.autograd.grad(total, [a for _, a in inputs], allow_unused=True)
            grads = {n: (g if g is not None else torch.zeros_like(a)).detach() for (n, a), g in zip(inputs, gs)}
    return {"out": out, "grads": grads, "mutated": mutated}


# --- the expectations, computed before the learner runs --------------------------------------


@dataclass
class Prepared:
    """An exercise's cases as sent to the learner, and the decoded records to compare with."""

    exercise: Exercise
    names: list[str]  # the reference's parameter names
    cases: list[Case]
    calls: list[tuple[tuple, dict, Any]]  # (args, kwargs, weight) per case, ready to send
    expected: list[dict]  # decoded record of the reference per case
    mistakes: list[tuple[Any, list[dict | None]]]  # (Mistake, decoded records; None where it raised)


def parameter_names(fn) -> list[str]:
    try:
        return [p.name for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _with_grad(ex: Exercise, names: list[str], case: Case) -> tuple[tuple, dict]:
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
    torch = _torch()
    if not ex.grad_args or torch is None:
        return args, kwargs
    args = list(args)
    for i, a in enumerate(args):
        if i < len(names) and names[i] in ex.grad_args and isinstance(a, torch.Tensor) and a.is_floating_point():
            args[i] = a.detach().clone().requires_grad_(True)
    for k, a in list(kwargs.items()):
        if k in ex.grad_args and isinstance(a, torch.Tensor) and a.is_floating_point():
            kwargs[k] = a.detach().clone().requires_grad_(True)
    return tuple(args), kwargs


def _weight_for(ex: Exercise, out: Any, index: int) -> Any:
    torch = _torch()
    out = differentiable_part(out)
    if not ex.grad_args or torch is None or not isinstance(out, torch.Tensor):
        return None
    if out.dim() == 0:
        return torch.ones((), dtype=torch.float64)
    gen = torch.Generator().manual_seed(7919 + index)
    return torch.randn(tuple(out.shape), generator=gen, dtype=torch.float64)


def _record(fn, call: tuple[tuple, dict, Any], names: list[str]) -> dict:
    args, kwargs, weight = copy.deepcopy(call)
    return wire.decode(wire.encode(run_case(fn, args, kwargs, names, weight)))


def prepare(ex: Exercise) -> Prepared:
    """Build the cases and compute the reference's and the mistakes' records on them."""
    names = parameter_names(ex.reference)
    cases = ex.cases()
    if not cases:
        raise ValueError(f"exercise {ex.name!r} has no cases")
    calls, expected = [], []
    for i, case in enumerate(cases):
        args, kwargs = _with_grad(ex, names, case)
        probe = run_case(ex.reference, *copy.deepcopy((args, kwargs)), names)
        weight = _weight_for(ex, probe["out"], i)
        call = (args, kwargs, weight)
        calls.append(call)
        expected.append(_record(ex.reference, call, names))
    mistakes = []
    for m in ex.mistakes:
        recs: list[dict | None] = []
        for call in calls:
            try:
                recs.append(_record(m.fn, call, names))
            except Exception:  # a mistake that fails on a case matches nothing there
                recs.append(None)
        mistakes.append((m, recs))
    return Prepared(ex, names, cases, calls, expected, mistakes)


# --- comparing -----------------------------------------------------------------------------------


def short_repr(x: Any, limit: int = 80) -> str:
    from .registry import short_repr as _short

    if isinstance(x, wire.Opaque):
        return repr(x)
    try:
        return _short(x, limit)
    except Exception:
        return wire.safe_repr(x, limit)


def _to_array(x: Any) -> Any:
    torch = _torch()
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return x


def compare_outputs(got: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-6, *,
                    lang: str | None = None) -> str | None:
    """None if ``got`` equals ``expected`` (numerically, within tolerance), else what differs (in ``lang``)."""
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return say("diff.tuple", lang, n=len(expected), got=short_repr(got))
        for i, (g, e) in enumerate(zip(got, expected)):
            diff = compare_outputs(g, e, rtol, atol, lang=lang)
            if diff:
                return say("diff.tuple_item", lang, i=i, diff=diff)
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return say("diff.dict", lang, keys=sorted(expected), got=short_repr(got))
        for key in sorted(expected):
            diff = compare_outputs(got[key], expected[key], rtol, atol, lang=lang)
            if diff:
                return say("diff.dict_item", lang, key=repr(key), diff=diff)
        return None
    if got is None:
        return say("diff.none", lang)
    if isinstance(got, wire.Opaque):
        return say("diff.numbers", lang, got=repr(got))
    g, e = _to_array(got), _to_array(expected)
    try:
        g_arr = np.asarray(g, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return say("diff.numbers", lang, got=short_repr(got))
    e_arr = np.asarray(e, dtype=float)
    if g_arr.shape != e_arr.shape:
        return say("diff.shape", lang, expected=e_arr.shape, got=g_arr.shape)
    if not np.allclose(g_arr, e_arr, rtol=rtol, atol=atol, equal_nan=True):
        return say("diff.values", lang, expected=short_repr(e_arr), got=short_repr(g_arr))
    return None


def _value_diff(ex: Exercise, got: Any, expected: Any, lang: str | None = None) -> str | None:
    try:
        if ex.compare is not None:
            return ex.compare(got, expected)
        return compare_outputs(got, expected, ex.rtol, ex.atol, lang=lang)
    except Exception as exc:  # noqa: BLE001 - a comparison never escapes the judge
        return say("diff.uncomparable", lang, error=type(exc).__name__)


def _grads_close(got: dict | None, expected: dict | None, equal_nan: bool) -> bool:
    if expected is None:
        return True
    if got is None or set(got) != set(expected):
        return False
    for k in expected:
        g, e = np.asarray(_to_array(got[k]), float), np.asarray(_to_array(expected[k]), float)
        if g.shape != e.shape:
            return False
        scale = float(np.max(np.abs(np.nan_to_num(e, nan=0.0, posinf=0.0, neginf=0.0)), initial=0.0))
        if not np.allclose(g, e, rtol=GRAD_RTOL, atol=GRAD_ATOL * max(1.0, scale), equal_nan=equal_nan):
            return False
    return True


def _grad_diff(got: dict | None, expected: dict | None, lang: str | None = None) -> str | None:
    if expected is None or _grads_close(got, expected, equal_nan=False):
        return None
    if got is None:
        return say("grad.none", lang)
    for k in expected:
        g, e = np.asarray(_to_array(got.get(k)), float), np.asarray(_to_array(expected[k]), float)
        if g.shape != e.shape or np.allclose(g, e, rtol=GRAD_RTOL, atol=GRAD_ATOL, equal_nan=False):
            continue
        if e.size <= 12:
            return say("grad.small", lang, name=k, expected=short_repr(e), got=short_repr(g))
        bad = ~np.isclose(g, e, rtol=GRAD_RTOL, atol=GRAD_ATOL, equal_nan=False)
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        nan = int(np.isnan(g[bad]).sum())
        return (say("grad.large", lang, name=k, bad=int(bad.sum()), total=e.size)
                + (say("grad.nan", lang, nan=nan) if nan else "")
                + say("grad.example", lang, where=list(where), expected=e[where], got=g[where]))
    return say("grad.generic", lang)


def _matches(ex: Exercise, got: dict, other: dict | None) -> bool:
    if other is None:
        return False
    if _value_diff(ex, got["out"], other["out"]) is not None:
        return False
    return _grads_close(got.get("grads"), other.get("grads"), equal_nan=True)


def _is_tensor(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def _type_problem(ex: Exercise, out: Any, expected: dict, lang: str | None = None) -> str | None:
    if isinstance(expected["out"], (tuple, list)) and isinstance(out, (tuple, list)):
        out = differentiable_part(out)  # e.g. (loss, stats): the loss is what must be a tensor
    if not (ex.tensor_out or ex.grad_args) or _is_tensor(out):
        return None
    what = "None" if out is None else f"a {type(out).__name__}" if not isinstance(out, wire.Opaque) else out.type_name
    return say("wrong_type.loss" if ex.grad_args else "wrong_type.tensor", lang, what=what)


def judge(prep: Prepared, records: list[dict], seconds: float = 0.0, lang: str | None = None) -> dict:
    """The verdict on the learner's records (one per case, decoded): a CheckResult's fields, its sentences
    in ``lang`` (default: the judge's ``COURSE_LANG``; see ``texts``)."""
    ex = prep.exercise
    total = len(prep.cases)
    base = {"exercise": ex.name, "cases_total": total, "seconds": float(seconds)}
    if not isinstance(records, list) or len(records) != total or not all(
            isinstance(r, dict) and {"out", "grads", "mutated"} <= set(r) for r in records):
        return {**base, "status": ERROR, "message": say("incomplete.message", lang),
                "hint": say("incomplete.hint", lang)}

    labels = [case_label(ex.name, i, case.describe(), lang) for i, case in enumerate(prep.cases)]
    for label, rec in zip(labels, records):  # changed inputs come first: the fix is clear
        mutated = rec["mutated"]
        if mutated:
            arg = str(mutated[0])
            return {**base, "status": FAILED, "mistake": "modifies_input",
                    "message": say("modifies_input.message", lang, arg=arg),
                    "details": say("case", lang, case=label),
                    "hint": say("modifies_input.hint", lang, arg=arg)}
    for label, rec, exp in zip(labels, records, prep.expected):
        out = rec["out"]
        if isinstance(out, wire.Opaque) and not (ex.tensor_out or ex.grad_args):
            return {**base, "status": INVALID, "message": say("opaque.message", lang),
                    "details": say("opaque.details", lang, case=label, value=repr(out)),
                    "hint": say("opaque.hint", lang)}
        problem = _type_problem(ex, out, exp, lang)
        if problem:
            return {**base, "status": FAILED, "mistake": "wrong_type", "message": say("wrong_type.message", lang),
                    "details": say("case", lang, case=label), "hint": problem}

    failing: list[int] = []
    first = ""
    no_graph = False
    for i, (label, rec, exp) in enumerate(zip(labels, records, prep.expected)):
        diff = _value_diff(ex, rec["out"], exp["out"], lang)
        if diff is None:
            diff = _grad_diff(rec["grads"], exp["grads"], lang)
            if diff is not None and rec["grads"] is None:
                no_graph = True
        if diff:
            if not failing:
                first = say("case", lang, case=label) + f"\n{diff}"
            failing.append(i)
    passed = total - len(failing)
    if not failing:
        return {**base, "status": PASSED, "passed": True, "cases_passed": passed,
                "message": say("passed.message", lang, total=total)}
    mistake, hint = None, ""
    for m, recs in prep.mistakes:
        if all(_matches(ex, records[i], recs[i]) for i in failing):
            mistake, hint = m.name, mistake_hint(ex, m, lang)
            break
    if mistake is None:
        if all(records[i]["out"] is None for i in failing):
            hint = say("returns_none.hint", lang)
        elif no_graph:
            hint = say("no_graph.hint", lang)
        else:
            hint = exercise_text(ex, "hint", lang) or say("by_hand.hint", lang)
    return {**base, "status": FAILED, "hint": hint, "mistake": mistake, "cases_passed": passed,
            "details": first, "message": say("failed.message", lang, failing=len(failing), total=total)}


# --- the judge process ----------------------------------------------------------------------------


class Judge:
    """Answers ``prepare`` and ``judge`` requests from the registry it was forked with."""

    def __init__(self, lookup):
        self.lookup = lookup  # name -> Exercise (raises KeyError with a message)
        self.prepared: dict[str, Prepared] = {}
        self.payloads: dict[str, bytes] = {}

    def _prep(self, name: str) -> Prepared:
        if name not in self.prepared:
            self.prepared[name] = prepare(self.lookup(name))
        return self.prepared[name]

    def handle(self, head: dict, blob: bytes) -> dict:
        import pickle

        kind, name = head.get("kind"), head.get("name")
        if not isinstance(name, str):
            return {"ok": False, "error": f"the exercise name must be a string, got {head.get('name_type', 'something else')}"}
        try:
            ex = self.lookup(name)
        except KeyError as exc:
            return {"ok": False, "error": exc.args[0] if exc.args else str(exc)}
        if kind == "prepare":
            prep = self._prep(ex.name)
            if ex.name not in self.payloads:
                self.payloads[ex.name] = pickle.dumps(prep.calls)
            return {"ok": True, "name": ex.name, "calls": self.payloads[ex.name], "names": prep.names,
                    "labels": [c.describe() for c in prep.cases], "signature": ex.signature,
                    "time_limit": float(ex.time_limit), "library": list(ex.library)}
        if kind == "judge":
            prep = self._prep(ex.name)
            lang = head.get("lang") if head.get("lang") in ("en", *LANGS) else None  # the kernel's language now
            try:
                frames = wire.unpack_frames(bytearray(blob))
                records = [wire.decode(b) for _, b in frames]
            except (wire.WireError, ValueError) as exc:
                return {"ok": True, "verdict": {"exercise": ex.name, "status": INVALID, "cases_total": len(prep.cases),
                                                "message": say("unreadable.message", lang, error=exc)}}
            seconds = head.get("seconds", 0.0)
            seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
            return {"ok": True, "verdict": judge(prep, records, seconds, lang)}
        return {"ok": False, "error": f"unknown request {kind!r}"}
