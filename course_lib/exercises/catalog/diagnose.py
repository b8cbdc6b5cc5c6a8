"""The exercise of notebook 11 (why isn't it learning?): name the planted fault of each broken run.

Six runs (A-F, ``course_lib.experiments.diagnose_runs``) each carry one planted fault. From the run
doctor's panel the learner names, for each, the finding that points at the fault and the setting
that fixes it: ``name_the_fault(run) -> (finding, change)``, e.g. ``("zero_variance_groups",
{"temperature": 0.7})``. A finding counts when it is one that the doctor raises on that run and that
points at its fault (a symptom shared by several faults does not); a change counts when it undoes
the fault (a range, not one number).
"""
from __future__ import annotations

from ..registry import Case, Exercise, Mistake, register

# run label -> (the recipe of experiments.diagnose_runs, accepted findings, the fix: {setting: (op, value)})
RUNS = {
    "A": ("grpo_format_only", ("reward_at_format_level", "reward_hacking"),
          {"reward_fn": ("in", ("r1_reward", "accuracy_reward"))}),
    "B": ("ppo_truncation_as_termination", ("truncation_as_termination",), {"truncation_as_termination": ("==", False)}),
    "C": ("grpo_cold", ("zero_variance_groups",), {"temperature": (">=", 0.5)}),
    "D": ("ppo_lr_x10", ("step_too_large", "value_not_learning"), {"lr": ("<=", 2e-3)}),
    # against this strongly length-biased reward model notebook 07's sweep is hacked at β = 0, 0.02 and 0.1; 0.5 holds
    "E": ("rlhf_beta0_length_rm", ("reward_hacking", "kl_runaway"), {"beta": (">=", 0.5)}),
    "F": ("ppo_unnormalised_advantages", ("advantages_unnormalised",), {"normalize_advantages": ("==", True)}),
}


def _cases() -> list[Case]:
    return [Case((label,), label=f"run {label}") for label in RUNS]


def fault_spec(run: str) -> dict:
    """What counts as the answer for ``run``: the accepted findings and the fix (setting -> (op, value))."""
    if run not in RUNS:
        raise ValueError(f"run must be one of {sorted(RUNS)}, got {run!r}")
    _, findings, fix = RUNS[run]
    return {"findings": list(findings), "change": {k: list(v) for k, v in fix.items()}}


def _holds(value, op: str, target) -> bool:
    if op == "in":
        return value in tuple(target)
    if op == "==":
        return type(value) is type(target) and value == target
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return {">=": value >= target, "<=": value <= target, ">": value > target}[op]


def _same_value(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    return type(a) is type(b) and a == b


def _compare(got, expected) -> str | None:
    """None when ``got`` answers like ``expected`` (a spec from ``fault_spec``, or another answer)."""
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not isinstance(got[0], str) or not isinstance(got[1], dict):
        return f"expected a pair (finding name, {{setting: value}}), got {got!r}"
    finding, change = got
    if isinstance(expected, (tuple, list)):  # a mistake's answer: the same finding, settings and values
        same = finding == expected[0] and set(change) == set(expected[1]) and all(
            _same_value(change[k], expected[1][k]) for k in change)
        return None if same else f"{got!r} is not {expected!r}"
    if finding not in expected["findings"]:
        return (f"the finding {finding!r} does not name this run's fault (it may fire here too, but other faults "
                f"raise it as well, or it does not fire on this run)")
    want = expected["change"]
    if set(change) != set(want):
        return f"the change {change!r} touches {sorted(change)}; this run's fault is in one setting, not those"
    for key, (op, target) in want.items():
        if not _holds(change[key], op, target):
            return f"{key}={change[key]!r} does not undo the fault"
    return None


def teaching_name_the_fault(run):
    """Each broken run: the finding that names its fault on the panel, and the setting that fixes it."""
    answers = {
        "A": ("reward_at_format_level", {"reward_fn": "r1_reward"}),  # reward uncorrelated with gold accuracy
        "B": ("truncation_as_termination", {"truncation_as_termination": False}),  # 500-step ends 'terminated'
        "C": ("zero_variance_groups", {"temperature": 0.7}),  # entropy ~0.1 nats from step 1: identical samples
        "D": ("step_too_large", {"lr": 1e-3}),  # approx KL above 0.03, then the value net unlearns
        "E": ("reward_hacking", {"beta": 0.5}),  # proxy up, gold down, answers longer
        "F": ("advantages_unnormalised", {"normalize_advantages": True}),  # |policy loss| ~3, not ~0.01
    }
    return answers[run]


def _answer_with(run: str, label: str, wrong):
    return wrong if run == label else teaching_name_the_fault(run)


def _format_run_blamed_on_temperature(run):
    return _answer_with(run, "A", ("zero_variance_groups", {"temperature": 1.0}))


def _cold_run_given_bigger_groups(run):
    return _answer_with(run, "C", ("zero_variance_groups", {"group_size": 16}))


def _unnormalised_blamed_on_lr(run):
    return _answer_with(run, "F", ("step_too_large", {"lr": 1e-4}))


def _hacking_fixed_by_swapping_the_reward(run):
    return _answer_with(run, "E", ("reward_hacking", {"reward_fn": "r1_reward"}))


def _beta_back_to_instructgpt(run):
    return _answer_with(run, "E", ("reward_hacking", {"beta": 0.02}))


def _lr_blamed_on_the_value_loss_weight(run):
    return _answer_with(run, "D", ("value_not_learning", {"vf_coef": 0.25}))


register(Exercise(
    name="name_the_fault",
    reference=fault_spec,
    cases=_cases,
    signature="name_the_fault(run) -> (finding, {setting: value})",
    notebook="11_why_isnt_it_learning",
    compare=_compare,
    teaching=teaching_name_the_fault,
    hint="Read each run's panel: which finding is raised, and what does its evidence say (which series, from which "
         "step)? Several faults share a symptom (equal-reward groups, a falling reward); pick the finding whose "
         "evidence only this fault explains, then the one setting of the recipe that undoes it.",
    formula="One finding each: reward_at_format_level (the reward does not move with gold accuracy), "
            "truncation_as_termination (every episode at the 500-step limit recorded as terminated), "
            "zero_variance_groups with near-zero entropy from step 1 (identical samples), step_too_large (approx KL "
            "above 0.03, then the value net unlearns), reward_hacking (proxy up, gold down, answers longer), "
            "advantages_unnormalised (|policy loss| in raw return units). Match each to the run that shows it.",
    code_hint="return {\"A\": (finding, {setting: value}), ...}[run]: the settings are the recipe's: reward_fn "
              "(\"r1_reward\"), truncation_as_termination (False), temperature (0.7), lr (1e-3), beta (0.5), "
              "normalize_advantages (True).",
    mistakes=(
        Mistake("format_run_blamed_on_temperature", _format_run_blamed_on_temperature,
                "Run A's groups are equal-reward, but not because the samples are alike: its entropy stays near "
                "0.7 nats. Every answer is well formatted, and the reward pays only the format, so every group "
                "scores alike. reward_at_format_level shows it (the reward does not move with gold accuracy): "
                "give it a reward that pays correct answers (reward_fn=\"r1_reward\")."),
        Mistake("cold_run_given_bigger_groups", _cold_run_given_bigger_groups,
                "A larger group does not help run C: its sampled tokens' entropy is about 0.1 nats from the first "
                "step, so 16 samples are as alike as 8. The sampling temperature was lowered; put it back "
                "(temperature 0.7)."),
        Mistake("unnormalised_blamed_on_lr", _unnormalised_blamed_on_lr,
                "Run F's approximate KL stays below the 0.03 line: its steps are not too large. Its policy loss is "
                "about 3 instead of 0.01 because the advantages are in raw return units: standardise them "
                "(normalize_advantages=True) rather than shrinking the learning rate."),
        Mistake("hacking_fixed_by_swapping_the_reward", _hacking_fixed_by_swapping_the_reward,
                "Replacing the reward model with the verifier works only where a verifier exists. The fault planted "
                "in run E is the missing KL leash: β = 0 lets the policy run far from the reference, where the "
                "reward model's length bias pays. Raise β (0.5 holds against this reward model)."),
        Mistake("beta_back_to_instructgpt", _beta_back_to_instructgpt,
                "β = 0.02 is InstructGPT's setting, but against this strongly length-biased reward model it is too "
                "weak a leash: notebook 07's sweep still measures the gold falling at β = 0.02 and 0.1 while the "
                "reward model's score climbs. Use β = 0.5, the weight at which the gold holds."),
        Mistake("lr_blamed_on_the_value_loss_weight", _lr_blamed_on_the_value_loss_weight,
                "Run D's value net collapses, but its policy steps are too large as well (approximate KL above "
                "0.03 from the first updates): both come from the learning rate, ten times the tuned 1e-3. "
                "Lower lr; the value loss's weight is not what changed."),
    ),
))
