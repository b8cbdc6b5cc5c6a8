"""Figures of notebooks 03–05 read without misleading: legends clear of what they label, every
legend entry with a swatch, thin/thick and shaded encodings explained, bars on a linear scale."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from course_lib.experiments.ppo_sweep import load_clip_sweep, load_recorded_rollout
from course_lib.plotting import learning_curves, new_figure
from course_lib.plotting import lm as plm
from course_lib.plotting import policy_gradient as pg_plots
from course_lib.plotting import ppo as ppo_plots
from course_lib.runs import History


def _renderer(fig):
    canvas = FigureCanvasAgg(fig)  # the figures come closed (no pyplot canvas): draw them with Agg
    canvas.draw()
    return canvas.get_renderer()


def _legends(fig):
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def _overlap(a, b) -> bool:
    """True if two display-space boxes share an area (touching edges do not count)."""
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5


def _data_artists(ax):
    return list(ax.lines) + list(ax.patches) + list(ax.texts)


def _assert_legends_clear(fig):
    """No legend covers a line, bar, span or value label of any axes."""
    r = _renderer(fig)
    for legend in _legends(fig):
        box = legend.get_window_extent(r)
        for ax in fig.axes:
            for artist in _data_artists(ax):
                extent = artist.get_window_extent(r).intersection(artist.get_window_extent(r), ax.bbox)
                if extent is not None and _overlap(box, extent):
                    if hasattr(artist, "get_xydata"):  # a line: check along its segments, not its bounding box
                        pts = artist.get_transform().transform(np.asarray(artist.get_xydata(), float))
                        s = np.linspace(0, 1, 25)[:, None, None]
                        pts = (pts[:-1] * (1 - s) + pts[1:] * s).reshape(-1, 2) if len(pts) > 1 else pts
                        inside = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1)
                                  & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
                        assert not inside.any(), f"legend covers the line {artist.get_label()!r}"
                    else:
                        raise AssertionError(f"legend covers {type(artist).__name__} {artist}")


def _assert_every_entry_has_a_swatch(fig):
    for legend in _legends(fig):
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            visible = handle.get_visible() and (handle.get_alpha() is None or handle.get_alpha() > 0)
            if hasattr(handle, "get_linewidth") and hasattr(handle, "get_xdata"):
                visible = visible and (handle.get_linewidth() > 0 or handle.get_marker() not in (None, "", "None"))
            else:
                visible = visible and handle.get_facecolor()[3] > 0
            assert visible, f"legend entry {text.get_text()!r} has no visible swatch"


def _run(seed_offset: float):
    steps = np.cumsum(np.full(20, 300))
    h = History(updates=("env_steps", "batch_mean_return", "grad_variance"))  # as reinforce records them
    for st, ret, var in zip(steps, np.linspace(20, 60, 20) + seed_offset, np.linspace(10, 300, 20) + seed_offset):
        h.record("updates", {"env_steps": int(st), "batch_mean_return": float(ret), "grad_variance": float(var)})
    return h


def test_variance_bars_are_linear_from_zero_with_every_swatch():
    measured = [dict(no_baseline=347.0, baseline=180.0, ratio=347 / 180, seed=0),
                dict(no_baseline=197.0, baseline=73.0, ratio=197 / 73, seed=1)]
    fig = pg_plots.variance_comparison(measured, title="t")
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    heights = [p.get_height() for p in ax.patches]
    assert heights[0] / heights[2] == pytest.approx(347 / 180)  # the picture's ratio is the data's ratio
    assert any("÷1.9" in t.get_text() for t in ax.texts)
    _assert_every_entry_has_a_swatch(fig)
    _assert_legends_clear(fig)


def test_reinforce_runs_explain_band_and_log_scale():
    fig = pg_plots.reinforce_runs({"with baseline": [_run(0), _run(5)], "no baseline": [_run(1), _run(3)]})
    left, right = fig.axes
    texts = [t.get_text() for legend in _legends(fig) for t in legend.get_texts()]
    assert any("min–max" in t for t in texts) and "target 195" in texts
    assert "log scale" in right.get_ylabel()
    assert any("one line per seed" in t for t in texts)
    _assert_every_entry_has_a_swatch(fig)
    _assert_legends_clear(fig)


def test_learning_curves_band_label_is_an_option():
    runs = [(np.arange(10), np.arange(10.0)), (np.arange(10), np.arange(10.0) + 1)]
    fig, ax = new_figure()
    learning_curves(ax, {"a": runs})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (mean of 2)"]  # default unchanged
    fig, ax = new_figure()
    learning_curves(ax, {"a": runs}, band_label="shaded: min–max over seeds")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (mean of 2)", "shaded: min–max over seeds"]
    fig, ax = new_figure()
    learning_curves(ax, {"a": runs[:1]}, band_label="shaded: min–max over seeds")  # one seed: no band to explain
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a"]


def test_ppo_diagnostics_explain_thin_and_thick():
    h = {k: np.linspace(0.1, 0.2, 12) for k in ("clip_fraction", "approx_kl", "entropy", "explained_variance")}
    h["env_steps"] = np.arange(1, 13) * 2048
    title = ppo_plots.diagnostics(h)._suptitle.get_text()
    assert "thin" in title and "thick" in title and "moving average over 10 updates" in title
    with pytest.raises(ValueError, match="window"):
        ppo_plots.diagnostics(h, window=0)


@pytest.mark.parametrize("eps", [0.0, 0.2, 0.5])
def test_clip_objective_legend_is_clear(eps):
    fig = ppo_plots.clip_objective(eps)
    _assert_every_entry_has_a_swatch(fig)
    _assert_legends_clear(fig)


@pytest.mark.parametrize("lam", [0.0, 0.8, 1.0])
def test_gae_legend_is_clear(lam):
    fig = ppo_plots.gae_weights(lam, load_recorded_rollout())
    _assert_legends_clear(fig)


def test_clip_sweep_legend_is_clear():
    sweep = load_clip_sweep()
    for eps in sorted({r["eps"] for r in sweep["runs"]}):
        _assert_legends_clear(ppo_plots.clip_sweep(sweep, eps))


def test_side_by_side_legend_is_clear_of_curves_and_target():
    steps = np.cumsum(np.full(200, 150))
    h = dict(episode_steps=steps, episode_seconds=steps / 5000.0, episode_returns=np.minimum(500, steps / 50))
    fig = ppo_plots.side_by_side({"course_lib": [h, dict(h, episode_returns=h["episode_returns"] * 0.9)],
                                  "Stable-Baselines3": [h]})
    _assert_every_entry_has_a_swatch(fig)
    _assert_legends_clear(fig)
    assert any("min–max" in t.get_text() for legend in _legends(fig) for t in legend.get_texts())


def test_stage_comparison_legend_leaves_the_value_labels_readable():
    results = {"pretrained": {"accuracy": 0.01, "format_rate": 0.05, "lenient_accuracy": 0.19},
               "after SFT": {"accuracy": 0.43, "format_rate": 1.0, "lenient_accuracy": 0.43}}
    fig = plm.stage_comparison(results)
    assert "100" in [t.get_text() for t in fig.axes[0].texts]
    _assert_legends_clear(fig)


def test_loss_curves_explain_thin_and_thick():
    title = plm.loss_curves(np.linspace(3, 1.5, 50), np.linspace(1, 0.6, 30))._suptitle.get_text()
    assert "thin" in title and "thick" in title and "moving average over 20 steps" in title


def test_token_and_next_token_colours_are_explained():
    fig = plm.token_logprobs_figure(["<bos>", "1", "=", "2", "<eos>"], [0.0, -1.0, -0.1, -0.5, -0.2],
                                    [False, False, False, True, True])
    texts = [t.get_text() for legend in _legends(fig) for t in legend.get_texts()]
    assert any("completion" in t for t in texts) and any("prompt" in t for t in texts)
    _assert_legends_clear(fig)
    labels = [str(d) for d in range(10)]
    for temperature in (0.1, 1.0, 10.0):
        fig = plm.next_token_distribution(np.linspace(2, -2, 10), labels, temperature, correct="05")
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any("correct answer" in t for t in texts)
        _assert_every_entry_has_a_swatch(fig)
        _assert_legends_clear(fig)
