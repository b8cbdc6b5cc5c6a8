"""Sliders: each redraws a figure from a plotting function that tests can call directly.

``interactive_figure(draw, gamma=FloatSlider(...))`` wires ipywidgets controls to a function
``draw(**values) -> matplotlib Figure``. Each topic's sliders live in a submodule
(``course_lib.widgets.mdp``, ...). Where a slider would need a new training run, the runs are
computed once and the slider only chooses among them.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Callable

from ..i18n import message_format

# The words on the sliders and panels (symbols such as γ, ε, β and code names such as w_fmt stay as they are),
# by message key "widgets." + key, shown in the learner's language (course_lib.i18n.message).
LABELS: dict[str, str] = {
    "temperature": "temperature",
    "slip": "slip",
    "tokens": "tokens T",
    "doctor_after": "run doctor after {n} updates:",
}


def label(key: str, **fields) -> str:
    """``LABELS[key]`` in the learner's language, its fields filled."""
    return message_format(f"widgets.{key}", LABELS[key], **fields)


def english_messages() -> dict[str, str]:
    """Every message key of the widgets with its current English (see ``course_lib.i18n``)."""
    return {f"widgets.{key}": text for key, text in LABELS.items()}


def figure_bundle(fig) -> dict:
    """The figure's display data, rendered once: what IPython shows, reused as the static fallback."""
    from IPython import get_ipython

    ip = get_ipython()
    if ip is not None:
        data, _ = ip.display_formatter.format(fig)
        if "image/png" in data:
            return data
    buf = io.BytesIO()  # outside IPython (scripts, tests): render the PNG ourselves
    fig.savefig(buf, format="png", bbox_inches="tight")
    return {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": repr(fig)}


def interactive_figure(draw: Callable[..., Any], **controls: Any):
    """A box with the given controls above a figure that ``draw(**values)`` redraws.

    Args:
        draw: function of the controls' values returning a matplotlib Figure.
        **controls: ipywidgets value widgets (sliders, dropdowns) keyed by draw's argument names.

    Returns:
        An ipywidgets VBox; display it (or make it the cell's last expression). Its display data
        also carries the figure at the controls' starting values as a PNG, so a notebook read
        without a running kernel (on GitHub, exported, executed headless) still shows it; a live
        JupyterLab shows the slider and its figure instead.
    """
    import ipywidgets as widgets
    from IPython.display import display

    if not callable(draw):
        raise ValueError(f"draw must be a function returning a figure, got {type(draw).__name__}")
    for key, control in controls.items():
        if not isinstance(control, widgets.ValueWidget):
            raise ValueError(f"control {key!r} must be an ipywidgets value widget, got {type(control).__name__}")
    out = widgets.Output()

    def redraw(_change=None):
        fig = draw(**{k: c.value for k, c in controls.items()})
        bundle = figure_bundle(fig)  # rendered once, shown live and kept as the static fallback
        out.clear_output(wait=True)
        with out:
            display(bundle, raw=True)
        return bundle

    for control in controls.values():
        control.observe(redraw, names="value")
    still = redraw()["image/png"]

    class _FigureBox(widgets.VBox):
        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            bundle["image/png"] = still  # the static fallback of the starting figure
            return bundle

    return _FigureBox([widgets.HBox(list(controls.values())), out])
