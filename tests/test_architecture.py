"""The layer rules of docs/architecture.md, read from course_lib's source (no import is executed).

Every ``import`` of course_lib, at module level or inside a function (a lazy import is still a
dependency), is an edge of the graph. The test fails on:

* an import cycle (two modules that reach each other, lazily or not);
* an import that climbs a layer (foundations → algorithms → the LM-RL layer → trainers →
  tools | views: a module imports only its own layer or a lower one; the two top layers are
  siblings, so the tools (exercises, grading, experiments) and the views (plotting, widgets)
  never import each other);
* a private name (``_x``) imported from, or read as an attribute of, another module.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "course_lib"

# The layers, lowest first: (name, module prefixes). A module belongs to its longest matching prefix: a package
# names its layer, and a sub-module is named only where its package spans layers (grpo.config below grpo.train).
LAYERS = [
    ("foundations", ["course_lib", "course_lib.core", "course_lib.stats", "course_lib.data", "course_lib.runs",
                     "course_lib.runs_cache", "course_lib.timing", "course_lib.hyperparameters", "course_lib.flat", "course_lib.sandbox",
                     "course_lib.isolation", "course_lib.i18n"]),
    ("algorithms", ["course_lib.mdp", "course_lib.tabular", "course_lib.ppo", "course_lib.lm", "course_lib.tasks",
                    "course_lib.rewards", "course_lib.grpo.config", "course_lib.rlhf.config"]),
    ("LM-RL", ["course_lib.lmrl", "course_lib.grpo", "course_lib.grpo.losses", "course_lib.rlhf",
               "course_lib.rlhf.losses", "course_lib.rlhf.preferences", "course_lib.pitfalls.verify"]),
    ("trainers", ["course_lib.policy_gradient", "course_lib.ppo.train", "course_lib.lm.train",
                  "course_lib.tasks.recipe", "course_lib.grpo.train", "course_lib.rlhf.train",
                  "course_lib.rlhf.dpo", "course_lib.rlhf.reward_model", "course_lib.rlhf.rlaif", "course_lib.pitfalls"]),
    # the run doctor reads any trainer's History (and a rollout batch): above the trainers, below the
    # tools and the views that both show its findings
    ("analysis", ["course_lib.diagnose"]),
    ("tools", ["course_lib.exercises", "course_lib.grading", "course_lib.experiments", "course_lib.hf",
               "course_lib.doctor", "course_lib.__main__"]),
    ("views", ["course_lib.plotting", "course_lib.widgets"]),
]
SIBLINGS = {"tools", "views"}  # the top: neither imports the other

# Imports between the two sibling tops, each with its reason. Nothing else may be added here.
ALLOWED_SIBLING = {
    # the benchmark of the run doctor's live panel measures the view itself (its redraw cost)
    ("course_lib.experiments.bench_diagnose", "course_lib.widgets.diagnose"),
}

# Private names that still cross modules, each with its reason. Nothing else may be added here.
ALLOWED_PRIVATE: dict[tuple[str, str], set[str]] = {}


def _allowed(module: str, target: str, name: str) -> bool:
    return name in ALLOWED_PRIVATE.get((module, target), set())


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _defining_module(package: str, name: str) -> str:
    """Where ``from package import name`` really comes from: a sub-module, or the face re-exporting it."""
    if f"{package}.{name}" in MODULES:
        return f"{package}.{name}"
    if package in MODULES and _is_package(package):
        for node in TREES[package].body:
            if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                src = _absolute(package, node)
                if src in MODULES:
                    return _defining_module(src, name) if _is_package(src) else src
    return package


def _imports(module: str):
    """(target module, imported name or None, line) for every course_lib import of ``module``."""
    out = []
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.ImportFrom):
            src = _absolute(module, node)
            if src.split(".")[0] != "course_lib":
                continue
            for a in node.names:
                out.append((_defining_module(src, a.name) if src in MODULES else src, a.name, node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "course_lib")
    return out


def _layer(module: str) -> int:
    best, layer = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, layer = len(p), i
    assert layer is not None, f"{module} is in no layer of LAYERS: add it (and to docs/architecture.md)"
    return layer


def _face_of(module: str, target: str) -> bool:
    """True when ``module`` is a package's face re-exporting its own sub-module ``target``."""
    return _is_package(module) and target.startswith(module + ".")


def test_every_module_has_a_layer():
    for m in MODULES:
        _layer(m)


def test_no_import_climbs_a_layer():
    climbs = []
    for m in MODULES:
        for target, name, line in _imports(m):
            if target not in MODULES or _face_of(m, target) or (m, target) in ALLOWED_SIBLING:
                continue
            mine, theirs = LAYERS[_layer(m)][0], LAYERS[_layer(target)][0]
            if _layer(target) > _layer(m) or (mine != theirs and {mine, theirs} <= SIBLINGS):
                climbs.append(f"{m}:{line} ({mine}) imports {target} ({theirs})")
    assert not climbs, "imports that climb a layer:\n" + "\n".join(climbs)


def _graph() -> dict[str, set[str]]:
    g = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _, _ in _imports(m):
            if target in MODULES and target != m:
                g[m].add(target)
    return g


def test_no_import_cycles():
    g = _graph()
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a face and its own sub-modules form no cycle: the sub-module imports a sibling, not the face's names
            real = [c for c in comp if not any(_face_of(c, d) for d in comp if d != c)]
            if len(real) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _private_crossings():
    found = []
    for m in MODULES:
        for target, name, line in _imports(m):
            if target == m:
                continue
            priv = (name or target.split(".")[-1]).startswith("_") and not (name or "").startswith("__")
            mod_priv = target.split(".")[-1].startswith("_") and not target.endswith("__main__")
            if (priv or mod_priv) and not _allowed(m, target, name or target.split(".")[-1]):
                found.append(f"{m}:{line} imports {name or target} from {target}")
        # module._name: attribute reads of a private name on an imported course_lib module
        aliases = {}
        for node in ast.walk(TREES[m]):
            if isinstance(node, ast.ImportFrom):
                src = _absolute(m, node)
                for a in node.names:
                    if f"{src}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{src}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("course_lib") and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(TREES[m]):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not _allowed(m, aliases[node.value.id], node.attr)):
                found.append(f"{m}:{node.lineno} reads {node.value.id}.{node.attr}")
    return found


def test_no_private_name_crosses_modules():
    found = _private_crossings()
    assert not found, "private names used across modules:\n" + "\n".join(found)


def test_the_rules_can_fail():
    """The checks see a climbing import, a cycle and a private name when there is one."""
    assert _layer("course_lib.plotting.ppo") > _layer("course_lib.experiments.ppo_sweep") > _layer("course_lib.ppo.math")
    assert _layer("course_lib.grpo.train") > _layer("course_lib.lmrl.rollout") > _layer("course_lib.lm.model")
    assert _defining_module("course_lib.lmrl", "sample_rollouts") == "course_lib.lmrl.rollout"
    tree = ast.parse("from course_lib.rewards import _x\nfrom course_lib import tasks\ntasks._y()\n")
    TREES["course_lib.core"], saved = tree, TREES["course_lib.core"]
    try:
        found = _private_crossings()
    finally:
        TREES["course_lib.core"] = saved
    assert any("_x" in f for f in found) and any("tasks._y" in f for f in found)


@pytest.mark.parametrize("doc", ["architecture.md"])
def test_the_layers_are_written_down(doc):
    text = (ROOT.parent / "docs" / doc).read_text()
    for name, _ in LAYERS:
        assert name in text, f"docs/{doc} does not describe the layer {name!r}"


def _tree() -> set[str]:
    """The top level of course_lib: ``name.py`` for each module, ``name/`` for each package."""
    return {p.name + ("/" if p.is_dir() else "") for p in ROOT.iterdir()
            if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.name != "__init__.py")}


def _listed(block: str, indent: int) -> set[str]:
    """The ``x.py`` and ``x/`` names that head the entries of an indented listing (continuations skipped)."""
    import re

    named = set()
    for line in block.splitlines():
        if line.startswith(" " * indent) and not line.startswith(" " * (indent + 1)):  # an entry, not a continuation
            head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
            named |= set(re.findall(r"[A-Za-z_][\w]*(?:\.py|/)", head))
    return named


def test_the_readme_layout_names_every_top_level_module_and_package():
    """README's "Inside `course_lib`" block lists each module and package of course_lib, and only those."""
    text = (ROOT.parent / "README.md").read_text(encoding="utf-8")
    named = _listed(text.split("Inside `course_lib`", 1)[1].split("\n## ", 1)[0], 4)
    tree = _tree()
    assert named == tree, f"in the tree, not in the README: {sorted(tree - named)}; " \
                          f"in the README, not in the tree: {sorted(named - tree)}"


def test_the_architecture_doc_draws_the_tree_as_it_is():
    """docs/architecture.md's "The tree" lists each module and package of course_lib, and only those."""
    text = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = _listed(text.split("## The tree", 1)[1].split("\n## ", 1)[0], 6)
    tree = _tree()
    assert named == tree, f"in the tree, not in docs/architecture.md: {sorted(tree - named)}; " \
                          f"in docs/architecture.md, not in the tree: {sorted(named - tree)}"


def test_the_listing_check_can_fail():
    assert _listed("    a.py, b/    text\n                 c.py continues\n", 4) == {"a.py", "b/"}
