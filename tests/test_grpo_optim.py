"""FlatAdam: torch.optim.Adam and the gradient clip on one flat buffer give the same numbers, bit for bit."""
import pytest
import torch

from course_lib import tasks
from course_lib.flat import flat_views
from course_lib.grpo.optim import FlatAdam
from course_lib.lm.train import new_model

TOK = tasks.make_tokenizer()


def _loss(model, tokens, scale):
    return scale * model(tokens).logsumexp(-1).mean()


@pytest.mark.parametrize("max_norm", [1e-3, 1e6])  # the clip active on every step, and never
def test_flat_adam_equals_torch_adam_with_clip_bit_for_bit(max_norm):
    a, b = new_model(TOK, 0, n_layer=2, n_head=2, n_embd=16), new_model(TOK, 0, n_layer=2, n_head=2, n_embd=16)
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, foreach=True)
    opt_b = FlatAdam(b, lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for step in range(6):
        tokens = torch.randint(3, TOK.vocab_size, (4, 7), generator=gen)
        scale = 10.0 ** (step % 3 - 1)  # gradients of different sizes
        opt_a.zero_grad(set_to_none=True)
        _loss(a, tokens, scale).backward()
        norm_a = torch.nn.utils.clip_grad_norm_(a.parameters(), max_norm)
        opt_a.step()
        opt_b.zero_grad()
        _loss(b, tokens, scale).backward()
        norm_b = opt_b.clip_grad_norm_(max_norm)
        opt_b.step()
        assert torch.equal(norm_a, norm_b)
        for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
            assert torch.equal(pa, pb), (step, name)
            assert torch.equal(pa.grad, pb.grad), (step, name)
    assert b.lm_head.weight is b.wte.weight  # weight tying survives the flattening


def test_flat_views_share_memory_and_keep_values():
    model = new_model(TOK, 1, n_layer=1, n_head=2, n_embd=16)
    before = [p.detach().clone() for p in model.parameters()]
    flat, grads = flat_views(model)
    params = list(model.parameters())
    assert flat.numel() == sum(p.numel() for p in params) and len(grads) == len(params)
    assert all(torch.equal(p, q) for p, q in zip(before, params))
    flat.data.add_(1.0)  # writing the buffer writes the network
    assert all(torch.equal(p, q + 1.0) for p, q in zip(params, before))
    with pytest.raises(ValueError, match="no trainable parameters"):
        flat_views(torch.nn.Linear(2, 2).requires_grad_(False))
