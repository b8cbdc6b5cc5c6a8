"""The house style, the shared plotting helpers and the first slider."""
import ipywidgets as widgets
import matplotlib.figure
import numpy as np
import pytest

from course_lib.plotting import learning_curves, new_figure, smooth
from course_lib.plotting.mdp import discount_weights
from course_lib.widgets import interactive_figure
from course_lib.widgets.mdp import gamma_slider


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_discount_weights_draws_for_any_gamma(gamma):
    fig = discount_weights(gamma, horizon=30, rewards=[0, 1, 0, 5])
    assert isinstance(fig, matplotlib.figure.Figure)
    title = fig.axes[0].get_title()
    assert ("∞" in title) == (gamma == 1.0)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert np.allclose(heights, gamma ** np.arange(30))


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_discount_weights_rejects_bad_gamma(bad):
    with pytest.raises(ValueError, match="gamma"):
        discount_weights(bad)


def test_smooth_is_a_trailing_mean():
    assert np.allclose(smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    with pytest.raises(ValueError, match="window"):
        smooth([1, 2], 0)


def test_learning_curves_band_over_seeds():
    fig, ax = new_figure()
    runs = [(np.arange(10), np.arange(10.0)), (np.arange(1, 11), np.arange(10.0) + 2)]
    learning_curves(ax, {"ppo": runs, "single": [(np.arange(5), np.ones(5))]}, target=5)
    assert len(ax.lines) == 3  # two means + the target line
    assert "mean of 2" in ax.get_legend().texts[0].get_text()


@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
def test_gamma_slider_builds_and_redraws(gamma):
    box = gamma_slider(gamma)
    slider = box.children[0].children[0]
    assert slider.value == gamma
    slider.value = 0.5  # triggers a redraw without error


def test_interactive_figure_rejects_bad_arguments():
    with pytest.raises(ValueError, match="draw"):
        interactive_figure(42)
    with pytest.raises(ValueError, match="control 'x'"):
        interactive_figure(lambda x: None, x=3)
    calls = []
    box = interactive_figure(lambda x: calls.append(x) or discount_weights(0.5), x=widgets.IntSlider(1))
    box.children[0].children[0].value = 4
    assert calls == [1, 4]


def test_every_slider_also_carries_its_starting_figure_as_a_static_png():
    import base64

    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib.widgets import interactive_figure

    def draw(x):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, x])
        return fig

    box = interactive_figure(draw, x=widgets.FloatSlider(value=0.5, min=0, max=1))
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
