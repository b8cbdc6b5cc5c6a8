"""The pinned set-up: one lock, the same pins in environment.yml, and CI running the README."""
import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"lock line is not an exact pin: {line!r}"
            pins[_norm(name)] = version
    return pins


def _environment_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def _project_dependencies() -> list[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return [_norm(re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0]) for d in deps]


def test_every_dependency_is_pinned_in_the_lock():
    lock = _lock()
    missing = [d for d in _project_dependencies() if d not in lock]
    assert not missing, f"not pinned in requirements/lock.txt: {missing}"


def test_environment_yml_pins_the_same_versions_as_the_lock():
    lock, env = _lock(), _environment_pins()
    assert set(_project_dependencies()) <= set(env), "environment.yml must pin every dependency"
    disagree = {k: (v, lock.get(k)) for k, v in env.items() if lock.get(k) != v}
    assert not disagree, f"environment.yml vs lock.txt: {disagree}"


def test_the_lock_pins_torch_without_cuda_packages():
    lock = _lock()
    assert "torch" in lock
    assert not [k for k in lock if k.startswith("nvidia-")], "the lock must not pin CUDA packages"


def test_installed_versions_are_the_tested_ones():
    from importlib.metadata import version

    for dist in ("torch", "gymnasium", "stable-baselines3", "numpy", "ipywidgets", "jupyterlab",
                 "transformers", "tokenizers", "trl", "accelerate", "datasets"):
        assert version(dist).split("+")[0] == _lock()[dist], dist


def _readme_command(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1]
    return re.search(r"```(?:bash|sh)?\n(.+?)\n```", section, re.S).group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim():
    command = _readme_command("### Maintainers: set up and run every test")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    assert command in ci.splitlines()
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111, ".ci/run must be executable"


def test_readme_quickstart_commands_are_real_course_py_commands():
    for heading in ("### Learners: set up and open the course", "### Maintainers: set up and run every test"):
        command = _readme_command(heading)
        assert re.fullmatch(r"python3 course\.py (lab|test)", command), command


def test_course_py_test_command_covers_tests_and_notebooks():
    sys.path.insert(0, str(ROOT))
    try:
        import course
    finally:
        sys.path.pop(0)
    assert course.TEST_COMMAND[:2] == ["-m", "pytest"]
    assert "--nbval-lax" in course.TEST_COMMAND
    assert {"tests", "notebooks"} <= set(course.TEST_COMMAND)


def test_course_py_rejects_an_unknown_command():
    out = subprocess.run([sys.executable, str(ROOT / "course.py"), "frobnicate"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown command" in out.stderr


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(nb):
    import nbformat

    book = nbformat.read(nb, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{nb.name} has outputs"


def test_notebook_names_follow_the_syllabus():
    names = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert names and names[0] == "00_welcome.ipynb"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", n) for n in names), names
    readme = (ROOT / "README.md").read_text()
    for n in names:
        assert n[:-6] in readme, f"{n} is missing from the README syllabus"
