"""The equal-time row of ``bench rlhf`` never compares a trained run with the other's untrained start."""
from course_lib.experiments import bench_rlhf as B

COST = {n: {"state": {"rows": [{"name": "policy", "role": "trained", "params": 10, "total": 160}],
                      "params": 10, "total": 160},
            "step": {"sampling": 0.1, "scoring": 0.2, "update": 0.3, "total": 0.6, "peak_bytes": 2**20,
                     "peak_method": "test"}} for n in (B.PPO_NAME, B.GRPO_NAME)}


def rec(steps, acc, secs, seed=0):
    return {"seed": seed, "eval_step": steps, "eval_accuracy": acc, "steps": steps[-1], "train_seconds": secs,
            "completions_per_step": 512}


def test_grpo_done_before_ppos_first_evaluation_is_not_comparable():
    # PPO: 40 s for 10 steps, evaluations at 0 (untrained, 40 %) and 10 (60 %) = 0 s and 40 s.
    # GRPO: 10 s for 10 steps, 53.4 % at the end. Within GRPO's 10 s PPO made only its start evaluation:
    # the old code read PPO's 40 % there and printed "+13.4 points, outside the noise".
    runs = [{B.PPO_NAME: rec([0, 10], [0.40, 0.60], 40.0), B.GRPO_NAME: rec([0, 5, 10], [0.40, 0.50, 0.534], 10.0)}]
    s = B.summarize(COST, runs)
    assert s[B.PPO_NAME]["accuracy_equal_time"] is None and s[B.GRPO_NAME]["accuracy_equal_time"] is None
    assert s[B.PPO_NAME]["accuracy_equal_time_runs"] == [None] and s[B.PPO_NAME]["not_comparable_time"] == [0]
    assert "accuracy_equal_time" not in B.differences(s)
    table = B.format_table(s)
    assert "+13.4 points" not in table and "outside the noise" not in table.splitlines()[-1]
    assert "| not comparable | not comparable |" in table
    assert table.splitlines()[-1].startswith("  at equal training time: not comparable")
    assert "10 s" in table.splitlines()[-1]
    # the equal-completions row is untouched (both evaluated at step 10)
    assert s[B.PPO_NAME]["accuracy_equal_completions"] == 0.60


def test_a_comparable_seed_is_kept_and_the_refused_one_named():
    ok = {B.PPO_NAME: rec([0, 5, 10], [0.4, 0.5, 0.7], 40.0, seed=1),
          B.GRPO_NAME: rec([0, 5, 10], [0.4, 0.66, 0.68], 20.0, seed=1)}
    bad = {B.PPO_NAME: rec([0, 10], [0.40, 0.60], 40.0, seed=2),
           B.GRPO_NAME: rec([0, 5, 10], [0.40, 0.50, 0.534], 10.0, seed=2)}
    s = B.summarize(COST, [ok, bad])
    assert s[B.PPO_NAME]["accuracy_equal_time_runs"] == [0.5, None]
    assert s[B.PPO_NAME]["accuracy_equal_time"] == 0.5 and s[B.GRPO_NAME]["accuracy_equal_time"] == 0.68
    assert s[B.GRPO_NAME]["not_comparable_time"] == [2]
    last = B.format_table(s).splitlines()[-1]
    assert "+18.0 points" in last and "not comparable" in last and "seed(s) [2]" in last
