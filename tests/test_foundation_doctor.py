"""``python -m course_lib doctor``, the data manifest and the command line."""
import json
import subprocess
import sys

from course_lib import doctor
from course_lib.__main__ import main as cli
from course_lib.data import data_path, validate_data, write_manifest


def test_doctor_passes_on_this_installation():
    out = subprocess.run([sys.executable, "-m", "course_lib", "doctor"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for part in ("Python", "torch", "CUDA available", "sliders will render", "Data files", "Exercises"):
        assert part in out.stdout


def test_doctor_reports_a_missing_package_without_crashing(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "PACKAGES", doctor.PACKAGES + [("no-such-package-xyz", "no_such_xyz", True)])
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert "no-such-package-xyz" in out and "MISSING" in out and "PROBLEM" in out


def test_doctor_reports_damaged_data(monkeypatch, tmp_path, capsys):
    (tmp_path / "evals.jsonl").write_text('{"q": "1+1", "a": 2}\n')
    write_manifest(tmp_path)
    (tmp_path / "evals.jsonl").write_text('{"q": "1+1", "a": 3}\n')
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert doctor.main([]) == 1
    assert "checksum mismatch" in capsys.readouterr().out


def test_manifest_detects_missing_damaged_unlisted_and_unparsable_files(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text('{"x": 1}\nnot json\n')
    (tmp_path / "c.bin").write_bytes(b"\x00\x01")
    write_manifest(tmp_path)
    status = dict(validate_data(tmp_path))
    assert status == {"a.json": "ok", "c.bin": "ok",
                      "sub/b.jsonl": "it is not valid JSON at line 2, column 1 (Expecting value)"}
    (tmp_path / "c.bin").write_bytes(b"\x00\x02")
    (tmp_path / "a.json").unlink()
    (tmp_path / "new.txt").write_text("hi")
    status = dict(validate_data(tmp_path))
    assert status["a.json"] == "missing"
    assert status["c.bin"].startswith("checksum mismatch")
    assert status["new.txt"].startswith("not listed")
    assert validate_data(tmp_path / "nowhere") == [("MANIFEST.json", "missing")]


def test_the_shipped_manifest_is_current():
    bad = [(name, status) for name, status in validate_data() if status != "ok"]
    assert not bad, f"data/ does not match data/MANIFEST.json (run python -m course_lib manifest): {bad}"


def test_data_path_names_a_missing_file():
    import pytest

    with pytest.raises(FileNotFoundError, match="no_such_file"):
        data_path("no_such_file.json")


def test_cli_routes_and_rejects(capsys):
    assert cli(["--help"]) == 0
    assert cli(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
    assert cli(["bench"]) == 2
    assert cli(["bench", "nonsense"]) == 2


def test_manifest_is_valid_json():
    from course_lib.data import data_dir

    manifest = json.loads((data_dir() / "MANIFEST.json").read_text())
    assert manifest["schema"] == "course_lib.manifest/1"
