"""Grade a captured learner function in a pristine process: rebuild it from source, then ``check`` it.

The grader's worker process imports ``course_lib.exercises`` before it ever looks at learner code,
so its checker (and the judge process the checker forks at import) is the library as shipped. For
each captured function the worker forks a *sub-grader* that

1. becomes pid 1 of its own pid, mount and network namespaces (``confine``): it sees only
   ``grader_view``, read-only, and an empty temporary directory; it runs as an unprivileged user with
   no capability and ``no_new_privs``, so it cannot remount anything; when it exits the kernel kills
   every process it left. Without these kernel layers it refuses to run the function (``unprotected``),
2. rebuilds the function from its source with nothing executed at definition time: the source
   must be one plain ``def`` (no decorators, literal default values, annotations left unevaluated),
   its globals are modules and functions from an allow-list of packages, helper functions from the
   notebook (the same rules) and literal constants,
3. calls the library's ``check(name, fn)``: the learner's code runs only in the checker's own
   forked child, with its time limit, memory limit and output cap,
4. exits with a code that encodes the verdict (``EXIT_CODES``). The exit code, not anything the
   sub-grader prints, is what the grader believes; the printed record only adds the hint.

``copied_from`` compares a function's syntax tree with the library's implementations and the
teaching solution, so a verbatim copy is reported even when its bytecode differs.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import os
import select
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

ALLOWED_PACKAGES = frozenset({
    "numpy", "torch", "math", "cmath", "random", "itertools", "functools", "collections", "operator",
    "statistics", "typing", "dataclasses", "course_lib", "gymnasium", "copy", "heapq", "bisect",
    "fractions", "decimal", "numbers", "string", "re", "scipy", "enum",
})
# The sub-grader's exit code for each check status (anything else: the sub-grader itself failed).
EXIT_CODES = {"passed": 0, "failed": 10, "not attempted": 11, "error": 12, "timeout": 13, "invalid": 14,
              "library": 15}
STATUS_OF_EXIT = {code: status for status, code in EXIT_CODES.items()}
BUILD_FAILED = 20  # the function could not be rebuilt (the reason is on the pipe)


class BuildError(ValueError):
    """The captured function cannot be rebuilt safely; the message says why, for the learner."""


def die_with_parent() -> None:
    from course_lib.isolation import die_with_parent as die

    die()


def grader_view() -> list[str]:
    """What learner code sees of the filesystem, read-only: the interpreter and its packages, the
    system's libraries and settings, and the course (its code and ``data/``). Not the submissions
    folder, the gradebook, home folders or other temporary files."""
    from course_lib import isolation

    root = str(Path(__file__).resolve().parents[2])
    paths = [*isolation.python_view(), sys.prefix, sys.base_prefix, os.path.dirname(os.path.abspath(sys.executable)),
             "/usr", "/bin", "/sbin", "/etc", "/sys", root]
    paths += [p for p in sys.path if p and os.path.isdir(p)]
    return list(dict.fromkeys(paths))


def confine(workdir: str) -> tuple[list[str], list[str]]:
    """Run the rest of this process as pid 1 of its own namespaces (``course_lib.isolation.confine``):
    only ``grader_view`` visible and read-only but ``workdir``, its own loopback network, no
    capabilities, an unprivileged user id. (protections in force, protections missing with the reason)."""
    from course_lib import isolation

    return isolation.confine(workdir, view=grader_view(), scratch=("/dev/shm",), network=True)


def unprotected(done: list[str], missing: list[str]) -> str | None:
    """Why learner code must not run with these protections, or None when the boundary is complete."""
    from course_lib import isolation

    why = isolation.lacking(done, missing)
    if why is None:
        return None
    return (f"{why}: learner code was not run (grade on Linux with user namespaces, or pass --unisolated "
            f"for a class whose code you trust)")


def learners_child_rules() -> None:
    """Run in the check's child of a sub-grader, before the learner's function: it can start no
    process (``RLIMIT_NPROC`` = 0, which the kernel enforces for a process without capabilities);
    calling an exercise's teaching reference (fetched through the registry) counts as using the
    library, and so does loading a second copy of a library module (compiling or executing code
    from a ``course_lib`` file that is already loaded). The last rule is an audit hook: it catches
    the route, not a learner who first disarms the hook (see docs/instructors.md)."""
    import resource

    from course_lib.exercises import get_exercise, list_exercises, runner

    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    runner.trap([t for t in (get_exercise(n).teaching for n in list_exercises()) if t is not None])
    files = set()
    for module in list(sys.modules.values()):
        name, path = getattr(module, "__name__", ""), getattr(module, "__file__", None)
        if isinstance(name, str) and name.split(".")[0] == "course_lib" and isinstance(path, str):
            files.add(os.path.realpath(path))
    realpath, fsdecode, used = os.path.realpath, os.fsdecode, runner.library_used

    def hook(event: str, args: tuple) -> None:
        if event == "exec" and args:
            filename = getattr(args[0], "co_filename", None)
        elif event == "compile" and len(args) > 1:
            filename = args[1]
        else:
            return
        try:
            filename = realpath(fsdecode(filename)) if filename is not None else None
        except (TypeError, ValueError):
            return
        if filename in files:
            used()

    sys.addaudithook(hook)


# --- rebuilding a function from its source -----------------------------------------------------------


def _literal(node: ast.AST, what: str) -> None:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise BuildError(f"{what} must be a literal value (a number, string, None, tuple ...), "
                         f"so that nothing runs when the function is defined") from None


def parse_function(source: str) -> ast.FunctionDef | ast.Lambda:
    """The one function (a ``def`` or a ``lambda``) in ``source``, checked to run nothing at definition."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise BuildError(f"its source does not parse ({type(exc).__name__}: {exc})") from None
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef):
        fn = tree.body[0]
    else:
        lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
        if len(lambdas) != 1:
            raise BuildError("the check can be graded only for a function defined with one plain `def` "
                             "(or one lambda) in a cell")
        fn = lambdas[0]
    if isinstance(fn, ast.FunctionDef) and fn.decorator_list:
        raise BuildError("decorated functions are not graded (a decorator runs code when the function is "
                         "defined); remove the decorator")
    for default in [*fn.args.defaults, *[d for d in fn.args.kw_defaults if d is not None]]:
        _literal(default, "a default argument")
    return fn


def _compile_function(node: ast.FunctionDef | ast.Lambda, filename: str):
    import __future__

    if isinstance(node, ast.Lambda):
        module = ast.Module(body=[ast.Assign(targets=[ast.Name("__answer__", ast.Store())], value=node)],
                            type_ignores=[])
    else:
        module = ast.Module(body=[node], type_ignores=[])
    ast.fix_missing_locations(module)
    # Annotations stay strings (PEP 563): nothing is evaluated when the def runs.
    return compile(module, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)


def _import_global(dep: dict) -> Any:
    module = dep.get("module", "")
    if module.split(".")[0] not in ALLOWED_PACKAGES and module not in sys.modules:
        raise BuildError(f"it uses {module!r}, which the grader does not import (allowed: modules already "
                         f"loaded and {', '.join(sorted(ALLOWED_PACKAGES))})")
    try:
        obj = importlib.import_module(module)
        if dep["kind"] == "import":
            for part in dep["qualname"].split("."):
                obj = getattr(obj, part)
    except (ImportError, AttributeError, KeyError) as exc:
        raise BuildError(f"it uses {module}.{dep.get('qualname', '')}, which cannot be imported ({exc})") from None
    return obj


def build_function(capture: dict):
    """The learner's function rebuilt from a capture (see ``capture.describe``), in a fresh namespace."""
    if capture.get("freevars"):
        raise BuildError(f"it uses variables of an enclosing function ({', '.join(capture['freevars'])}); "
                         f"define it at the top level of a cell")
    namespace: dict[str, Any] = {"__name__": "__learner__", "__builtins__": builtins}
    helpers = []
    for name, dep in capture["globals"].items():
        kind = dep["kind"]
        if kind in ("module", "import"):
            namespace[name] = _import_global(dep)
        elif kind == "value":
            try:
                namespace[name] = ast.literal_eval(dep.get("repr", ""))
            except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
                raise BuildError(f"the value of {name!r} is not a literal") from None
        elif kind == "function":
            helpers.append((name, dep))
        # "unavailable": left undefined; using it raises NameError inside the check, shown to the learner
    for name, dep in helpers:
        node = parse_function(dep.get("source", ""))
        if isinstance(node, ast.Lambda):
            raise BuildError(f"helper {name!r} must be a plain def")
        exec(_compile_function(node, f"<helper {name}>"), namespace)  # noqa: S102 - only defines a function
        if node.name != name:
            namespace[name] = namespace[node.name]
    node = parse_function(capture["source"])
    exec(_compile_function(node, "<your function>"), namespace)  # noqa: S102 - only defines a function
    return namespace["__answer__" if isinstance(node, ast.Lambda) else node.name]


# --- library copies -----------------------------------------------------------------------------------


class _Canonical(ast.NodeTransformer):
    """Rename every argument and local variable of a function (nested ones included) to ``v0``,
    ``v1``, ... in order of first appearance; global names, attributes and keywords stay."""

    def __init__(self, local: set[str]):
        self.local, self.names = local, {}

    def _name(self, name: str) -> str:
        if name not in self.local:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._name(node.arg)
        return node

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._name(node.id)
        return node


def local_names(node: ast.AST) -> set[str]:
    """Names a function binds: its arguments and every name it assigns (minus ``global`` ones)."""
    names, declared = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, (ast.Global, ast.Nonlocal)):
            declared.update(sub.names)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            names.add(sub.name)
    return names - declared


def _shape(node: ast.AST) -> str:
    """A function's syntax tree without its name, docstring, comments, annotations, layout, or the
    names of its arguments and local variables."""
    node = ast.parse(ast.unparse(node)).body[0]  # a fresh copy
    if isinstance(node, ast.Expr):
        node = node.value
    if isinstance(node, ast.FunctionDef):
        node.name = "_"
        node.returns = None
        for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
            arg.annotation = None
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    node = _Canonical(local_names(node)).visit(node)
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def copied_from(source: str, exercise) -> str | None:
    """"the library's <name>" or "the teaching solution" when ``source`` is a copy of one, else None."""
    from course_lib.exercises.checker import teaching_source

    try:
        mine = _shape(parse_function(source))
    except (BuildError, SyntaxError, RecursionError, MemoryError, IndexError):
        return None
    for qualified in exercise.library:
        module, _, attr = qualified.partition(":")
        try:
            obj = importlib.import_module(module)
            for part in attr.split("."):
                obj = getattr(obj, part)
            theirs = _shape(ast.parse(textwrap.dedent(inspect.getsource(obj))).body[0])
        except Exception:  # noqa: BLE001 - a library function without source cannot be copied from a file
            continue
        if theirs == mine:
            return f"the library's {qualified.replace(':', '.')}"
    try:
        if _shape(ast.parse(teaching_source(exercise)).body[0]) == mine:
            return "the teaching solution that solution() shows"
    except (SyntaxError, IndexError):
        pass
    return None


# --- the sub-grader -----------------------------------------------------------------------------------


def grade_capture(name: str, capture: dict, check, *, time_limit: float = 120.0, isolated: bool = True) -> dict:
    """Rebuild and check one captured function in a forked, isolated sub-grader.

    Returns ``{"status", "passed", "hint", "message", "mistake", "details", "trusted"}``; ``status``
    comes from the sub-grader's exit code. ``check`` is the worker's pristine ``check``.
    """
    import tempfile

    scratch = tempfile.mkdtemp(prefix="course-grade-sub-")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the sub-grader
        code = BUILD_FAILED
        try:
            os.close(r)
            os.setsid()
            die_with_parent()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            sys.stdout = sys.stderr = open(os.devnull, "w")
            if isolated:  # from here on: pid 1 of its own namespaces, confined to scratch, nobody
                why = unprotected(*confine(scratch))
                if why is not None:
                    os.write(w, json.dumps({"status": "invalid", "message": why}).encode())
                    os._exit(BUILD_FAILED)
            os.chdir(scratch)
            tempfile.tempdir = scratch
            try:
                fn = build_function(capture)
            except BuildError as exc:
                os.write(w, json.dumps({"status": "invalid", "message": f"cannot be graded: {exc}"}).encode())
                os._exit(BUILD_FAILED)
            from course_lib.exercises import runner

            runner.CHILD_SETUP.append(learners_child_rules)
            result = check(name, fn)
            record = result.record()
            os.write(w, json.dumps({k: record.get(k) for k in
                                    ("status", "hint", "message", "mistake", "details")}).encode()[:200_000])
            code = EXIT_CODES.get(result.status, BUILD_FAILED + 1)
        except BaseException:  # noqa: BLE001
            code = BUILD_FAILED + 1
        finally:
            os._exit(code)
    os.close(w)
    chunks, deadline = [], time.monotonic() + time_limit
    status = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            _kill_group(pid)
            break
        ready, _, _ = select.select([r], [], [], min(left, 1.0))
        if ready:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            if sum(map(len, chunks)) < 400_000:
                chunks.append(chunk)
    os.close(r)
    _, wait_status = os.waitpid(pid, 0)
    _kill_group(pid)
    _remove(scratch)
    try:
        said = json.loads(b"".join(chunks).decode("utf-8", "replace"))
        said = said if isinstance(said, dict) else {}
    except ValueError:
        said = {}
    said = {k: v for k, v in said.items() if isinstance(v, str)}
    if os.WIFEXITED(wait_status):
        code = os.WEXITSTATUS(wait_status)
        status = STATUS_OF_EXIT.get(code)
        if code == BUILD_FAILED:
            return {"status": "invalid", "passed": False, "hint": "",
                    "message": said.get("message", "the function could not be rebuilt") if said.get("status") == "invalid"
                    else "the function could not be rebuilt", "mistake": None, "details": ""}
    if status is None:
        how = (f"signal {os.WTERMSIG(wait_status)}" if os.WIFSIGNALED(wait_status)
               else f"exit code {os.WEXITSTATUS(wait_status)}")
        return {"status": "error", "passed": False, "hint": "", "mistake": None, "details": "",
                "message": f"grading this function did not finish normally ({how})"}
    trusted = said.get("status") == status  # the pipe's text agrees with the exit code
    return {"status": status, "passed": status == "passed",
            "hint": said.get("hint", "") if trusted else "",
            "message": said.get("message", "") if trusted else status,
            "mistake": said.get("mistake") if trusted else None,
            "details": said.get("details", "") if trusted else ""}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _remove(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
