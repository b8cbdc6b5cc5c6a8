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


# --- supply chain: the set-up installs with hash checking --------------------------------------------------

def _course_py():
    import importlib.util
    spec = importlib.util.spec_from_file_location("course_py", ROOT / "course.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _hash_lines(path):
    return [l for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]


def test_the_hash_file_of_the_reference_platform_covers_exactly_the_lock():
    hashes = ROOT / "requirements" / "hashes" / "linux-x86_64-cp311.txt"
    assert hashes.exists(), "requirements/hashes/linux-x86_64-cp311.txt is missing: run `python3 course.py lock`"
    pinned = {}
    for line in _hash_lines(hashes):
        m = re.fullmatch(r"([a-z0-9-]+)==(\S+)( --hash=sha256:[0-9a-f]{64})+", line)
        assert m, f"not a hashed pin: {line!r}"
        pinned[m.group(1)] = m.group(2)
    assert pinned == _lock(), "the hashes and requirements/lock.txt disagree: rerun `python3 course.py lock`"


def test_set_up_installs_every_file_with_hash_checking_when_the_platform_has_hashes(tmp_path):
    course = _course_py()
    hashes = tmp_path / "h.txt"
    cmds = course.hashed_install_commands(tmp_path / "py", hashes, ["--index-url", course.TORCH_CPU_INDEX])
    first, second = [list(map(str, c)) for c in cmds]
    assert "--require-hashes" in first and first[first.index("-r") + 1] == str(hashes) and "--no-deps" in first
    assert first[first.index("--extra-index-url") + 1] == course.TORCH_CPU_INDEX  # PyPI stays the main index
    # the course itself: editable, nothing resolved, nothing downloaded to build it
    assert {"--no-deps", "--no-build-isolation", "-e"} <= set(second) and "-r" not in second
    assert course.hash_file().name == f"{course.platform_tag()}.txt"
    # the set-up's fingerprint changes with the hashes, so a new hash file triggers a new set-up
    assert "hash_file()" in (ROOT / "course.py").read_text().split("def setup_fingerprint")[1].split("def ")[0]


def _tiny_wheel(folder, version="1.0"):
    """A real, minimal wheel of a package 'coursehashprobe' (no network needed)."""
    import base64
    import hashlib
    import zipfile
    name = f"coursehashprobe-{version}-py3-none-any.whl"
    files = {"coursehashprobe.py": "X = 1\n",
             f"coursehashprobe-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: coursehashprobe\nVersion: {version}\n",
             f"coursehashprobe-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"coursehashprobe-{version}.dist-info/RECORD,,")
    files[f"coursehashprobe-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(folder / name, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return folder / name


def test_pip_refuses_a_file_whose_hash_differs_from_the_recorded_one(tmp_path):
    import hashlib
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    good = hashlib.sha256(_tiny_wheel(wheels).read_bytes()).hexdigest()
    tampered = "0" * 64
    out = {}
    for label, digest in (("good", good), ("tampered", tampered)):
        req = tmp_path / f"{label}.txt"
        req.write_text(f"coursehashprobe==1.0 --hash=sha256:{digest}\n")
        # the set-up's own command, pointed at a local folder instead of the package index
        cmd = [str(c) for c in _course_py().hashed_install_commands(sys.executable, req, [])[0]]
        cmd += ["--no-index", "--find-links", str(wheels), "--target", str(tmp_path / label), "--isolated"]
        out[label] = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out["good"].returncode == 0, out["good"].stderr
    assert out["tampered"].returncode != 0 and "HASHES" in out["tampered"].stderr.upper(), out["tampered"].stderr
    assert not (tmp_path / "tampered" / "coursehashprobe.py").exists()
