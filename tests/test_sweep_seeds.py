"""The multi-seed parts of the cached sweeps: notebook 09's trends rest on three seeds (runs.json's
"seeds", seed 0 being the run itself), and ``sweep grpo --only seeds`` adds seeds to the G × β grid."""
from __future__ import annotations

import pytest

from course_lib import pitfalls
from course_lib.experiments import grpo_sweep, pitfalls_sweep


def test_every_trend_run_of_notebook_09_is_cached_on_three_seeds():
    runs = pitfalls.load_cached("runs")
    for name in pitfalls_sweep.SEED_RUNS:
        seeds = runs["seeds"][name]
        assert sorted(seeds) == ["0", "1", "2"], name
        assert seeds["0"]["eval_accuracy"] == runs["runs"][name]["eval_accuracy"]  # seed 0 is the run itself
        assert seeds["1"]["eval_accuracy"] != seeds["2"]["eval_accuracy"]  # another seed, another run
        assert len(seeds["1"]["pass"]["correct_counts"]) == runs["pass_problems"]


def test_the_seeds_part_refuses_an_unknown_run():
    with pytest.raises(ValueError, match="unknown"):
        pitfalls_sweep.build_seeds(names=("no_such_run",))


def test_the_grpo_grid_on_more_seeds():
    sweep = grpo_sweep.run_sweep(group_sizes=(2,), betas=(0.0,), steps=1, completions_per_step=8, eval_every=1)
    over = grpo_sweep.run_seeds(sweep, seeds=(1,))
    assert over["seeds"] == [0, 1] and set(over["runs"]) == {"2,0"}
    assert set(over["runs"]["2,0"]) == {"0", "1"}
    sweep["over_seeds"] = over
    assert len(grpo_sweep.seed_values(sweep, 2, 0.0)) == 2
    with pytest.raises(ValueError, match="key"):
        grpo_sweep.seed_values(sweep, 2, 0.0, key="loss")
    # without "over_seeds", the one run
    assert grpo_sweep.seed_values(grpo_sweep.load_sweep(), 8, 0.0) == [grpo_sweep.find_run(grpo_sweep.load_sweep(), 8, 0.0)["eval_accuracy"][-1]]
