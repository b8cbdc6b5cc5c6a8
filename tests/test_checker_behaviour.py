"""What a check tests (issue 17 §1, §2) and how check records are read back (issue 13 §2)."""
import json

import numpy as np
import pytest

from course_lib.exercises import (
    RESULT_MIME, check, get_exercise, results_from_notebook,
)
from course_lib.exercises.checker import CheckResult

# --- records in notebooks --------------------------------------------------------------------------


def _record(**change):
    rec = CheckResult("discounted_returns", "passed", True, message="ok", cases_passed=3, cases_total=3).record()
    rec.update(change)
    return rec


def _notebook(cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def _code_cell(records, execution_count=1):
    outputs = [{"output_type": "display_data", "metadata": {}, "data": {RESULT_MIME: r, "text/plain": "x"}}
               for r in records]
    return {"cell_type": "code", "execution_count": execution_count, "metadata": {}, "source": "check(...)",
            "outputs": outputs}


def _write(tmp_path, content, name="nb.ipynb"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_valid_records_are_read_with_their_cell(tmp_path):
    nb = _notebook([{"cell_type": "markdown", "metadata": {}, "source": "hi"},
                    _code_cell([_record()]), _code_cell([_record(exercise="gae", status="failed", passed=False,
                                                                 cases_passed=1)])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert [(r["exercise"], r["status"], r["cell"]) for r in records] == [
        ("discounted_returns", "passed", 1), ("gae", "failed", 2)]
    assert records.problems == []


def test_records_in_cells_never_executed_are_ignored(tmp_path):
    nb = _notebook([_code_cell([_record()], execution_count=None)])
    records = results_from_notebook(_write(tmp_path, nb))
    assert list(records) == [] and "never executed" in records.problems[0]


@pytest.mark.parametrize("change,why", [
    ({"passed": "yes"}, "wrong type"),
    ({"status": "excellent"}, "unknown status"),
    ({"schema": "course_lib.check/99"}, "unknown schema"),
    ({"cases_passed": True}, "wrong type"),
    ({"extra": 1}, "unexpected field"),
    ({"passed": True, "status": "failed"}, "contradictory"),
    ({"cases_passed": 5, "cases_total": 3}, "contradictory"),
    ({"cases_passed": 2}, "contradictory"),
    ({"seconds": -1.0}, "seconds"),
])
def test_malformed_or_contradictory_records_are_left_out_and_reported(tmp_path, change, why):
    nb = _notebook([_code_cell([_record(**change)]), _code_cell([_record(exercise="gae")])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert [r["exercise"] for r in records] == ["gae"]
    assert len(records.problems) == 1 and why in records.problems[0]


def test_a_missing_field_and_a_non_object_record_are_reported(tmp_path):
    rec = _record()
    del rec["hint"]
    nb = _notebook([_code_cell([rec, ["not", "a", "record"]])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert list(records) == [] and len(records.problems) == 2
    assert "missing field 'hint'" in records.problems[0]


def test_two_records_that_disagree_in_one_cell_are_contradictory(tmp_path):
    nb = _notebook([_code_cell([_record(), _record(status="failed", passed=False, cases_passed=0)])])
    records = results_from_notebook(_write(tmp_path, nb))
    assert list(records) == [] and all("contradictory" in p for p in records.problems)


def _nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("content,why", [
    ("not json", "not JSON"),
    ("[1, 2]", "top level is a list"),
    (json.dumps({"cells": {"a": 1}}), "'cells' is a dict"),
    (json.dumps({"cells": [3]}), "cell 0 is a int"),
    (json.dumps({"cells": [{"cell_type": "code", "outputs": "x"}]}), "outputs of cell 0"),
    (json.dumps({"cells": [{"cell_type": "code", "outputs": [7]}]}), "output 0 of cell 0"),
    (json.dumps({"cells": [{"cell_type": "code", "outputs": [{"data": []}]}]}), "data of output 0"),
    ('{"cells": ' + _nested(200) + "}", "nested"),
    ('{"cells": ' + _nested(100_000) + "}", "nested"),
    (b"\xff\xfe".decode("latin-1"), "not JSON"),
])
def test_every_malformed_notebook_is_a_value_error_naming_the_file(tmp_path, content, why):
    path = _write(tmp_path, content, name="broken_notebook.ipynb")
    with pytest.raises(ValueError, match="broken_notebook.ipynb") as info:
        results_from_notebook(path)
    assert why in str(info.value)


def test_a_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="nothing_here.ipynb"):
        results_from_notebook(tmp_path / "nothing_here.ipynb")


def test_the_docstring_says_records_are_claims():
    assert "claims, not proof" in results_from_notebook.__doc__


# --- checks test what the exercise is about (issue 17 §1) ---------------------------------------------

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

import course_lib.ppo  # noqa: E402
from course_lib.exercises import hint, list_exercises, solution  # noqa: E402

ALL = [get_exercise(n) for n in list_exercises()]


def test_a_reinforce_loss_that_does_not_detach_its_weights_fails_with_that_hint():
    def learner(logp, returns, baseline=None):
        weight = returns if baseline is None else returns - baseline
        return -(logp * weight).mean()  # right value; gradients leak into the returns and the critic

    result = check("policy_gradient_loss", learner)
    assert not result.passed and result.mistake == "weights_not_detached"
    assert "detach" in result.hint and "critic" in result.hint


@pytest.mark.parametrize("name,learner", [
    ("clipped_surrogate", lambda ratio, adv, eps: float(-torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv).mean())),
    ("policy_gradient_loss", lambda logp, returns, baseline=None: float(-(logp * returns).mean())),
    ("kl_k3", lambda logp, logp_ref, mask: np.zeros(tuple(logp.shape))),
])
def test_a_float_or_array_where_a_tensor_is_promised_fails(name, learner):
    result = check(name, learner)
    assert not result.passed and result.mistake == "wrong_type"
    assert "tensor" in result.hint


def test_a_tensor_cut_from_the_graph_fails_with_a_gradient_hint():
    def learner(ratio, adv, eps):
        loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv).mean()
        return torch.tensor(loss.item())  # the right number, no gradient

    result = check("clipped_surrogate", learner)
    assert not result.passed and "no gradient" in result.hint


def test_gradients_are_compared_not_only_values():
    def detached_clip(ratio, adv, eps):  # same values; the clipped branch loses its gradient
        return -torch.min(ratio * adv, torch.clamp(ratio.detach(), 1 - eps, 1 + eps) * adv).mean()

    result = check("clipped_surrogate", detached_clip)
    assert not result.passed and "gradient" in result.details


def test_sequence_logprobs_gradients_flow_to_the_logits():
    def learner(logits, tokens, mask):
        lp = torch.log_softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None]).squeeze(2)
        return (lp * mask[:, 1:]).sum(1)

    assert check("sequence_logprobs", learner).passed
    assert "logits" in get_exercise("sequence_logprobs").grad_args


def test_td0_updating_v_in_place_fails_with_its_hint():
    def in_place(V, s, r, s_next, terminated, alpha, gamma):
        target = r if terminated else r + gamma * V[s_next]
        V[s] += alpha * (target - V[s])  # forgot V = V.copy()
        return V

    result = check("td0_update", in_place)
    assert not result.passed and result.mistake == "modifies_input"
    assert "`V`" in result.message and "V.copy()" in result.hint


def _mutate_first(x):
    if isinstance(x, torch.Tensor):
        with torch.no_grad():  # even a leaf that requires grad can be changed this way
            x.add_(1.0) if x.is_floating_point() else x.fill_(1)
        return True
    if isinstance(x, np.ndarray) and x.size:
        x.flat[0] = x.flat[0] + 1 if x.dtype != bool else not x.flat[0]
        return True
    if isinstance(x, list):
        x.append(x[0] if x else 0)
        return True
    return False


@pytest.mark.parametrize("ex", ALL, ids=lambda e: e.name)
def test_every_exercise_fails_a_function_that_changes_its_inputs(ex):
    teaching = ex.teaching
    assert teaching is not None, f"{ex.name} has no teaching solution"

    def vandal(*args, **kwargs):
        out = teaching(*args, **kwargs)
        for a in list(args) + list(kwargs.values()):
            if _mutate_first(a):
                break
        return out

    mutable = any(isinstance(a, (np.ndarray, torch.Tensor, list)) for c in ex.cases()
                  for a in list(c.args) + list(c.kwargs.values()))
    if not mutable:
        pytest.skip(f"{ex.name} takes no argument that can be changed in place")
    result = check(ex.name, vandal)
    assert not result.passed and result.mistake == "modifies_input", result.text()


@pytest.mark.parametrize("make", [
    lambda: course_lib.ppo.gae,
    lambda: (lambda *a: course_lib.ppo.gae(*a)),
    lambda: (lambda *a: (course_lib.ppo.gae(*a)[0] * 1.0, course_lib.ppo.gae(*a)[1])),
], ids=["itself", "a_call", "a_call_then_more"])
def test_the_librarys_gae_is_refused_and_records_no_pass(make):
    result = check("gae", make())
    assert result.status == "library" and not result.passed
    assert "that is the library's implementation — write your own" in result.message
    record = result.record()
    assert record["passed"] is False and record["status"] == "library"


def test_a_learner_that_swallows_the_library_trap_is_still_refused():
    def sneaky(rewards, values, next_values, terminated, truncated, gamma, lam):
        try:
            return course_lib.ppo.gae(rewards, values, next_values, terminated, truncated, gamma, lam)
        except BaseException:  # noqa: BLE001 - swallows the trap
            return np.zeros(len(rewards)), np.zeros(len(rewards))

    assert check("gae", sneaky).status == "library"


def test_a_learner_using_other_library_functions_is_not_refused():
    from course_lib.exercises.catalog.ppo import teaching_gae

    def mine(rewards, values, next_values, terminated, truncated, gamma, lam):
        course_lib.ppo.clipped_surrogate(torch.ones(2), torch.ones(2), 0.2)  # another exercise's function
        return teaching_gae(rewards, values, next_values, terminated, truncated, gamma, lam)

    assert check("gae", mine).passed


def test_kl_k3_cases_put_inf_and_nan_in_the_padding():
    cases = get_exercise("kl_k3").cases()
    padding = [c.args[0][c.args[2] == 0] for c in cases] + [c.args[1][c.args[2] == 0] for c in cases]
    values = torch.cat([p.flatten() for p in padding])
    assert torch.isinf(values).any() and torch.isnan(values).any()


# --- help as a ladder, teaching solutions, notebooks (issue 17 §2) -------------------------------------


def test_a_failed_check_says_how_to_ask_for_more_help():
    result = check("gae", lambda *a: (np.zeros(len(a[0])), np.zeros(len(a[0]))))
    text = result.text()
    assert 'hint(\'gae\')' in text and "hint('gae', 2)" in text and "hint('gae', 3)" in text
    assert result.hint == get_exercise("gae").hint  # the nudge, not the formula


def test_hint_levels_and_bad_levels():
    assert hint("gae").level == 1 and "hint('gae', 2)" in str(hint("gae"))
    assert "δ_t" in hint("gae", 2).text and "reversed" in hint("gae", 3).text
    assert "solution('gae')" in str(hint("gae", 3))
    for bad in (0, 4, "2", True, 1.5):
        with pytest.raises(ValueError, match="level"):
            hint("gae", bad)
    with pytest.raises(KeyError, match="no exercise"):
        hint("gea")
    assert "**Hint 2 of 3" in hint("gae", 2)._repr_markdown_()


def test_solution_is_the_teaching_version_not_the_library():
    for name in ("group_advantages", "kl_k3", "value_iteration", "sequence_logprobs", "bellman_backup"):
        source = solution(name).source
        assert "course_lib" not in source and "_masked_token_logprobs" not in source
        assert not re.search(r"return (group_advantages|kl_k3|value_iteration)\(", source), source


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_the_registry_knows_every_notebook_that_checks_an_exercise():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        names = {m for c in nb.cells if c.cell_type == "code"
                 for m in re.findall(r"""check\(\s*["']([a-z0-9_]+)["']""", c.source)}
        for name in names:
            assert path.stem in get_exercise(name).all_notebooks, (name, path.stem)
    assert get_exercise("discounted_returns").all_notebooks == ("00_welcome",)
    assert "01_mdp_and_discounted_return" in get_exercise("policy_evaluation").all_notebooks


@pytest.mark.parametrize("ex", ALL, ids=lambda e: e.name)
def test_every_public_library_name_an_exercise_refuses_exists(ex):
    import importlib

    for qualified in ex.library:
        module, _, attr = qualified.partition(":")
        if not attr.startswith("_"):  # private helpers are refused when present, best effort
            assert callable(getattr(importlib.import_module(module), attr)), qualified


def _tuple_loss_exercise():
    # Shaped like the future grpo_loss exercise: a loss returned with its statistics.
    from course_lib.exercises import Case, Exercise, Mistake

    def reference(logp, adv, mask):
        per_token = -(torch.exp(logp - logp.detach()) * adv[:, None]) * mask
        return per_token.sum() / mask.sum(), {"tokens": float(mask.sum())}

    def no_ratio(logp, adv, mask):  # the value is right (ρ = 1), the gradient is gone
        return -(torch.ones_like(logp) * adv[:, None] * mask).sum() / mask.sum(), {}

    gen = torch.Generator().manual_seed(0)
    cases = lambda: [Case((-torch.rand(2, 3, generator=gen), torch.randn(2, generator=gen),  # noqa: E731
                           torch.tensor([[1.0, 1, 0], [1, 0, 0]])))]
    return Exercise("tuple_loss", reference, cases, "f(logp, adv, mask) -> (loss, stats)",
                    mistakes=(Mistake("no_ratio", no_ratio, "the ratio carries the gradient"),),
                    grad_args=("logp",), tensor_out=True)


def _judge_in_process(ex, fn):
    from course_lib.exercises import judge, wire

    prep = judge.prepare(ex)
    records = []
    for args, kwargs, weight in prep.calls:
        import copy

        a, k, w = copy.deepcopy((args, kwargs, weight))
        records.append(wire.decode(wire.encode(judge.run_case(fn, a, k, prep.names, w))))
    return judge.judge(prep, records)


def test_a_loss_returned_with_its_statistics_has_its_gradient_checked():
    ex = _tuple_loss_exercise()
    assert _judge_in_process(ex, ex.reference)["status"] == "passed"
    verdict = _judge_in_process(ex, ex.mistakes[0].fn)
    assert verdict["status"] == "failed" and verdict["mistake"] == "no_ratio"
    verdict = _judge_in_process(ex, lambda logp, adv, mask: (0.0, {}))
    assert verdict["mistake"] == "wrong_type" and "backpropagated" in verdict["hint"]


def test_use_if_passed_picks_the_learners_function_only_after_a_pass(capsys):
    from course_lib.exercises import use_if_passed
    from course_lib.exercises.catalog.mdp import teaching_discounted_returns as mine

    library = object()
    assert use_if_passed(check("discounted_returns", mine), mine, library) is mine
    assert "Using your" in capsys.readouterr().out
    wrong = lambda rewards, gamma, dones=None: np.zeros(len(rewards))  # noqa: E731
    assert use_if_passed(check("discounted_returns", wrong), wrong, library) is library
    assert "using course_lib's version" in capsys.readouterr().out
