"""Sliders of notebook 02: choose among tabular runs computed once."""
from __future__ import annotations

from ..plotting.tabular import epsilon_runs
from . import interactive_figure


def epsilon_slider(sweep: dict, env=None, epsilon: float | None = None, smooth_window: int = 20):
    """A slider over the ε values of an ``epsilon_sweep``; it redraws from the stored runs.

    Args:
        sweep: {epsilon: {"sarsa": [...], "q_learning": [...]}} from ``tabular.epsilon_sweep``.
        env: the course GridWorld the runs used (draws the learned greedy policies), or None.
        epsilon: the value shown first (default the middle one).
    """
    import ipywidgets as widgets

    if not isinstance(sweep, dict) or not sweep:
        raise ValueError("sweep must be a non-empty dict from tabular.epsilon_sweep")
    options = sorted(sweep)
    first = options[len(options) // 2] if epsilon is None else min(options, key=lambda e: abs(e - epsilon))
    control = widgets.SelectionSlider(options=options, value=first, description="ε",
                                      continuous_update=False)
    return interactive_figure(lambda epsilon: epsilon_runs(sweep, epsilon, env, smooth_window),
                              epsilon=control)
