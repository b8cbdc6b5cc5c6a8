"""Run each notebook's kernel in the language of its edition.

nbval starts a notebook's kernel while the notebook's first cell is being set up, and the kernel
inherits this process's environment. So that the Korean edition is tested as a Korean learner runs it
(checker verdicts, hints, ``stats`` verdicts and the other messages of ``course_lib.i18n`` in Korean),
``COURSE_LANG`` is ``ko`` while an item under ``notebooks/ko/`` is set up and unset while an English
notebook's item is; afterwards it is put back as it was, so nothing else sees the change.

(This hook lives here, not in ``tests/conftest.py``: pytest calls a conftest's ``pytest_runtest_*`` hooks
only for the items under that conftest's folder, and ``pytest notebooks/ko`` does not load ``tests/``.)
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

KOREAN = Path(__file__).resolve().parent / "ko"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    before = os.environ.get("COURSE_LANG")
    if Path(str(item.path)).resolve().is_relative_to(KOREAN):
        os.environ["COURSE_LANG"] = "ko"
    else:
        os.environ.pop("COURSE_LANG", None)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COURSE_LANG", None)
        else:
            os.environ["COURSE_LANG"] = before
