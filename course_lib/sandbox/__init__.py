"""The process sandbox: untrusted Python programs run against unit tests in a separate, time-,
memory- and network-limited process (notebook 06's code-execution reward; ``docs/sandbox.md``).

* ``parent``: the caller's side — ``run_program``, ``run_programs``, ``ProgramResult``,
  ``available_protections``, ``extract_code``;
* ``child``: the sandboxed side (supervisor, namespace init, test harness), a module of its own
  because it runs in another process, loaded there without importing ``course_lib``.

This face exports the parent's public names.
"""
from .parent import ProgramResult, available_protections, extract_code, run_program, run_programs

__all__ = ["ProgramResult", "run_program", "run_programs", "available_protections", "extract_code"]
