"""The run doctor: each finding on tiny hand-made histories (fires / silent), then both directions on
small seeded runs (fires on the run with the planted fault, silent on the healthy default), the
saved-History command, the live panel and the token view."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib.diagnose import CHECKS, FINDINGS, diagnose, first_firing, format_findings, history_until, run_kind
from course_lib.runs import History, RunOptions, history_of

ROOT = Path(__file__).resolve().parents[1]
rng = np.random.default_rng(0)


def names(hist, **kw):
    return {f.name for f in diagnose(hist, **kw)}


def grpo_hist(n=30, zero_var=0.3, reward=None, accuracy=None, fmt=None, loss=0.0, entropy=0.7, kl=0.0, clip=0.0,
              eval_accuracy=(0.43, 0.45)):
    h = History(updates=("step", "reward", "accuracy", "format_rate", "zero_variance_frac", "groups_used", "loss",
                         "clip_fraction", "kl", "entropy_proxy", "completion_len"),
                evals=("eval_step", "eval_accuracy"), config={"trainer": "grpo", "prompts_per_step": 32, "group_size": 8})
    acc = accuracy if accuracy is not None else np.linspace(0.2, 0.3, n) + rng.normal(0, 0.01, n)
    fmt = fmt if fmt is not None else np.full(n, 0.99)
    rew = reward if reward is not None else np.asarray(acc) + np.asarray(fmt)
    for i in range(n):
        val = lambda x: float(x[i]) if np.ndim(x) else float(x)  # noqa: E731
        h.record("updates", {"step": i + 1, "reward": val(rew), "accuracy": val(acc), "format_rate": val(fmt),
                             "zero_variance_frac": val(zero_var), "groups_used": 32, "loss": val(loss),
                             "clip_fraction": val(clip), "kl": val(kl), "entropy_proxy": val(entropy),
                             "completion_len": 3.2})
    for j, a in enumerate(eval_accuracy):
        h.record("evals", {"eval_step": j * (n // max(1, len(eval_accuracy) - 1)), "eval_accuracy": a})
    return h


def ppo_hist(n=100, approx_kl=0.005, policy_loss=-0.01, ev=0.8, value_loss=5.0, entropy=None, returns=None,
             lengths=None, terminated=None):
    h = History(updates=("env_steps", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                         "explained_variance"),
                episodes=("episode_steps", "episode_returns", "episode_lengths", "episode_terminated"),
                config={"trainer": "ppo"})
    ent = entropy if entropy is not None else np.linspace(0.69, 0.3, n)
    for i in range(n):
        val = lambda x: float(x[i]) if np.ndim(x) else float(x)  # noqa: E731
        h.record("updates", {"env_steps": 256 * (i + 1), "policy_loss": val(policy_loss), "value_loss": val(value_loss),
                             "entropy": val(ent), "approx_kl": val(approx_kl), "clip_fraction": 0.1,
                             "explained_variance": val(ev)})
    rets = returns if returns is not None else np.linspace(20, 500, 150)
    lens = lengths if lengths is not None else np.minimum(rets, 500)
    term = terminated if terminated is not None else lens < 500
    for i, (r, L, t) in enumerate(zip(rets, lens, term)):
        h.record("episodes", {"episode_steps": int(256 * n * (i + 1) / len(rets)), "episode_returns": float(r),
                              "episode_lengths": int(L), "episode_terminated": bool(t)})
    return h


# ---- tiny hand-made histories, one per finding ----------------------------------------------------
def test_every_finding_is_documented_and_registered():
    assert set(FINDINGS) == set(CHECKS)
    for name, doc in FINDINGS.items():
        assert doc.teaches and doc.what_to_try and doc.severity in ("info", "warning", "error"), name
        assert "notebook" in doc.teaches, name


def test_healthy_hand_made_runs_are_silent():
    assert names(grpo_hist(), include_info=False) == set()
    assert names(ppo_hist()) == set()


def test_zero_variance_groups_fires_and_names_the_cause():
    cold = grpo_hist(zero_var=0.9, entropy=0.1)
    f = [f for f in diagnose(cold) if f.name == "zero_variance_groups"][0]
    assert "temperature" in f.evidence["detail"]
    assert "zero_variance_groups" not in names(grpo_hist(zero_var=0.4))


def test_loss_is_zero_is_info_only():
    f = [f for f in diagnose(grpo_hist()) if f.name == "loss_is_zero"]
    assert f and f[0].severity == "info"
    assert "loss_is_zero" not in names(grpo_hist(loss=rng.normal(0, 0.1, 30)))


def test_reward_at_format_level_both_ways():
    n = 30
    acc = np.linspace(0.2, 0.05, n) + rng.normal(0, 0.01, n)
    fmt = np.clip(np.linspace(0.95, 1.0, n) + rng.normal(0, 0.003, n), 0, 1)
    assert "reward_at_format_level" in names(grpo_hist(reward=fmt, accuracy=acc, fmt=fmt))  # pays only the format
    stuck = np.full(n, 0.01)
    assert "reward_at_format_level" in names(grpo_hist(accuracy=stuck))  # r1 reward, accuracy stuck at 0
    assert "reward_at_format_level" not in names(grpo_hist())


def test_reward_collapse_and_reward_hacking():
    collapse = grpo_hist(eval_accuracy=(0.43, 0.01, 0.01))
    assert "reward_collapse" in names(collapse)
    dip = grpo_hist(eval_accuracy=(0.43, 0.30, 0.45))  # notebook 08's early dip, recovered: not a collapse
    assert "reward_collapse" not in names(dip)
    n = 30
    acc = np.linspace(0.2, 0.1, n)
    hack = grpo_hist(reward=np.linspace(1.0, 2.0, n) + rng.normal(0, 0.01, n), accuracy=acc,
                     eval_accuracy=(0.43, 0.35, 0.30))
    f = [f for f in diagnose(hack) if f.name == "reward_hacking"]
    assert f and f[0].severity == "error" and "outside the noise" in f[0].evidence["detail"]
    same_gold = grpo_hist(reward=np.linspace(1.0, 2.0, n) + rng.normal(0, 0.01, n), eval_accuracy=(0.43, 0.42))
    assert "reward_hacking" not in names(same_gold)


def test_entropy_kl_and_clip():
    assert "entropy_collapse" in names(grpo_hist(entropy=np.linspace(0.7, 0.1, 30)))
    assert "entropy_collapse" not in names(grpo_hist(entropy=np.linspace(0.7, 0.5, 30)))
    assert "kl_runaway" in names(grpo_hist(kl=np.linspace(0.0, 4.0, 30)))
    assert "kl_runaway" not in names(grpo_hist(kl=np.linspace(0.0, 0.6, 30)))
    assert "step_too_large" in names(grpo_hist(clip=np.full(30, 0.45)))
    assert "step_too_large" in names(ppo_hist(approx_kl=np.r_[np.full(20, 0.08), np.full(80, 0.005)]))
    assert "step_too_large" not in names(ppo_hist(approx_kl=0.02))


def test_value_findings():
    collapsed = ppo_hist(ev=np.r_[np.full(50, 0.9), np.full(50, -4.0)])
    f = [f for f in diagnose(collapsed) if f.name == "value_not_learning"][0]
    assert f.evidence["values"]["had_learned"] is True
    assert "value_not_learning" not in names(ppo_hist(ev=np.r_[np.full(50, 0.9), np.full(50, -0.2)]))
    assert "value_loss_exploding" in names(ppo_hist(value_loss=np.r_[np.full(50, 1.0), np.full(50, 500.0)]))
    assert "value_loss_exploding" not in names(ppo_hist(value_loss=np.linspace(6.0, 0.01, 100)))


def test_nonfinite_and_spiking_loss():
    vl = np.full(100, 2.0) + rng.normal(0, 0.1, 100)
    vl[70] = np.nan
    f = [f for f in diagnose(ppo_hist(value_loss=vl)) if f.name == "loss_not_finite"][0]
    assert f.severity == "error" and f.step == 256 * 71
    spike = np.full(100, 2.0) + rng.normal(0, 0.1, 100)
    spike[80] = 80.0
    assert "loss_spike" in names(ppo_hist(value_loss=spike))
    h = grpo_hist(loss=np.nan)  # GRPO's NaN loss for a step with no group left (dynamic sampling) is no alarm
    for i in range(len(h["groups_used"])):
        h["groups_used"][i] = 0
    assert "loss_not_finite" not in names(h)


def test_cartpole_findings():
    flat = ppo_hist(returns=rng.normal(20, 5, 150).clip(8))
    assert "no_improvement" in names(flat)
    early = ppo_hist(entropy=np.r_[np.full(10, 0.69), np.full(90, 0.01)], returns=rng.normal(25, 5, 150).clip(8))
    assert "entropy_gone_early" in names(early)
    assert "advantages_unnormalised" in names(ppo_hist(policy_loss=-3.0))
    lens = np.r_[np.linspace(20, 400, 100), np.full(50, 500)]
    assert "truncation_as_termination" in names(ppo_hist(returns=lens, lengths=lens, terminated=np.ones(150, bool)))
    assert "truncation_as_termination" not in names(ppo_hist(returns=lens, lengths=lens, terminated=lens < 500))


def test_answers_narrowing_reads_the_batch():
    class Batch:
        group_size = 8
        completions = ["12"] * 8 * 4
    assert "answers_narrowing" in names(grpo_hist(), batch=Batch())
    Batch.completions = [str(i % 5) for i in range(32)]
    assert "answers_narrowing" not in names(grpo_hist(), batch=Batch())


def test_history_until_and_first_firing():
    h = ppo_hist(approx_kl=np.r_[np.full(40, 0.005), np.full(60, 0.08)])
    part = history_until(h, 30)
    assert len(part["approx_kl"]) == 30 and part["episode_steps"][-1] <= part["env_steps"][-1]
    assert first_firing(h, "step_too_large") == 256 * 42  # (3 × 0.005 + 2 × 0.08) / 5 > 0.03
    with pytest.raises(ValueError, match="name must be one of"):
        first_firing(h, "nope")
    with pytest.raises(ValueError, match="history must be"):
        diagnose([1, 2])


def test_run_kind():
    assert run_kind(ppo_hist()) == "cartpole" and run_kind(grpo_hist()) == "grpo"
    trl = history_of({"step": [1, 2], "reward": [1.0, 1.1], "loss": [0.0, 0.0], "eval_step": [0],
                               "eval_accuracy": [0.4]})
    assert run_kind(trl) == "trl"


# ---- the saved History and the command -----------------------------------------------------------
def test_history_save_load_roundtrip(tmp_path):
    h = ppo_hist()
    h["model"] = object()  # not JSON: left out, named
    p = h.save(tmp_path / "run.json")
    back = History.load(p)
    assert back.kinds == h.kinds and back["approx_kl"] == h["approx_kl"] and "model" not in back
    assert json.loads(p.read_text())["left_out"] == ["model"]
    with pytest.raises(ValueError, match="no such file"):
        History.load(tmp_path / "missing.json")


def test_diagnose_command_reads_a_trl_shaped_history(tmp_path):
    """A TRL run exported by hf.trl_grpo.train_with_trl: step, reward, loss, eval_* and the model."""
    n = 30
    trl = history_of({"model": object(), "step": list(range(1, n + 1)),
                               "reward": list(np.linspace(1.0, 1.9, n)), "loss": [0.0] * n,
                               "eval_step": [0, 15, 30], "eval_accuracy": [0.43, 0.2, 0.05],
                               "eval_format_rate": [1.0, 1.0, 1.0], "train_seconds": 3.0, "config": {"lr": 5e-4}})
    p = trl.save(tmp_path / "trl.json")
    out = subprocess.run([sys.executable, "-m", "course_lib", "diagnose", str(p)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 1, out.stderr  # an error-level finding
    assert "a trl run, 30 updates" in out.stdout and "reward_hacking" in out.stdout and "loss_is_zero" in out.stdout
    assert out.stdout.strip().endswith(format_findings(diagnose(History.load(p))).splitlines()[-1])


# ---- both directions on small seeded runs --------------------------------------------------------
@pytest.fixture(scope="module")
def ppo_runs():
    from course_lib.experiments import diagnose_runs as dr

    return {name: dr.train(name, 0, total_steps=40_000) for name in
            ("ppo", "ppo_unnormalised_advantages", "ppo_truncation_as_termination", "ppo_lr_x10")}


def test_ppo_healthy_is_silent_and_each_fault_is_named(ppo_runs):
    assert names(ppo_runs["ppo"]) == set()
    assert "advantages_unnormalised" in names(ppo_runs["ppo_unnormalised_advantages"])
    assert "truncation_as_termination" in names(ppo_runs["ppo_truncation_as_termination"])
    assert "step_too_large" in names(ppo_runs["ppo_lr_x10"])


def test_grpo_healthy_is_silent_and_format_only_is_named():
    from course_lib.experiments import diagnose_runs as dr

    healthy = dr.train("grpo", 0, steps=15)
    assert names(healthy, include_info=False) == set()
    broken = dr.train("grpo_format_only", 0, steps=15)
    assert {"reward_at_format_level", "zero_variance_groups"} <= names(broken)
    cold = dr.train("grpo_cold", 0, steps=8, eval_every=8)
    f = [f for f in diagnose(cold) if f.name == "zero_variance_groups"]
    assert f and "temperature too low" in f[0].evidence["detail"]


def test_cached_rlhf_sweep_hacked_runs_fire_and_the_leashed_one_is_silent():
    """Notebook 07's measured sweep (data/rlhf/sweep.json): against the length-biased reward model, β = 0
    is hacked (proxy up, gold down); β = 0.5 holds the policy near the reference."""
    from course_lib.experiments import rlhf_sweep

    sweep = rlhf_sweep.load_sweep()

    def hist(beta):
        run = rlhf_sweep.find_run(sweep, beta, "strong")
        h = history_of({k: v for k, v in run.items() if isinstance(v, list)})
        h["config"] = {"trainer": "rlhf"}
        return h

    assert {"reward_hacking", "kl_runaway"} <= names(hist(0.0))
    assert names(hist(0.5), include_info=False) == set()


# ---- the panel and the token view ------------------------------------------------------------------
def test_panel_is_a_log_sink_and_prints_findings_headless(capsys, ppo_runs):
    from course_lib.experiments import diagnose_runs as dr
    from course_lib.widgets.diagnose import DiagnosePanel

    panel = DiagnosePanel(every=5, min_seconds=0, max_overhead=None, display="text")  # redraw whenever due
    hist = dr.ppo_run(0, total_steps=8_000, normalize_advantages=False, run=RunOptions(log=panel))
    assert panel.n == len(hist["approx_kl"]) and panel.redraws >= 1
    assert "advantages_unnormalised" in capsys.readouterr().out
    assert {f.name for f in panel.finish(ppo_runs["ppo_truncation_as_termination"])} >= {"truncation_as_termination"}
    with pytest.raises(ValueError, match="record must be a dict"):
        panel([1])


def test_panel_and_token_figures_draw():
    import copy

    import torch

    from course_lib.diagnose import token_view
    from course_lib.experiments import diagnose_runs as dr
    from course_lib.lmrl import sample_rollouts
    from course_lib.plotting.diagnose import panel_figure, token_view_figure
    from course_lib.rewards import r1_reward
    from course_lib import tasks

    fig = panel_figure(grpo_hist(zero_var=0.9), diagnose(grpo_hist(zero_var=0.9)))
    assert "zero_variance_groups" in fig._suptitle.get_text()
    model, tok = dr.sft_model()
    probs = tasks.sample_problems(4, seed=1)
    batch = sample_rollouts(model, tok, [p.prompt for p in probs], group_size=4, max_new_tokens=4, temperature=0.7,
                            generator=torch.Generator().manual_seed(0), reward_fn=r1_reward,
                            columns={"answer": [p.answer for p in probs]})
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(0.05 * torch.randn_like(p))
    view = token_view(batch, moved, model, tok, rows=6)
    assert view["adv"].shape == view["kl"].shape == (6, batch.mask.shape[1])
    real = view["mask"]
    assert np.all(np.nan_to_num(view["kl"][real]) >= 0) and np.isnan(view["kl"][~real]).all()
    assert 0 < np.nanmax(view["p_policy"]) <= 1
    same = token_view(batch, model, model, tok, rows=6)  # π = π_old = π_ref: ratio 1, nothing clipped, KL 0
    assert np.nanmax(same["clipped"]) == 0 and np.nanmax(np.abs(same["kl"])) < 1e-5
    token_view_figure(view, n=4)


def test_diagnose_command_on_a_real_trl_run(tmp_path, capsys):
    pytest.importorskip("trl")
    from course_lib import tasks
    from course_lib.diagnose.cli import main
    from course_lib.experiments import diagnose_runs as dr
    from course_lib.grpo import GRPOConfig
    from course_lib.hf.trl_grpo import train_with_trl

    model, tok = dr.sft_model()
    hist = train_with_trl(model, GRPOConfig(steps=2, prompts_per_step=4, group_size=4, seed=0), tokenizer=tok,
                          eval_set=tasks.eval_problems()[:20])
    path = hist.save(tmp_path / "trl.json")
    assert "model" in json.loads(path.read_text())["left_out"]
    assert main([str(path)]) in (0, 1)
    assert "a trl run, 2 updates" in capsys.readouterr().out
