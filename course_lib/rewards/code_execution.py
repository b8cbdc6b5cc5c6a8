"""The code-execution reward of notebook 06: the share of unit tests a completion's program passes,
run in the sandbox (``course_lib.sandbox``), in TRL's reward convention."""
from __future__ import annotations

import json
from typing import Any, Sequence

from ..sandbox import extract_code, run_programs
from .rules import check_column, check_completions


def _decode_tests(i: int, tests: Any) -> Any:
    if not isinstance(tests, str):
        return tests
    try:
        return json.loads(tests)
    except ValueError:
        raise ValueError(f"tests[{i}] is a string but not JSON: {tests[:80]!r}") from None


def code_execution_reward(completions: Sequence, tests: Sequence[list] | None = None,
                          **kwargs: Any) -> list[float]:
    """Fraction of unit tests passed by each completion's program, run in the sandbox.

    Args:
        completions: generated texts (or TRL's conversational messages); the program is the
            first fenced ```python block, or the whole text.
        tests: one test list per completion (a dataset column, so TRL passes it by name), each
            a list of ``{"call": ..., "expected": ...}`` as in ``run_program``, or that list as a
            JSON string (how a Hugging Face dataset column keeps values of mixed types).
        **kwargs: other dataset columns, ignored.

    Returns:
        One reward in [0, 1] per completion; 0 for any run that did not finish cleanly.
    """
    texts = check_completions(completions)
    tests = [_decode_tests(i, t) for i, t in enumerate(check_column("tests", tests, len(texts)))]
    results = run_programs([extract_code(t) for t in texts], tests)
    return [r.fraction for r in results]


__all__ = ["code_execution_reward"]
