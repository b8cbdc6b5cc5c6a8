"""The run doctor: why isn't it learning?

Pure functions over a run's ``History`` (``course_lib.runs``) and, optionally, its last rollout batch:
each finding names what it saw (series, steps, values), why it happens (with the notebook section
that teaches it) and what to try. ``diagnose(history)`` runs them all; ``format_findings`` prints
them; ``python -m course_lib diagnose RUN.json`` does both on a saved History. The live panel is
``course_lib.widgets.diagnose``, the figures ``course_lib.plotting.diagnose``.

Layer: imports ``runs``, ``stats`` and the algorithm packages' public names (``grpo``, ``lmrl``) only (never exercises, grading, experiments, plotting or widgets).
"""
from .findings import (CHECKS, FINDINGS, SEVERITIES, Finding, diagnose, first_firing, format_findings, history_until,
                       run_kind)
from .tokens import token_view

__all__ = ["Finding", "FINDINGS", "CHECKS", "SEVERITIES", "diagnose", "format_findings", "history_until",
           "first_firing", "run_kind", "token_view"]
