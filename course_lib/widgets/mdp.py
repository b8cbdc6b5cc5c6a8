"""Sliders of notebooks 00 and 01."""
from __future__ import annotations

from ..core import check_finite_number, check_int_in_range, check_probability
from ..plotting.mdp import discount_weights
from . import interactive_figure, label


def gamma_slider(gamma: float = 0.9, rewards=(0, 0, 1, 0, 0, 0, 0, 0, 0, 10)):
    """A γ slider redrawing the weights γ^t, the effective horizon and a sequence's return."""
    import ipywidgets as widgets

    gamma = check_probability("gamma", gamma)  # a slider would clamp an out-of-range start silently
    control = widgets.FloatSlider(value=gamma, min=0.0, max=1.0, step=0.01, description="γ",
                                  continuous_update=False, readout_format=".2f")
    return interactive_figure(lambda gamma: discount_weights(gamma, rewards=rewards), gamma=control)


def gridworld_gamma_slider(gamma: float = 0.6, slip: float = 0.0):
    """A γ slider redrawing the two-rewards gridworld's optimal values, greedy arrows and path."""
    import ipywidgets as widgets

    from ..plotting.mdp import gamma_gridworld

    gamma = check_finite_number("gamma", gamma, low=0.0, high=0.99)
    slip = check_finite_number("slip", slip, low=0.0, high=0.5)
    g = widgets.FloatSlider(value=gamma, min=0.0, max=0.99, step=0.01, description="γ",
                            continuous_update=False, readout_format=".2f")
    s = widgets.FloatSlider(value=slip, min=0.0, max=0.5, step=0.05, description=label("slip"),
                            continuous_update=False, readout_format=".2f")
    return interactive_figure(gamma_gridworld, gamma=g, slip=s)


def llm_gamma_slider(gamma: float = 0.9, n_tokens: int = 200):
    """A γ slider showing how much of an end-of-answer reward reaches each token."""
    import ipywidgets as widgets

    from ..plotting.mdp import llm_credit

    gamma = check_finite_number("gamma", gamma, low=0.5, high=1.0)
    n_tokens = check_int_in_range("n_tokens", n_tokens, 10, 1000)
    g = widgets.FloatSlider(value=gamma, min=0.5, max=1.0, step=0.005, description="γ",
                            continuous_update=False, readout_format=".3f")
    n = widgets.IntSlider(value=n_tokens, min=10, max=1000, step=10, description=label("tokens"),
                          continuous_update=False)
    return interactive_figure(llm_credit, gamma=g, n_tokens=n)
