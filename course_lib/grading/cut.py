"""The grading budget: which statements of a submission the grader runs in fast mode.

A grade depends only on the functions a submission hands to ``check`` (captured where the check
runs, then graded from their source in a fresh process) and on the check records re-execution
reproduces. Training a model or drawing a figure changes neither, yet it is most of a notebook's run
time. So in fast mode the grader runs:

* **every cell the learner wrote or changed, whole** (a cell whose source is not, character for
  character, a code cell of the course's own copy of the notebook),
* **every cell whose stored outputs claim a check record, whole** (so the records are compared with
  a real re-execution),
* of the course's own, unchanged cells, each top-level statement that imports, mentions ``check``,
  or binds or changes a name that a statement run later reads (found backwards through the notebook,
  the learner's cells included; a function's free names count as read where it is defined; a method
  call ``x.f()`` counts as changing ``x`` unless ``x`` only ever names an imported module).

Everything else, the course's own statements that only train, evaluate or draw, is not run: its
budget when grading is zero. Learner code is never skipped, and whatever the learner changed is
judged by the same rules as before. ``--full`` runs every cell.

What this can miss is an effect the course's own skipped code has without a name (a file written
and read back, the state of a global random generator); ``tests/test_grading_cut.py`` and
``python -m course_lib bench grading`` check on every graded notebook that the marks are those a full
re-execution gives.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path

ALWAYS = (ast.Import, ast.ImportFrom)  # cheap (the warm worker has imported the course) and binds modules
CHECK_NAMES = frozenset({"check"})
RECORD_MARK = "application/vnd.course-lib.check"  # the MIME type of every check record (``checker.RESULT_MIME``)


@dataclass
class Plan:
    """The cells to run, as (index in the notebook, source) in order, and the indices not run at all."""

    cells: list[tuple[int, str]]
    skipped: list[int] = field(default_factory=list)
    shortened: list[int] = field(default_factory=list)  # course cells of which only some statements run


def _text(source) -> str:
    return source if isinstance(source, str) else "".join(source)


def course_sources(notebook: str, root: str) -> set[str]:
    """The sources of the code cells of the course's own copy of ``notebook`` in the course at ``root``
    (empty if unknown)."""
    path = Path(root) / "notebooks" / f"{notebook}.ipynb"
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {_text(c.get("source", "")).rstrip() for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"}


def _claims_a_record(cell) -> bool:
    """Whether a cell's stored outputs hold anything that looks like a check record (read as text: the
    grading process must not import the checker before the executor is forked)."""
    try:
        text = json.dumps(cell.get("outputs", []), default=str)
    except (TypeError, ValueError, RecursionError):
        return True
    return RECORD_MARK in text


def _names(node: ast.AST, modules: frozenset = frozenset()) -> tuple[set[str], set[str]]:
    """(names ``node`` reads, names it binds or changes), at the top level of a cell. A function's or
    lambda's body counts only for the names it reads that are not its own (its free names). A method
    call ``x.f(...)`` may change ``x``, unless ``x`` is in ``modules`` (a name only ever bound by an
    import: ``np.zeros(3)`` does not change numpy)."""
    from .regrade import local_names

    reads, binds = set(), set()

    def visit(n: ast.AST, own: frozenset) -> None:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if not isinstance(n, ast.Lambda):
                if not own:
                    binds.add(n.name)
                for d in n.decorator_list:
                    visit(d, own)
            args = n.args
            for d in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
                visit(d, own)
            inner = own | frozenset(local_names(n))
            for child in (n.body if isinstance(n.body, list) else [n.body]):
                visit(child, inner)
            return
        if isinstance(n, ast.ClassDef):
            if not own:
                binds.add(n.name)
        if isinstance(n, ast.Name):
            if n.id in own:
                return
            (reads if isinstance(n.ctx, ast.Load) else binds).add(n.id)
        elif isinstance(n, (ast.Attribute, ast.Subscript)) and isinstance(n.ctx, (ast.Store, ast.Del)):
            root = n
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name) and root.id not in own:
                binds.add(root.id)  # x.a = ..., x[i] = ...: changes what x names
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            root = n.func.value
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name) and root.id not in own and root.id not in modules:
                binds.add(root.id)  # x.append(...), x.fit(...): may change what x names
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                binds.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            binds.update(n.names)
        for child in ast.iter_child_nodes(n):
            visit(child, own)

    visit(node, frozenset())
    return reads, binds


def _mentions_check(node: ast.AST) -> bool:
    return any((isinstance(n, ast.Name) and n.id in CHECK_NAMES)
               or (isinstance(n, ast.Attribute) and n.attr in CHECK_NAMES) for n in ast.walk(node))


def plan(nb, course: set[str]) -> Plan:
    """The grading budget's cells of ``nb`` (before its outputs are cleared), given the sources of the
    course's own code cells of that notebook (``course_sources``); see the module's docstring."""
    units = []  # (cell index, statement or None for a whole cell, whole-cell source)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = _text(cell.source)
        whole = source.rstrip() not in course or _claims_a_record(cell)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree, whole = None, True
        if tree is not None and len({s.lineno for s in tree.body}) < len(tree.body):
            whole = True  # statements sharing a line (a; b): the cell is run whole
        if whole or tree is None:
            units.append((i, None, source, tree))
        else:
            units.extend((i, stmt, source, None) for stmt in tree.body)
    imported, other = set(), set()
    for _, stmt, _, tree in units:
        for node in ast.walk(stmt if stmt is not None else tree if tree is not None else ast.Module([], [])):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                other.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                other.add(node.name)
    modules = frozenset(imported - other)
    needed: set[str] = set()
    keep: list[bool] = [False] * len(units)
    for k in range(len(units) - 1, -1, -1):
        i, stmt, source, tree = units[k]
        if stmt is None:  # the learner's cell: always run; everything it reads is needed
            keep[k] = True
            if tree is not None:
                needed |= _names(tree, modules)[0]
            else:
                needed.add("*")  # it does not parse: assume it needs everything before it
            continue
        reads, binds = _names(stmt, modules)
        if isinstance(stmt, ALWAYS) or _mentions_check(stmt) or "*" in needed or binds & needed:
            keep[k] = True
            targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else []
            if targets and all(isinstance(t, ast.Name) for t in targets):  # bound here for sure: not needed before
                needed -= {t.id for t in targets} - reads
            needed |= reads
    cells, skipped, shortened, by_cell = [], [], [], {}
    for k, (i, stmt, source, _) in enumerate(units):
        by_cell.setdefault(i, []).append((k, stmt, source))
    for i, parts in by_cell.items():
        if parts[0][1] is None:
            cells.append((i, parts[0][2]))
            continue
        kept = [(stmt, source) for k, stmt, source in parts if keep[k]]
        if not kept:
            skipped.append(i)
        elif len(kept) == len(parts):
            cells.append((i, parts[0][2]))
        else:
            lines = parts[0][2].splitlines()
            chunks = []
            for stmt, _ in kept:
                first = min([stmt.lineno, *[d.lineno for d in getattr(stmt, "decorator_list", [])]])
                chunks.append("\n".join(lines[first - 1:stmt.end_lineno]))
            cells.append((i, "\n".join(chunks)))
            shortened.append(i)
    return Plan(cells, skipped, shortened)
