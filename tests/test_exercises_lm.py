"""The "sequence_logprobs" exercise: the reference passes, each common mistake gets its own hint."""
from __future__ import annotations

import torch

from course_lib.exercises import check, list_exercises
from course_lib.exercises.registry import get_exercise
from course_lib.lm import GPT, GPTConfig, generate, sequence_logprobs
from course_lib.lm.generate import logprobs_from_logits


def test_registered():
    assert "sequence_logprobs" in list_exercises()


def test_a_learner_loop_solution_passes():
    def mine(logits, tokens, mask):
        B, T, _ = logits.shape
        out = torch.zeros(B)
        for b in range(B):
            for t in range(1, T):
                if mask[b, t]:
                    out[b] += torch.log_softmax(logits[b, t - 1], -1)[tokens[b, t]]
        return out

    assert check("sequence_logprobs", mine).passed


def test_mistakes_differ_from_the_reference_on_the_cases():
    ex = get_exercise("sequence_logprobs")
    for case in ex.cases():
        ref = ex.reference(*case.args)
        wrong = [m.fn(*case.args) for m in ex.mistakes]
        assert any(not torch.allclose(w.float(), ref, atol=1e-4) for w in wrong)


def test_stub_is_not_attempted():
    def stub(logits, tokens, mask):
        raise NotImplementedError

    assert check("sequence_logprobs", stub).status == "not attempted"


def test_reference_agrees_with_the_model_function():
    # the exercise's function on the model's logits equals lm.sequence_logprobs on the model
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=17, block_size=20, n_layer=1, n_head=2, n_embd=16)).eval()
    out = generate(m, [[1, 5, 6], [1, 7]], 5, eos_id=2, generator=torch.Generator().manual_seed(0))
    valid = out.key_valid(0)
    logits = m(out.tokens, key_valid=valid)
    torch.testing.assert_close(logprobs_from_logits(logits, out.tokens, out.full_mask()),
                               sequence_logprobs(m, out.tokens, out.full_mask(), valid))


def test_a_buggy_sequence_logprobs_does_not_stop_run_all_of_notebook_05(repo_root, monkeypatch):
    # A shape error in the learner's function used to stop notebook 05 before pretraining: now the cell
    # after the check uses the learner's function only if its check passed, else the library's.
    import nbformat
    import pytest
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_FAST", "1")
    nb = nbformat.read(repo_root / "notebooks" / "05_language_model_as_policy.ipynb", as_version=4)
    stub = next(c for c in nb.cells if c.get("id") == "a1818d8b")
    assert "raise NotImplementedError" in stub.source
    stub.source = "def my_sequence_logprobs(logits, tokens, mask):\n    return logits.sum(-1)  # (B, T): wrong shape\n"
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(repo_root / "notebooks")}}).execute()
    except Exception as err:  # pragma: no cover - the failure this test guards against
        pytest.fail(f"run-all stopped: {err}")
    after = next(c for c in nb.cells if c.get("id") == "e19409f4")
    text = "".join(o.get("text", "") for o in after.outputs)
    assert "has not passed its check yet" in text
