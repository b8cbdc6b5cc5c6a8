"""A data file damaged in place, with its size and modification time put back, is not accepted from the
hash cache (``course_lib.data.sha256`` keys on the status-change time too, which no call can set)."""
from __future__ import annotations

import hashlib
import os
import time

from course_lib import data


def test_a_file_rewritten_with_its_size_and_mtime_restored_is_hashed_again(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"A" * 4096)
    past = time.time_ns() - 3_600_000_000_000
    os.utime(path, ns=(past, past))
    time.sleep(2.1)  # older than the racily-clean window, so the first hash is cached
    assert data.sha256(path) == hashlib.sha256(b"A" * 4096).hexdigest()
    with open(path, "r+b") as f:  # damage in place: same size
        f.write(b"B")
    os.utime(path, ns=(past, past))  # and the modification time put back
    assert os.stat(path).st_size == 4096 and os.stat(path).st_mtime_ns == past
    assert data.sha256(path) == hashlib.sha256(b"B" + b"A" * 4095).hexdigest()


def test_doctor_names_a_malformed_manifest_entry_instead_of_a_raw_error(tmp_path):
    import json

    (tmp_path / "a.json").write_text("{}")
    (tmp_path / data.MANIFEST_NAME).write_text(json.dumps({"files": {"a.json": "not an entry"}}))
    report = dict(data.validate_data(tmp_path))
    assert "unreadable" in report[data.MANIFEST_NAME] and "'a.json'" in report[data.MANIFEST_NAME]


def test_train_rm_on_a_data_folder_it_cannot_write_is_a_message_not_a_traceback(monkeypatch, capsys):
    from course_lib.rlhf import reward_model

    monkeypatch.setenv("COURSE_DATA", "/proc/course-data-that-cannot-exist")
    assert reward_model.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("train-rm: cannot write to /proc/course-data-that-cannot-exist/rm") and "Traceback" not in err
    assert reward_model.main(["--out", "/proc/not-here", "--steps", "1"]) == 2
    assert "cannot write to /proc/not-here" in capsys.readouterr().err
