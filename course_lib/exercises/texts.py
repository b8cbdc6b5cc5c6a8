"""Every sentence a learner reads from ``check``, ``hint``, ``solution`` and ``use_if_passed``, by message key.

The checker never writes its English inline: it asks ``say(key, **fields)`` for one of the templates of
``CHECKER`` (filled with ``str.format``), and the registry's own texts through ``exercise_text`` and
``mistake_hint``. Each goes through ``course_lib.i18n.message``, so a learner with ``COURSE_LANG=ko`` reads
the Korean of ``i18n/ko/messages.json`` wherever it was made from the current English, and the English
otherwise. The keys:

- ``checker.<key>``: a template of ``CHECKER`` (its ``{fields}`` are kept in the translation);
- ``exercise.<exercise>.hint`` / ``.formula`` / ``.code_hint``: the three rungs of the help ladder;
- ``exercise.<exercise>.mistake.<mistake>``: the hint a recognised common mistake earns;
- ``exercise.<exercise>.case.<i>``: the description of seeded case ``i`` where it has words beyond ``name=value``;
- ``exercise.<exercise>.solution``: the teaching solution's source that ``solution()`` shows, its comments and
  docstring translated and its code unchanged (tests/test_i18n.py compares the code token by token).

``english_messages()`` lists them all with their current English (what ``translate status`` compares the
translations with). The English texts themselves stay where they were written (the catalogue modules, the
table below).
"""
from __future__ import annotations

import re

from ..i18n import message, message_format
from .registry import Exercise, Mistake, get_exercise, list_exercises, teaching_source

# key -> English template. Fields in braces are filled by say(); a translation keeps every field.
CHECKER: dict[str, str] = {
    # the frame of a verdict (CheckResult.text / _html)
    "label.hint": "Hint:",
    "label.printed": "Your function printed:",
    "more_help": "More help, one step at a time: hint({n}) for a nudge, hint({n}, 2) for the formula, "
                 "hint({n}, 3) for code-level help.",
    "where": "case {case}: {label}",
    "case": "case: {case}",
    "printed_more": "... ({total} bytes printed in all; the first {shown} characters are shown)",
    # how the learner's child ended (checker._outcome_result)
    "not_attempted.message": "not attempted yet.",
    "not_attempted.hint": "Replace `raise NotImplementedError` with your code, run that cell, then run this check again.",
    "timeout.message": "stopped after {limit:g} s without finishing (on case {case} of {total}).",
    "timeout.hint": "Look for a loop that never ends: a while-condition that never becomes false, or an index that "
                    "is never updated.",
    "output.message": "your function printed more than {mb} MB and was stopped (on case {case} of {total}).",
    "output.hint": "Remove the print inside your loop, or print only a few values.",
    "memory.message": "your function ran out of memory on case {case} of {total} (the check allows {gb} GB).",
    "memory.hint": "Look for an array or list that grows without bound, or a shape that is far larger than the "
                   "inputs' (an outer product where an elementwise one was meant).",
    "error.message": "your function raised an error on case {case} of {total}.",
    "error.where": "at line {line} of your function {function}",
    "error.came_from": " (the error itself came from {file})",
    "error.hint": "Fix the line shown above; run your function by hand on the case shown to see it fail.",
    "interrupted.message": "the check was interrupted.",
    "too_large.message": "your function returned far more data than the exercise asks for.",
    "too_large.hint": "The exercise returns what its signature says; check its shape.",
    "killed.signal": "was killed by {signal}",
    "killed.signal_number": "was killed by signal {number}",
    "killed.exit": "ended its process (exit code {code})",
    "killed.message": "your function {what} on case {case} of {total}, before returning an answer.",
    "killed.hint": "Something in your function stops the whole program (os._exit, os.kill, a crash in C code). A "
                   "function should return its answer; remove that call.",
    "library.message": "that is the library's implementation — write your own.",
    "library.hint": "The check needs a function you wrote. Calling course_lib's version (directly or inside your "
                    "function) proves nothing about your understanding; the notebook uses the library's version "
                    "after this exercise anyway. Start from the stub again.",
    # before the learner's function runs (checker's run)
    "unknown_exercise.hint": "Check the spelling of the exercise name in the check cell.",
    "not_callable.message": "check needs your function itself, but got {type} {value}.",
    "not_callable.hint": "Pass the function without calling it: check({name}, my_function), not "
                         "check({name}, my_function(...)).",
    "signature.message": "wrong signature.",
    "signature.details": "your function has the signature {function}{signature}, but the exercise calls it as "
                         "{expected} ({error}).",
    "signature.hint": "Define it as {signature}.",
    "judge_failed.message": "the judge failed.",
    "judge_silent.message": "the checker's judge process is not answering ({error}). Restart the kernel "
                            "(Kernel → Restart) and run the notebook's cells again.",
    "check_failed.message": "the check itself failed ({error}); please report this.",
    # the verdict on the learner's answers (judge.judge)
    "incomplete.message": "the check received an incomplete answer.",
    "incomplete.hint": "Run the check again; if it persists, restart the kernel.",
    "modifies_input.message": "your function changed its input `{arg}` in place.",
    "modifies_input.hint": "The caller's `{arg}` must stay as it was: work on a copy ({arg} = {arg}.copy() for an "
                           "array, {arg}.clone() for a tensor) or build a new result, and return it.",
    "opaque.message": "your function returned something the check cannot compare.",
    "opaque.details": "case: {case}\nyou returned {value}",
    "opaque.hint": "Return numbers: a numpy array, a list of floats or a torch tensor (or a tuple of them where the "
                   "exercise asks for several).",
    "wrong_type.message": "wrong return type.",
    "wrong_type.loss": "You returned {what}, but the exercise promises a torch tensor: a Python float or a numpy "
                       "array cannot be backpropagated, so a training loop could not call .backward() on it.",
    "wrong_type.tensor": "You returned {what}, but the exercise promises a torch tensor.",
    "passed.message": "all {total} cases match the reference.",
    "failed.message": "{failing} of {total} cases differ from the reference.",
    "returns_none.hint": "Your function returns None: did you forget the `return` statement?",
    "no_graph.hint": "Your values are right but your result carries no gradient: .item(), float(), numpy, "
                     "torch.tensor(...) or .detach() on the way cut it from the inputs. Compute it with torch "
                     "operations on the tensors you are given.",
    "by_hand.hint": "Work the failing case by hand and compare with your function, step by step.",
    "unreadable.message": "the answer could not be read ({error}).",
    # what differs (judge.compare_outputs and the gradients' comparison; the details line under a verdict)
    "diff.tuple": "expected a tuple of {n} values, got {got}",
    "diff.tuple_item": "item {i} of the returned tuple: {diff}",
    "diff.dict": "expected a dict with keys {keys}, got {got}",
    "diff.dict_item": "item {key} of the returned dict: {diff}",
    "diff.none": "your function returned None",
    "diff.numbers": "expected numbers, got {got}",
    "diff.shape": "expected shape {expected}, got shape {got}",
    "diff.values": "expected {expected}, got {got}",
    "diff.uncomparable": "your output could not be compared ({error})",
    "grad.none": "your result carries no gradient",
    "grad.small": "the gradient with respect to {name} differs: expected {expected}, got {got}",
    "grad.large": "the gradient with respect to {name} differs at {bad} of {total} positions",
    "grad.nan": " ({nan} of them NaN)",
    "grad.example": "; e.g. at {where}: expected {expected:.4g}, got {got:.4g}",
    "grad.generic": "the gradients differ from the reference's",
    # the help ladder and the teaching solution (checker.hint, Hint, Solution)
    "ladder.1": "a nudge",
    "ladder.2": "the formula",
    "ladder.3": "code-level help",
    "ladder.title": "Hint {level} of 3 for {exercise} ({title}):",
    "ladder.title_markdown": "**Hint {level} of 3 for `{exercise}`** ({title})",
    "ladder.none": "(no hint at this level for this exercise)",
    "ladder.next": "Still stuck? hint({name}, {level}).",
    "ladder.last": "That is all the help there is; solution({name}) shows a worked answer.",
    "solution.header": "A teaching solution for **{exercise}** (short and readable; `course_lib`'s own version adds "
                       "input checks):",
    # use_if_passed
    "use.yours": "Using your {function} from here on (its check passed).",
    "use.library": "Your {exercise} has not passed its check yet: using course_lib's version from here on.",
}

LADDER_FIELDS = ("hint", "formula", "code_hint")  # the help ladder's rungs 1, 2, 3 (Exercise fields)


def say(key: str, lang: str | None = None, **fields) -> str:
    """The checker's sentence ``key`` (a key of ``CHECKER``) in the learner's language, its fields filled.

    A translation that does not fill (a field missing or misspelt) is never shown broken: the English is.
    """
    if key not in CHECKER:
        raise ValueError(f"key must be one of the checker's message keys; got {key!r}")
    return message_format(f"checker.{key}", CHECKER[key], lang, **fields)


def exercise_key(exercise: str, field: str) -> str:
    return f"exercise.{exercise}.{field}"


def mistake_key(exercise: str, mistake: str) -> str:
    return f"exercise.{exercise}.mistake.{mistake}"


def exercise_text(ex: Exercise, field: str, lang: str | None = None) -> str:
    """Rung ``field`` ("hint", "formula" or "code_hint") of an exercise's ladder, in the learner's language."""
    if field not in LADDER_FIELDS:
        raise ValueError(f"field must be one of {', '.join(LADDER_FIELDS)}; got {field!r}")
    english = getattr(ex, field)
    return message(exercise_key(ex.name, field), english, lang) if english else english


def mistake_hint(ex: Exercise, mistake: Mistake, lang: str | None = None) -> str:
    """The hint that ``mistake`` of exercise ``ex`` earns, in the learner's language."""
    return message(mistake_key(ex.name, mistake.name), mistake.hint, lang)


def case_key(exercise: str, index: int) -> str:
    return f"exercise.{exercise}.case.{index}"


def has_prose(label: str) -> bool:
    """Whether a case's label has words to translate beyond ``name=value`` pairs and numbers."""
    return re.search(r"[A-Za-z]{3,}", re.sub(r"\b\w+\s*=\s*(\[[^\]]*\]+|\S+)", " ", label)) is not None


def case_label(exercise: str, index: int, english: str, lang: str | None = None) -> str:
    """The description of an exercise's seeded case ``index`` in the learner's language (cases described
    only by their arguments have no message: they read the same in every language)."""
    return message(case_key(exercise, index), english, lang)


def solution_text(ex: Exercise, lang: str | None = None) -> str:
    """The source of the exercise's teaching solution, its comments in the learner's language."""
    return message(exercise_key(ex.name, "solution"), teaching_source(ex), lang)


def english_messages() -> dict[str, str]:
    """Every message key of the checker and the registry, with its current English."""
    out = {f"checker.{key}": english for key, english in CHECKER.items()}
    for name in list_exercises():
        ex = get_exercise(name)
        for field in LADDER_FIELDS:
            if getattr(ex, field):
                out[exercise_key(name, field)] = getattr(ex, field)
        for m in ex.mistakes:
            out[mistake_key(name, m.name)] = m.hint
        out[exercise_key(name, "solution")] = teaching_source(ex)
        for i, case in enumerate(ex.cases()):
            if case.label and has_prose(case.label):
                out[case_key(name, i)] = case.label
    return out
