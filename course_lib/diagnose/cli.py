"""``python -m course_lib diagnose RUN.json``: the run doctor's findings on a saved History, as text.

RUN is a file written by ``History.save`` (any course trainer's history, or a TRL run's from
``course_lib.hf.trl_grpo.train_with_trl``), or a JSON object of series (read as
``History.from_series`` reads a dict). The text is ``format_findings``, the same the live panel prints.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..runs import History
from .findings import diagnose, format_findings, run_kind


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib diagnose",
                                     description="Why isn't it learning? Findings on a saved training History.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a History saved as JSON (History.save)")
    parser.add_argument("--no-info", action="store_true", help="leave out the explanations that are not alarms")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)
    worst = 0
    out = []
    for path in args.runs:
        try:
            hist = History.load(path)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        findings = diagnose(hist, include_info=not args.no_info)
        n = max((len(hist[k]) for k in hist.kinds["updates"]), default=0)
        if args.json:
            out.append({"run": path, "kind": run_kind(hist), "updates": n,
                        "findings": [{**f.__dict__} for f in findings]})
        else:
            print(format_findings(findings, title=f"{path}: a {run_kind(hist)} run, {n} updates"))
        if any(f.severity == "error" for f in findings):
            worst = max(worst, 1)
    if args.json:
        print(json.dumps(out, indent=1, default=str))
    return worst
