"""Sliders of notebook 05."""
from __future__ import annotations

import torch

from ..core import check_finite_number, check_nonnegative_int, check_positive_int
from ..plotting.lm import next_token_distribution
from . import interactive_figure, label


def _labels(tokenizer) -> list[str]:
    return list(tokenizer.itos)


def temperature_view(model, tokenizer, prompt: str, temperature: float, n_samples: int = 16,
                     seed: int = 0, correct: str | None = None, max_new_tokens: int = 4):
    """The figure behind the temperature slider: next-token distribution and samples at ``temperature``."""
    from ..lm.generate import generate

    temperature = check_finite_number("temperature", temperature, low=0.0, low_open=True)
    n_samples = check_positive_int("n_samples", n_samples)
    seed = check_nonnegative_int("seed", seed)
    ids = tokenizer.encode(prompt, bos=True)
    with torch.no_grad():
        logits = model(torch.tensor([ids]))[0, -1]
    gen = torch.Generator().manual_seed(seed)
    out = generate(model, [ids] * n_samples, max_new_tokens, eos_id=tokenizer.eos_id,
                   temperature=float(temperature), generator=gen)
    samples = tokenizer.decode_batch(out.completions.tolist(), stop_at_eos=True)
    return next_token_distribution(logits.tolist(), _labels(tokenizer), temperature, samples=samples,
                                   correct=correct, prompt=prompt)


def temperature_slider(model, tokenizer, prompt: str = "47+38=", correct: str | None = "58",
                       temperature: float = 1.0, n_samples: int = 16, seed: int = 0):
    """A temperature slider redrawing the next-token distribution and a batch of samples."""
    import ipywidgets as widgets

    temperature = check_finite_number("temperature", temperature, low=0.1, high=3.0)
    control = widgets.FloatSlider(value=temperature, min=0.1, max=3.0, step=0.1, description=label("temperature"),
                                  continuous_update=False, readout_format=".1f")
    return interactive_figure(
        lambda temperature: temperature_view(model, tokenizer, prompt, temperature, n_samples, seed, correct),
        temperature=control)
