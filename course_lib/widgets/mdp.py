"""Sliders of notebooks 00 and 01."""
from __future__ import annotations

from ..plotting.mdp import discount_weights
from . import interactive_figure


def gamma_slider(gamma: float = 0.9, rewards=(0, 0, 1, 0, 0, 0, 0, 0, 0, 10)):
    """A γ slider redrawing the weights γ^t, the effective horizon and a sequence's return."""
    import ipywidgets as widgets

    control = widgets.FloatSlider(value=gamma, min=0.0, max=1.0, step=0.01, description="γ",
                                  continuous_update=False, readout_format=".2f")
    return interactive_figure(lambda gamma: discount_weights(gamma, rewards=rewards), gamma=control)
