"""Record, inside the kernel that re-executes a submission, each function handed to ``check``.

The grader prepends one cell (``CAPTURE_CELL``) to its temporary copy of a submission. That cell
wraps ``course_lib.exercises.check`` so that every call first writes the learner's function as
*data*: its source (IPython keeps every cell's source in ``linecache``, so ``inspect.getsource``
works on functions defined in cells), its name, and the globals it uses (modules and functions it
imports, helper functions defined in other cells, literal constants). The capture happens where
the check runs, because notebooks rebind the exercise's name to the library's version right
after the check cell.

Nothing here is trusted by the grader: a notebook can forge or delete this file. The grader
therefore treats a capture as the learner's *answer* (a function it will grade from scratch, in a
fresh process, on its own cases) and never as a verdict. Forging a capture is the same as writing
that function in the stub.
"""
from __future__ import annotations

import ast
import inspect
import json
import os
import textwrap
import types
from typing import Any

ENV = "COURSE_GRADE_CAPTURE"  # path of the capture file (JSON lines), set by the grader
CAPTURE_CELL = (
    "# Added by course_lib's grader to its temporary copy (not part of the submission):\n"
    "# it records each function passed to check() so that it can be graded in a fresh process.\n"
    "import course_lib.grading.capture as _course_grading_capture\n"
    "_course_grading_capture.install()\n"
    "del _course_grading_capture"
)
MAX_SOURCE = 100_000  # characters of source per function
MAX_HELPERS = 20  # helper functions defined in the notebook that one answer may use
MAX_VALUE_REPR = 10_000  # characters of a literal constant's repr


def _global_names(code: types.CodeType) -> set[str]:
    """Every name a code object (and the code nested in it) may look up as a global."""
    out = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            out |= _global_names(const)
    return out


def _source(fn: Any) -> str:
    text = textwrap.dedent(inspect.getsource(fn))
    if len(text) > MAX_SOURCE:
        raise ValueError(f"the source is longer than {MAX_SOURCE} characters")
    return text


def _describe_global(value: Any) -> dict:
    if isinstance(value, types.ModuleType):
        return {"kind": "module", "module": value.__name__}
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if callable(value) and isinstance(module, str) and module != "__main__" and isinstance(qualname, str):
        return {"kind": "import", "module": module, "qualname": qualname}
    try:
        text = repr(value)
        if len(text) <= MAX_VALUE_REPR:
            ast.literal_eval(text)
            return {"kind": "value", "repr": text}
    except Exception:  # noqa: BLE001 - any value that is not a plain literal is simply not carried
        pass
    return {"kind": "unavailable", "type": type(value).__name__}


def describe(fn: Any) -> dict:
    """The learner's function as data: ``{"name", "source", "globals", "freevars"}``.

    ``globals`` maps each global name the function (or a helper it uses) looks up to one of:
    ``{"kind": "module", "module"}``, ``{"kind": "import", "module", "qualname"}``,
    ``{"kind": "function", "name", "source"}`` (a helper defined in the notebook),
    ``{"kind": "value", "repr"}`` (a literal) or ``{"kind": "unavailable", "type"}``.
    """
    out: dict[str, Any] = {"name": getattr(fn, "__name__", ""), "globals": {}, "freevars": []}
    code = getattr(fn, "__code__", None)
    if code is None:
        out["error"] = f"not a Python function ({type(fn).__name__})"
        return out
    try:
        out["source"] = _source(fn)
    except (OSError, TypeError, ValueError) as exc:
        out["error"] = f"its source is not available ({exc})"
        return out
    out["freevars"] = list(code.co_freevars)
    todo, helpers = [fn], 0
    while todo:
        f = todo.pop()
        g = getattr(f, "__globals__", {})
        for name in sorted(_global_names(f.__code__)):
            if name in out["globals"] or name not in g:
                continue  # a builtin, an attribute name, or already described
            value = g[name]
            if isinstance(value, types.FunctionType) and value.__module__ == "__main__":
                helpers += 1
                if helpers > MAX_HELPERS:
                    out["globals"][name] = {"kind": "unavailable", "type": "too many helper functions"}
                    continue
                try:
                    out["globals"][name] = {"kind": "function", "name": value.__name__, "source": _source(value)}
                    todo.append(value)
                except (OSError, TypeError, ValueError):
                    out["globals"][name] = {"kind": "unavailable", "type": "function without source"}
            else:
                out["globals"][name] = _describe_global(value)
    return out


def install() -> None:
    """Wrap ``course_lib.exercises.check`` (and the checker module's) to record each call."""
    import course_lib.exercises as exercises
    from course_lib.exercises import checker

    real = checker.check
    path = os.environ.get(ENV)

    def check(name, fn, *args, **kwargs):
        if path:
            try:
                entry = {"exercise": name if isinstance(name, str) else repr(name)}
                entry.update(describe(fn))
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
            except Exception as exc:  # noqa: BLE001 - recording must never change the lesson
                try:
                    with open(path, "a", encoding="utf-8") as f:
                        f.write(json.dumps({"exercise": str(name), "error": f"not recorded: {exc}"}) + "\n")
                except Exception:  # noqa: BLE001
                    pass
        return real(name, fn, *args, **kwargs)

    check.__doc__ = real.__doc__
    check.__wrapped__ = real
    exercises.check = check
    checker.check = check
    import course_lib

    if getattr(course_lib, "check", None) is real:
        course_lib.check = check


def read_captures(path: str, max_bytes: int = 20 * 2**20, max_entries: int = 200) -> tuple[list[dict], list[str]]:
    """The well-formed captures in ``path`` (untrusted data) and one line per entry left out."""
    entries, problems = [], []
    try:
        if os.path.getsize(path) > max_bytes:
            return [], [f"the capture file is larger than {max_bytes // 2**20} MB; ignored"]
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return [], []
    for i, line in enumerate(lines[:max_entries]):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            problems.append(f"capture {i + 1}: not JSON; ignored")
            continue
        why = _capture_problem(entry)
        if why:
            problems.append(f"capture {i + 1}: {why}; ignored")
        else:
            entries.append(entry)
    return entries, problems


def _capture_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("exercise"), str):
        return "not an object with an exercise name"
    if "error" in entry:
        return None if isinstance(entry["error"], str) else "malformed error"
    if not isinstance(entry.get("source"), str) or not isinstance(entry.get("name"), str):
        return "no source"
    if not isinstance(entry.get("globals"), dict) or not isinstance(entry.get("freevars"), list):
        return "malformed globals"
    for key, dep in entry["globals"].items():
        if not isinstance(key, str) or not isinstance(dep, dict) or not isinstance(dep.get("kind"), str):
            return "malformed globals"
        if not all(isinstance(v, str) for v in dep.values()):
            return "malformed globals"
    return None
