"""Shipped data verified on load (issue 13, section 3): every loader of data/ checks the file
against MANIFEST.json, refuses a damaged one with how to restore it, and the manifest command
will not silently re-approve a changed file."""
import json
import os
import shutil
import stat
import time

import pytest

from course_lib import data, doctor, tasks
from course_lib.data import (DataError, DataNotWritable, load_json, load_jsonl, manifest_main, validate_data,
                             verified_path, write_manifest, writable_dir)
from course_lib.lm import load_shipped

SHIPPED = data.data_dir()


def _age(path, seconds=10):
    """Backdate a file's mtime, as a file checked out long ago would be (so its hash is cached)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


@pytest.fixture
def copy_of_data(tmp_path, monkeypatch):
    """A private copy of the shipped data/ (checkpoints, eval set, one json) as COURSE_DATA."""
    root = tmp_path / "data"
    for name in ("lm/sft.pt", "lm/eval.jsonl", "ppo/recorded_rollout.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SHIPPED / name, root / name)
    write_manifest(root)
    monkeypatch.setenv("COURSE_DATA", str(root))
    return root


def _flip_a_byte(path, at=100):
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_verified_path_accepts_the_shipped_files():
    for name in json.loads((SHIPPED / "MANIFEST.json").read_text())["files"]:
        assert verified_path(name) == SHIPPED / name


def test_verification_hashes_an_unchanged_file_once(copy_of_data, monkeypatch):
    _age(copy_of_data / "lm/sft.pt")
    verified_path("lm/sft.pt")
    calls = []
    real = data.hashlib.sha256
    monkeypatch.setattr(data.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    verified_path("lm/sft.pt")
    assert calls == [], "a second verification of an unchanged file must not hash it again"


def test_the_hash_cache_sees_a_same_size_rewrite(tmp_path):
    f = tmp_path / "x.json"
    f.write_text('{"a": 2}')
    first = data.sha256(f)
    f.write_text('{"a": 3}')  # same size, possibly the same mtime
    assert data.sha256(f) != first


def test_a_damaged_checkpoint_is_refused_by_load_shipped_with_restore_advice(copy_of_data):
    model, tok, _ = load_shipped("sft")  # the good copy loads
    _flip_a_byte(copy_of_data / "lm/sft.pt", at=5000)
    with pytest.raises(DataError, match=r"data/lm/sft.pt is damaged or was changed") as err:
        load_shipped("sft")
    assert "git checkout -- data/" in str(err.value) and "python -m course_lib train-lm" in str(err.value)


def test_a_truncated_or_missing_file_is_refused(copy_of_data):
    p = copy_of_data / "lm/sft.pt"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"its size is 1000 bytes, the manifest says"):
        load_shipped("sft")
    p.unlink()
    with pytest.raises(FileNotFoundError, match=r"git checkout -- data/"):
        load_shipped("sft")


def test_the_eval_set_is_verified(copy_of_data):
    assert len(tasks.eval_dataset()) > 0
    p = copy_of_data / "lm/eval.jsonl"
    lines = p.read_text().splitlines()
    lines[2] = lines[2][:-3]  # a cut line: damaged, and no longer JSON
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"data/lm/eval.jsonl is damaged .*not valid JSON at line 3"):
        tasks.eval_dataset()


def test_a_damaged_json_file_is_named_with_its_line(copy_of_data):
    assert load_json("ppo/recorded_rollout.json")
    p = copy_of_data / "ppo/recorded_rollout.json"
    text = p.read_text()
    p.write_text(text.replace(",", ";", 1))
    with pytest.raises(DataError, match=r"data/ppo/recorded_rollout.json is damaged .*not valid JSON at line \d+, "
                                        r"column \d+.*python -m course_lib sweep ppo"):
        load_json("ppo/recorded_rollout.json")
    status = dict(validate_data(copy_of_data))
    assert "not valid JSON at line" in status["ppo/recorded_rollout.json"]


def test_an_unlisted_file_is_refused(copy_of_data):
    (copy_of_data / "lm/extra.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(DataError, match=r"not listed in data/MANIFEST.json.*python -m course_lib manifest"):
        load_jsonl("lm/extra.jsonl")
    assert load_jsonl("lm/eval.jsonl")


def test_a_missing_or_broken_manifest_is_refused(copy_of_data):
    (copy_of_data / "MANIFEST.json").write_text('{"files": {\n  "x": 1,\n}')
    with pytest.raises(DataError, match=r"MANIFEST.json is not valid JSON \(line 3"):
        verified_path("lm/sft.pt")
    (copy_of_data / "MANIFEST.json").unlink()
    with pytest.raises(DataError, match=r"MANIFEST.json is missing.*git checkout -- data/"):
        verified_path("lm/sft.pt")


# -- the manifest command ------------------------------------------------------------------------

def test_manifest_refuses_a_changed_file_without_force(copy_of_data, capsys):
    before = (copy_of_data / "MANIFEST.json").read_text()
    _flip_a_byte(copy_of_data / "lm/sft.pt", at=5000)
    assert manifest_main([]) == 1
    err = capsys.readouterr().err
    assert "data/lm/sft.pt changed since the manifest approved it" in err and "--force" in err
    assert "git checkout -- data/" in err
    assert (copy_of_data / "MANIFEST.json").read_text() == before
    assert manifest_main(["--force"]) == 0
    assert "re-approved lm/sft.pt" in capsys.readouterr().out
    verified_path("lm/sft.pt")


def test_manifest_adds_new_files_without_force_and_refuses_unparsable_json(copy_of_data, capsys):
    (copy_of_data / "grpo").mkdir()
    (copy_of_data / "grpo/new.json").write_text('{"ok": true}')
    assert manifest_main([]) == 0
    assert "added data/grpo/new.json" in capsys.readouterr().out
    assert load_json("grpo/new.json") == {"ok": True}
    (copy_of_data / "grpo/bad.json").write_text('{\n "a": 1,\n "b": \n}')
    assert manifest_main(["--force"]) == 1
    err = capsys.readouterr().err
    assert "data/grpo/bad.json is not valid JSON at line 4" in err


def test_manifest_refuses_to_drop_a_missing_file_without_force(copy_of_data, capsys):
    (copy_of_data / "lm/eval.jsonl").unlink()
    assert manifest_main([]) == 1
    assert "data/lm/eval.jsonl is listed but missing" in capsys.readouterr().err
    assert manifest_main(["--force"]) == 0
    assert "lm/eval.jsonl" not in json.loads((copy_of_data / "MANIFEST.json").read_text())["files"]


def test_a_read_only_data_folder_is_reported_not_raised(copy_of_data, monkeypatch, capsys):
    (copy_of_data / "grpo").mkdir()
    (copy_of_data / "grpo/new.json").write_text("{}")
    if os.geteuid() == 0:  # root writes through permission bits: simulate the file system's refusal
        def refuse(*args, **kwargs):
            raise PermissionError(30, "Read-only file system")
        monkeypatch.setattr(data.tempfile, "NamedTemporaryFile", refuse)
    else:
        for d in (copy_of_data, *[p for p in copy_of_data.rglob("*") if p.is_dir()]):
            d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(DataNotWritable, match=r"cannot write to .*data.*read-only"):
            writable_dir("grpo")
        assert manifest_main([]) == 1
        assert "cannot rewrite" in capsys.readouterr().err
    finally:
        for d in (copy_of_data, *[p for p in copy_of_data.rglob("*") if p.is_dir()]):
            d.chmod(stat.S_IRWXU)


# -- doctor --------------------------------------------------------------------------------------

def test_doctor_advises_restoring_data_not_reinstalling(copy_of_data, capsys):
    _flip_a_byte(copy_of_data / "ppo/recorded_rollout.json", at=10)
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM: data file ppo/recorded_rollout.json: checksum mismatch" in out
    assert "git checkout -- data/" in out and "python -m course_lib sweep ppo" in out
    assert "course.py setup --force" not in out  # a reinstall restores nothing in data/
