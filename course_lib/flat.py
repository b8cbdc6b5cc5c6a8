"""Every parameter of a model, and its gradient, as a view into one flat buffer.

A small network's optimiser step and gradient clip are dominated by per-tensor bookkeeping when
they loop over a dozen (PPO's actor-critic) or fifty (the course's GPT) parameter tensors. With
the parameters and gradients re-homed in two contiguous buffers, Adam, the clip's scaling and
zeroing the gradients are each one operation on one tensor, while the network keeps reading its
own tensors (views into the buffer). ``ppo.fast`` (PPO's NumPy update) and ``grpo.optim`` (GRPO's
optimiser) both build on ``flat_views``.
"""
from __future__ import annotations

import torch
from torch import nn


def flat_views(model: nn.Module) -> tuple[nn.Parameter, list[torch.Tensor]]:
    """Re-home ``model``'s trainable parameters (weight-tied ones once) and their gradients in two flat buffers.

    Returns:
        (flat, grads): ``flat`` is a Parameter holding every parameter's values, ``flat.grad`` every
        gradient (zeros); each parameter's ``.data`` and ``.grad`` become views into them, so the
        network reads the values an optimiser over ``[flat]`` writes, and a backward pass adds into
        ``flat.grad`` (zero it before each backward pass). ``grads`` lists the per-parameter
        gradient views, in ``model.parameters()`` order.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters to flatten")
    first = params[0]
    if any(p.dtype != first.dtype or p.device != first.device for p in params):
        raise ValueError("every trainable parameter of model must share one dtype and one device to be flattened")
    total = sum(p.numel() for p in params)
    data = torch.empty(total, dtype=first.dtype, device=first.device)
    grad = torch.zeros(total, dtype=first.dtype, device=first.device)
    grads, offset = [], 0
    for p in params:
        k = p.numel()
        data[offset:offset + k].copy_(p.data.reshape(-1))
        p.data = data[offset:offset + k].view_as(p)
        p.grad = grad[offset:offset + k].view_as(p)
        grads.append(p.grad)
        offset += k
    flat = nn.Parameter(data)
    flat.grad = grad
    return flat, grads


__all__ = ["flat_views"]
