"""Notebook 08's support code: figures, the G × β slider, and the cached sweep and ablation."""
import json

import matplotlib
import pytest
from matplotlib.figure import Figure

matplotlib.use("Agg")

from course_lib.data import data_path  # noqa: E402
from course_lib.experiments.grpo_sweep import (  # noqa: E402
    ABLATION_SEEDS, ABLATION_VARIANTS, COMPLETIONS_PER_STEP, SWEEP_BETA, SWEEP_G, find_run, load_ablation, load_sweep,
    run_ablation, run_sweep, summary_rows, sweep_config, train_report_snippet,
)
from course_lib.plotting import grpo as gplots  # noqa: E402


@pytest.fixture(scope="module")
def sweep():
    return load_sweep()


@pytest.fixture(scope="module")
def ablation():
    return load_ablation()


# --- the cache -------------------------------------------------------------------------------


def test_cached_sweep_has_every_G_and_beta_with_a_fixed_completion_budget(sweep):
    assert sweep["schema"] == "course_lib.grpo.sweep/1"
    assert sorted(sweep["G"]) == sorted(SWEEP_G) and sorted(sweep["beta"]) == sorted(SWEEP_BETA)
    assert len(sweep["runs"]) == len(SWEEP_G) * len(SWEEP_BETA)
    steps = sweep["settings"]["steps"]
    for G in SWEEP_G:
        for beta in SWEEP_BETA:
            run = find_run(sweep, G, beta)
            assert run["prompts_per_step"] * G == COMPLETIONS_PER_STEP
            assert run["step"] == list(range(1, steps + 1))
            assert len(run["kl"]) == len(run["zero_variance_frac"]) == steps
            assert run["eval_step"][0] == 0 and run["eval_step"][-1] == steps
            assert all(0.0 <= a <= 1.0 for a in run["eval_accuracy"])
            assert all(0.0 <= z <= 1.0 for z in run["zero_variance_frac"])
            assert run["eval_accuracy"][0] == pytest.approx(0.432, abs=0.03)  # the shipped SFT model


def test_cached_sweep_learns_and_beta_holds_the_policy_near_the_reference(sweep):
    for run in sweep["runs"]:  # every setting improves on the SFT model within its 100 steps
        assert run["eval_accuracy"][-1] > run["eval_accuracy"][0] + 0.05, (run["G"], run["beta"])
    for G in SWEEP_G:
        kl = [find_run(sweep, G, b)["kl"][-1] for b in sorted(SWEEP_BETA)]
        assert kl[-1] < kl[0], G  # the largest β ends closer to the reference than β = 0


def test_cached_ablation_has_every_variant_and_seed_and_grpo_beats_the_snippet(ablation):
    assert ablation["schema"] == "course_lib.grpo.ablation/2"
    assert {(r["name"], r["seed"]) for r in ablation["runs"]} == {
        (v, s) for v in ABLATION_VARIANTS for s in ABLATION_SEEDS}
    final = {v: [r["eval_accuracy"][-1] for r in ablation["runs"] if r["name"] == v] for v in ABLATION_VARIANTS}
    for r in ablation["runs"]:
        assert r["eval_step"][0] == 0 and len(r["eval_step"]) == len(r["eval_accuracy"])
        assert r["eval_accuracy"][0] == pytest.approx(0.432, abs=0.03)
    # the completion mask is worth several points on every seed (what notebook 08 says)
    assert min(final["report snippet + mask"]) > max(final["report snippet"])
    assert sum(final["GRPO"]) > sum(final["report snippet"])


def test_shipped_grpo_data_is_small():
    total = sum(data_path(f"grpo/{n}").stat().st_size for n in ("sweep.json", "ablation.json"))
    assert total < 1_000_000
    json.loads(data_path("grpo/sweep.json").read_text())


def test_find_run_and_sweep_config_reject_bad_values(sweep):
    with pytest.raises(ValueError, match="no run with G=3"):
        find_run(sweep, 3, 0.0)
    with pytest.raises(ValueError, match="load_sweep"):
        find_run({"nope": 1}, 8, 0.0)
    with pytest.raises(ValueError, match="divisible"):
        sweep_config(3, 0.0)
    with pytest.raises(ValueError, match="group_size"):
        sweep_config(1, 0.0)
    with pytest.raises(ValueError, match="jobs"):
        run_sweep(jobs=0)
    with pytest.raises(ValueError, match="variants"):
        run_ablation(variants=("PPO",))
    cfg = sweep_config(16, 0.04)
    assert cfg.prompts_per_step == COMPLETIONS_PER_STEP // 16 and cfg.beta == 0.04


def test_summary_rows_match_the_runs(sweep):
    rows = summary_rows(sweep)
    assert len(rows) == len(sweep["runs"])
    for row in rows:
        run = find_run(sweep, row["G"], row["beta"])
        assert row["final_accuracy"] == run["eval_accuracy"][-1]
        assert row["best_accuracy"] >= row["final_accuracy"]


def test_a_tiny_sweep_and_snippet_run_produce_the_cached_format():
    small = run_sweep((2, 4), (0.0,), steps=2, eval_every=1, completions_per_step=16)
    assert [(r["G"], r["beta"]) for r in small["runs"]] == [(2, 0.0), (4, 0.0)]
    assert small["runs"][0]["eval_step"] == [0, 1, 2]
    gplots.sweep_figure(small, 4, 0.0)  # the figure accepts a freshly computed sweep

    from course_lib import tasks
    from course_lib.grpo import GRPOConfig
    from course_lib.lm import load_shipped

    model, tok, _ = load_shipped("sft")  # its samples disagree, so the batch has a gradient
    before = [p.detach().clone() for p in model.parameters()]
    h = train_report_snippet(model, GRPOConfig(group_size=4, prompts_per_step=8, steps=2, eval_every=1),
                             tokenizer=tok, mask_padding=True, eval_set=tasks.eval_dataset()[:16])
    assert h["eval_step"] == [0, 1, 2] and len(h["reward"]) == 2
    assert any(not (a == b).all() for a, b in zip(before, model.parameters()))


# --- figures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rewards,G", [([2, 2, 1, 2, 1, 1, 1, 1], 4), ([0, 1, 2, 0, 0, 0], 3),
                                       ([1.0, 1.0], 2), ([0.5, -1, 3, 2, 7, 7, 7, 7, 1, 0, 0, 0], 4)])
def test_advantages_figure_any_rewards(rewards, G):
    fig = gplots.advantages_figure(rewards, G)
    assert isinstance(fig, Figure)
    bars = fig.axes[1].patches
    assert len(bars) == 2 * len(rewards)  # one per-group and one whole-batch bar per completion


def test_advantages_figure_rejects_bad_input():
    with pytest.raises(ValueError, match="group_size"):
        gplots.advantages_figure([1, 0, 1], 2)
    with pytest.raises(ValueError, match="group_labels"):
        gplots.advantages_figure([1, 0, 1, 0], 2, ["only one"])
    with pytest.raises(ValueError, match="rewards"):
        gplots.advantages_figure([], 2)


@pytest.mark.parametrize("n", [1, 3, 8])
def test_clip_reuse_figure(n):
    rec = {"kl": [0.01 * i for i in range(n)], "ratio_max": [1 + 0.1 * i for i in range(n)],
           "clip_fraction": [0.0] * n}
    fig = gplots.clip_reuse_figure({"clip": rec, "no clip": rec})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    with pytest.raises(ValueError, match="ratio_max"):
        gplots.clip_reuse_figure({"x": {"kl": [1.0], "clip_fraction": [0.0]}})
    with pytest.raises(ValueError, match="records"):
        gplots.clip_reuse_figure({})


def _history(steps, evals, kl=0.0):
    return {"step": list(range(1, steps + 1)), "eval_step": evals, "eval_accuracy": [0.4 + 0.01 * i for i in range(len(evals))],
            "eval_format_rate": [1.0] * len(evals), "zero_variance_frac": [0.3] * steps, "accuracy": [0.5] * steps,
            "entropy_proxy": [0.2] * steps, "kl": [kl] * steps}


@pytest.mark.parametrize("steps,evals,kl,target", [(0, [0], 0.0, None), (3, [0, 3], 0.0, 0.68),
                                                   (50, [0, 25, 50], 0.1, 0.5)])
def test_training_curves(steps, evals, kl, target):
    fig = gplots.training_curves(_history(steps, evals, kl), target=target)
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="eval_step"):
        gplots.training_curves({"step": []})


@pytest.mark.parametrize("G", SWEEP_G)
@pytest.mark.parametrize("beta", SWEEP_BETA)
def test_sweep_figure_every_run(sweep, G, beta):
    fig = gplots.sweep_figure(sweep, G, beta)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert f"G = {G}" in fig._suptitle.get_text()


def test_sweep_grid_and_ablation_figure(sweep, ablation):
    assert isinstance(gplots.sweep_grid(sweep), Figure)
    assert isinstance(gplots.ablation_figure(ablation), Figure)
    one = {"runs": [ablation["runs"][0]]}
    assert isinstance(gplots.ablation_figure(one), Figure)
    with pytest.raises(ValueError):
        gplots.sweep_grid({})
    with pytest.raises(ValueError, match="eval_step"):
        gplots.ablation_figure({"runs": [{"name": "x", "step": [1]}]})
    with pytest.raises(ValueError, match="load_ablation"):
        gplots.ablation_figure({"runs": []})


@pytest.mark.parametrize("results", [{"a": {"accuracy": 0.4, "seconds": 0}},
                                     {"start": {"accuracy": 0.43}, "GRPO": {"accuracy": 0.78, "seconds": 140},
                                      "SFT": {"accuracy": 0.9, "seconds": 13}}])
def test_compute_comparison(results):
    assert isinstance(gplots.compute_comparison(results), Figure)


def test_compute_comparison_rejects_bad_accuracy():
    with pytest.raises(ValueError, match="accuracy"):
        gplots.compute_comparison({"x": {"accuracy": 1.5}})
    with pytest.raises(ValueError, match="non-empty"):
        gplots.compute_comparison({})


# --- the slider ------------------------------------------------------------------------------


def test_sweep_slider_builds_and_redraws(sweep, monkeypatch):
    import ipywidgets as widgets

    from course_lib.widgets import grpo as wgrpo

    calls = []

    def recording_figure(sw, G, beta):
        calls.append((G, beta))
        return gplots.sweep_figure(sw, G, beta)

    monkeypatch.setattr(wgrpo, "sweep_figure", recording_figure)
    box = wgrpo.sweep_slider(sweep, G=7, beta=0.05)  # snaps to the nearest cached run
    g_control, b_control = box.children[0].children
    assert isinstance(g_control, widgets.SelectionSlider) and g_control.value == 8
    assert b_control.value == 0.04
    g_control.value = 16
    b_control.value = 0.2
    assert calls == [(8, 0.04), (16, 0.04), (16, 0.2)]  # drawn once, then once per change
    with pytest.raises(ValueError, match="sweep"):
        wgrpo.sweep_slider({"runs": []})


def test_sweep_slider_loads_the_cache_by_default():
    from course_lib.widgets.grpo import sweep_slider

    box = sweep_slider()
    assert box.children[0].children[0].value == 8


def test_probes_padding_changes_only_the_unmasked_loss_and_the_clip_holds_the_policy_back():
    import torch

    from course_lib import tasks
    from course_lib.experiments import grpo_probes
    from course_lib.grpo import GRPOConfig, group_advantages
    from course_lib.lm import load_shipped
    from course_lib.lmrl import sample_rollouts
    from course_lib.rewards import r1_reward

    model, tok, _ = load_shipped("sft")
    probs = tasks.sample_problems(8, seed=2)
    batch = sample_rollouts(model, tok, [p.prompt for p in probs], group_size=4, max_new_tokens=4, temperature=0.7,
                            generator=torch.Generator().manual_seed(0), reward_fn=r1_reward,
                            columns={"answer": [p.answer for p in probs]})
    adv = group_advantages(batch.rewards, 4)
    rows = grpo_probes.padding_sensitivity(model, batch, adv, extra_columns=(0, 3))
    masked = [r for r in rows if r["masked"]]
    plain = [r for r in rows if not r["masked"]]
    assert all(r["grad_change"] < 1e-5 for r in masked) and masked[0]["loss"] == masked[1]["loss"]
    assert plain[1]["grad_change"] > 1e-3 and plain[1]["loss"] != plain[0]["loss"]
    _, clip = grpo_probes.reuse_batch(model, batch, adv, GRPOConfig(n_epochs=6))
    _, free = grpo_probes.reuse_batch(model, batch, adv, GRPOConfig(n_epochs=6, eps_low=0.999, eps_high=1e9))
    assert len(clip["kl"]) == 6 and clip["kl"][0] < 1e-6 and free["kl"][0] < 1e-6  # before any update
    assert free["kl"][-1] > clip["kl"][-1]
