"""Notebook 09's library: PPO-ptx in train_grpo, the length bias of the loss, the Eureka-style search,
and the cached runs in data/pitfalls/."""
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib import pitfalls, tasks
from course_lib.pitfalls import eureka
from course_lib.grpo import GRPOConfig, train_grpo
from course_lib.lm import load_shipped

ROOT = Path(__file__).resolve().parents[1]
# train.py as it was before PPO-ptx existed (commit 49f3e19's blob): a γ = 0 run must match it bit for bit
TRAIN_BEFORE_PTX_BLOB = "db0500bb9752c7daf023ab5d00e496287c9d2c6d"
SHORT = GRPOConfig(group_size=4, prompts_per_step=8, steps=3, n_epochs=2, beta=0.04, eval_every=2, seed=3)
# The same run recorded with that train.py before the edit (this machine, torch on 1 thread)
GOLDEN = {"reward": [1.25, 1.125, 1.09375], "accuracy": [0.25, 0.125, 0.125], "format_rate": [1.0, 1.0, 0.96875],
          "zero_variance_frac": [0.375, 0.5, 0.375], "groups_used": [8, 8, 8],
          "loss": [0.00110181188210845, -0.009456233121454716, -0.008114900439977646],
          "clip_fraction": [0.18627451360225677, 0.125, 0.09433962404727936],
          "kl": [0.2647794187068939, 0.03693312779068947, 0.06056797131896019],
          "entropy_proxy": [0.6338893175125122, 0.5252496600151062, 0.7823702692985535],
          "completion_len": [3.1875, 3.75, 3.3125], "eval_accuracy": [0.525, 0.275, 0.3],
          "completions_sampled": 96, "tokens_trained": 656}
COMPARED = tuple(GOLDEN)


def _short_run(train=train_grpo, cfg=SHORT):
    model, tok, _ = load_shipped("sft")
    h = train(model, cfg, tokenizer=tok, eval_set=list(tasks.eval_problems())[:40])
    return h, model


def _old_train_module():
    try:
        src = subprocess.run(["git", "cat-file", "-p", TRAIN_BEFORE_PTX_BLOB], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    src = src.replace("cfg.mu", "cfg.n_epochs")  # GRPOConfig's field mu is named n_epochs today
    path = Path(__file__).parent / "__pycache__" / "_grpo_train_before_ptx.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("course_lib.grpo._train_before_ptx", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_ptx_coef_zero_is_bit_identical_to_the_trainer_before_ptx():
    h, model = _short_run()
    old = _old_train_module()
    if old is not None:  # the trainer before the change, run now, on this machine
        h_old, model_old = _short_run(old.train_grpo)
        for k in COMPARED:
            assert h[k] == h_old[k], k
        for p, q in zip(model.parameters(), model_old.parameters()):
            assert torch.equal(p, q)
    for k in COMPARED:  # and the numbers recorded before the edit
        assert h[k] == pytest.approx(GOLDEN[k], rel=1e-5, abs=1e-7), k
    assert all(math.isnan(x) for x in h["ptx_loss"])  # no PPO-ptx term with γ = 0
    assert len(h["eval_ptx_loss"]) == len(h["eval_step"]) and all(x > 0 for x in h["eval_ptx_loss"])


def test_ptx_lowers_the_loss_on_pretraining_text():
    cfg = GRPOConfig(prompts_per_step=8, steps=6, eval_every=6, seed=1)
    h0, _ = _short_run(cfg=cfg)
    h1, _ = _short_run(cfg=GRPOConfig(**{**cfg.__dict__, "ptx_coef": 1.0, "ptx_batch_size": 32}))
    assert h0["eval_ptx_loss"][0] == h1["eval_ptx_loss"][0]  # the same start, the same fixed documents
    assert h1["eval_ptx_loss"][-1] < h0["eval_ptx_loss"][-1] - 0.01
    assert all(math.isfinite(x) and x > 0 for x in h1["ptx_loss"])


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), "1"])
def test_ptx_coef_is_validated(bad):
    with pytest.raises(ValueError, match="ptx_coef"):
        GRPOConfig(ptx_coef=bad)
    with pytest.raises(ValueError, match="ptx_batch_size"):
        GRPOConfig(ptx_batch_size=0)


def test_length_bias_of_per_sequence_normalisation_on_the_loss():
    # two wrong answers with the same advantage, one of 1 token and one of 4 (plus two others)
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    adv = torch.tensor([-1.0, -1.0, 1.0, 1.0])
    g = pitfalls.token_gradient_weights(mask, adv, "grpo")
    # GRPO: each completion's tokens share 1/(B |o_i|): the long wrong answer's tokens get a quarter
    assert g[0, 0] == pytest.approx(1 / 4)
    assert g[1, 0] == pytest.approx(1 / 16)
    assert g[0].sum() == pytest.approx(g[1].sum())  # the same total per completion, whatever its length
    d = pitfalls.token_gradient_weights(mask, adv, "dr_grpo", max_completion_length=4)
    assert d[0, 0] == pytest.approx(d[1, 0]) == pytest.approx(1 / 16)  # every token alike
    assert d[1].sum() == pytest.approx(4 * d[0].sum())
    t = pitfalls.token_gradient_weights(mask, adv, "dapo")
    assert t[0, 0] == pytest.approx(t[1, 0]) == pytest.approx(1 / 9)
    assert torch.all(g[~mask] == 0)
    with pytest.raises(ValueError, match="advantages"):
        pitfalls.token_gradient_weights(mask, adv[:3], "grpo")


def test_verification_curves_from_samples():
    answers = [[1, 2, 1, 1], [3, 3, None, 4]]
    out = pitfalls.verification_curves(answers, [1, 4], rm_scores=[[0, 1, 0, 0], [0, 0, 0, 1]], ks=(1, 2, 4))
    assert out["pass@k"][0] == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert out["best_of_n_verifier"][-1] == 1.0
    assert out["maj@k"][-1] == pytest.approx(0.5)  # 1 wins the first, 3 wins the second
    assert out["best_of_n_rm"][-1] == pytest.approx(0.5)  # the RM picks the 2 (wrong) and the 4 (right)


def test_eureka_components_and_candidates():
    kw = dict(answer=[92, 92, 5, 100], finished=[True, True, True, False])
    assert eureka.digit_credit_reward(["29", "39", "5", "001"], **kw) == [1.0, 0.5, 1.0, 0.0]
    assert eureka.closeness_reward(["29", "39", "6", "001"], answer=[92, 83, 5, 100]) == pytest.approx(
        [1.0, 0.0, 0.9, 1.0])
    assert eureka.length_reward(["29", "001", "x"]) == pytest.approx([2 / 3, 1.0, 0.0])
    c = eureka.Candidate("t", {"accuracy": 1.0, "length": 0.5})
    fn = eureka.make_reward(c)
    assert fn(["29", "001"], answer=[92, 92], finished=[True, True]) == pytest.approx([1 + 1 / 3, 0.5])
    namespace = {k: f for k, f in eureka.COMPONENTS.items()}
    namespace.update({f.__name__: f for f in eureka.COMPONENTS.values()})
    exec(c.source(), namespace)  # the printed code is the reward
    assert namespace["reward_t"](["29", "001"], answer=[92, 92], finished=[True, True]) == pytest.approx(
        [1 + 1 / 3, 0.5])
    with pytest.raises(ValueError, match="component"):
        eureka.Candidate("bad", {"speed": 1.0})
    with pytest.raises(ValueError, match="weights"):
        eureka.Candidate("zero", {"accuracy": 0.0})


def test_reward_reflection_rules():
    hacked = {"name": "lb", "weights": {"accuracy": 1.0, "length": 1.0}, "gold_start": 0.43, "gold_end": 0.30,
              "zero_variance_frac": 0.1, "components": {"accuracy": [0.2] * 8, "length": [0.5] * 4 + [0.9] * 4}}
    props = eureka.reflect(hacked)
    assert dict(props[0].weights) == {"accuracy": 1.0} and "hacked" in props[0].why
    saturated = {"name": "r1", "weights": {"accuracy": 1.0, "format": 1.0}, "gold_start": 0.43, "gold_end": 0.6,
                 "zero_variance_frac": 0.5, "components": {"accuracy": [0.3] * 8, "format": [0.99] * 8}}
    props = eureka.reflect(saturated)
    assert dict(props[0].weights) == {"accuracy": 1.0} and "no signal" in props[0].why
    assert dict(props[1].weights) == {"accuracy": 1.0, "format": 1.0, "digits": 0.5}
    assert all(p.parent == "r1" for p in props)


# ---------------------------------------------------------------------------------------------
# the cached runs (python -m course_lib sweep pitfalls)
# ---------------------------------------------------------------------------------------------


def test_cached_runs_format_and_claims():
    from course_lib.experiments.pitfalls_sweep import PASS_N, PASS_PROBLEMS, PTX_COEFS, run_configs

    runs = pitfalls.load_cached("runs")
    assert set(runs["runs"]) == set(run_configs())
    assert runs["pass_n"] == PASS_N and len(runs["sft"]["correct_counts"]) == PASS_PROBLEMS
    for name, r in runs["runs"].items():
        assert r["step"] == list(range(1, r["config"]["steps"] + 1)), name
        assert r["eval_step"][0] == 0 and r["eval_step"][-1] == r["config"]["steps"]
        assert len(r["pass"]["correct_counts"]) == PASS_PROBLEMS
        assert all(0 <= c <= PASS_N for c in r["pass"]["correct_counts"])
        assert len(r["diversity"]["entropy"]) == len(r["diversity"]["step"])
    assert len(PTX_COEFS) >= 4 and PTX_COEFS[0] == 0
    for g in PTX_COEFS[1:]:
        assert runs["runs"][f"ptx_{g:g}"]["config"]["ptx_coef"] == g
    # what notebook 09 reads off the cache: §1 the long run learned, narrowed its samples, won at
    # pass@1 and lost at pass@64 against the SFT model
    long = runs["runs"]["grpo_long"]
    assert long["eval_accuracy"][-1] > long["eval_accuracy"][0] + 0.1
    assert long["diversity"]["entropy"][-1] < long["diversity"]["entropy"][0] - 0.1
    assert long["diversity"]["distinct"][-1] < long["diversity"]["distinct"][0]
    n = runs["pass_n"]
    sft_curve = pitfalls.pass_at_k_curve(runs["sft"]["correct_counts"], n, (1, 64))
    rl_curve = pitfalls.pass_at_k_curve(long["pass"]["correct_counts"], n, (1, 64))
    assert rl_curve[0] > sft_curve[0] and rl_curve[1] < sft_curve[1]
    # §2 the loss on pretraining text falls as γ grows, and γ = 0 ends above the SFT model's
    ptx = [runs["runs"]["grpo" if g == 0 else f"ptx_{g:g}"]["eval_ptx_loss"][-1] for g in PTX_COEFS]
    assert all(b < a for a, b in zip(ptx, ptx[1:]))
    assert ptx[0] > runs["runs"]["grpo"]["eval_ptx_loss"][0]
    # §3 clip-higher runs reuse batches (μ > 1), so tokens were clipped; dynamic sampling sampled more
    for name in ("clip_0.2_mu4", "clip_0.28_mu4"):
        assert runs["runs"][name]["config"]["n_epochs"] > 1 and sum(runs["runs"][name]["clip_fraction"]) > 0
    assert runs["runs"]["dynamic"]["completions_cum"][-1] > runs["runs"]["grpo"]["completions_cum"][-1]


def test_cached_samples_and_eureka_format():
    s = pitfalls.load_cached("samples")
    P = len(s["truths"])
    for m in ("sft", "rl"):
        assert len(s["models"][m]["answers"]) == P
        assert all(len(row) == s["n"] for row in s["models"][m]["answers"])
        if s["rm_sha256"]:
            assert len(s["models"][m]["rm_scores"]) == P
    e = pitfalls.load_cached("eureka")
    names = [r["name"] for rnd in e["rounds"] for r in rnd]
    assert e["best"] in names and len(names) == len(set(names))
    for rnd in e["rounds"]:
        for r in rnd:
            assert 0 <= r["gold_end"] <= 1 and r["source"].startswith("def reward_")
    # the notebook's reading: the hacked candidates raised their own reward while gold accuracy fell
    by_name = {r["name"]: r for rnd in e["rounds"] for r in rnd}
    for name in ("closeness", "length_bonus"):
        r = by_name[name]
        assert sum(r["shaped"][-5:]) > sum(r["shaped"][:5]) and r["gold_end"] < r["gold_start"] - 0.05


def test_figures_and_the_mix_weight_slider_draw_from_the_cache():
    import ipywidgets as widgets

    from course_lib.plotting import pitfalls as pplots
    from course_lib.widgets.pitfalls import ptx_slider

    runs = pitfalls.load_cached("runs")
    for fig in (pplots.diversity_figure(runs), pplots.ptx_figure(runs, 1.0), pplots.clip_higher_figure(runs),
                pplots.dynamic_sampling_figure(runs), pplots.length_drift_figure(runs),
                pplots.eureka_figure(pitfalls.load_cached("eureka"))):
        assert fig.axes
    with pytest.raises(ValueError, match="coef"):
        pplots.ptx_figure(runs, 0.5)  # not a cached mix weight
    box = ptx_slider(runs)

    def walk(w):
        yield w
        for c in getattr(w, "children", ()):
            yield from walk(c)

    sliders = [w for w in walk(box) if isinstance(w, widgets.SelectionSlider)]
    assert len(sliders) == 1 and len(sliders[0].options) >= 4 and sliders[0].value == 0.0
    s = pitfalls.load_cached("samples")
    curves = {m: pitfalls.verification_curves(s["models"][m]["answers"], s["truths"], s["models"][m].get("rm_scores"),
                                              ks=(1, 8)) for m in ("sft", "rl")}
    assert pplots.verification_figure(curves).axes
