"""Sliders of notebook 02: choose among tabular runs computed once."""
from __future__ import annotations

from ..core import check_finite_number, check_positive_int
from ..plotting.tabular import epsilon_runs
from . import interactive_figure


def _selection(values, first, description):
    import ipywidgets as widgets

    options = sorted(set(values))
    value = options[len(options) // 2] if first is None else min(options, key=lambda v: abs(v - first))
    return widgets.SelectionSlider(options=options, value=value, description=description,
                                   continuous_update=False)


def epsilon_slider(sweep: dict, env=None, epsilon: float | None = None, smooth_window: int = 20,
                   alpha: float | None = None):
    """Sliders over the ε (and α) values of an ``epsilon_sweep``; they redraw from the stored runs.

    Args:
        sweep: from ``tabular.epsilon_sweep``: keyed by ε (one slider) or by (ε, α) (two sliders).
        env: the course GridWorld the runs used (draws the learned greedy policies), or None.
        epsilon, alpha: the values shown first (default the middle ones).
    """
    if not isinstance(sweep, dict) or not sweep:
        raise ValueError("sweep must be a non-empty dict from tabular.epsilon_sweep")
    epsilon = None if epsilon is None else check_finite_number("epsilon", epsilon, low=0.0, high=1.0)
    alpha = None if alpha is None else check_finite_number("alpha", alpha, low=0.0, high=1.0, low_open=True)
    smooth_window = check_positive_int("smooth_window", smooth_window)
    if isinstance(next(iter(sweep)), tuple):
        eps = _selection([k[0] for k in sweep], epsilon, "ε")
        alp = _selection([k[1] for k in sweep], alpha, "α")
        return interactive_figure(lambda epsilon, alpha: epsilon_runs(sweep, epsilon, env, smooth_window, alpha),
                                  epsilon=eps, alpha=alp)
    eps = _selection(list(sweep), epsilon, "ε")
    return interactive_figure(lambda epsilon: epsilon_runs(sweep, epsilon, env, smooth_window), epsilon=eps)
