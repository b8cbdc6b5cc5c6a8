"""The arithmetic task: formats, the held-out split, the generators, evaluation, the shipped files."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from course_lib import tasks
from course_lib.data import data_path
from course_lib.lm import GPT, GPTConfig, load_shipped



def _stated(name: str) -> float:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    m = re.search(rf"{name}:\s*([0-9.]+)\s*%", text)
    assert m, f"README.md must state '{name}: NN.N %'"
    return float(m.group(1)) / 100


def test_answers_are_written_least_significant_digit_first():
    p = tasks.Problem(34, "+", 58)
    assert p.prompt == "34+58=" and p.answer == 92 and p.completion == "29" and p.text() == "34+58=29"
    assert tasks.Problem(99, "+", 1).completion == "001"
    assert tasks.Problem(40, "-", 13).completion == "72"
    assert tasks.format_answer(0) == "0"
    with pytest.raises(ValueError, match="subtraction"):
        tasks.Problem(3, "-", 5)
    with pytest.raises(ValueError, match="op"):
        tasks.Problem(3, "*", 5)


def test_parse_answer_and_format():
    assert tasks.parse_answer("29") == 92
    assert tasks.parse_answer("001") == 100
    assert tasks.parse_answer("5") == 5
    for bad in ("", "29;", "2a", "1234", "29;12+5=71", "-3"):
        assert tasks.parse_answer(bad) is None, bad
    assert tasks.follows_format("29", finished=True)
    assert not tasks.follows_format("29", finished=False)  # never produced <eos>
    with pytest.raises(ValueError, match="completion"):
        tasks.parse_answer(29)


def test_every_answer_parses_back():
    for p in tasks.all_problems():
        assert tasks.parse_answer(p.completion) == p.answer


def test_held_out_set_is_disjoint_from_all_training_data():
    held = set(tasks.eval_problems())
    train = set(tasks.train_problems())
    assert len(held) == tasks.EVAL_SIZE and not held & train
    assert len(held) + len(train) == len(tasks.all_problems()) == 15050
    held_texts = {p.text() for p in held}
    for doc in tasks.pretraining_documents(2000, seed=1):
        assert not set(doc.split(tasks.SEPARATOR)) & held_texts
    held_prompts = {p.prompt for p in held}
    assert not {ex["prompt"] for ex in tasks.sft_examples(3000, seed=2)} & held_prompts
    assert not {p.prompt for p in tasks.sample_problems(3000, seed=3)} & held_prompts


def test_generators_are_seeded_and_well_formed():
    assert tasks.pretraining_documents(50, seed=7) == tasks.pretraining_documents(50, seed=7)
    assert tasks.pretraining_documents(50, seed=7) != tasks.pretraining_documents(50, seed=8)
    tok = tasks.make_tokenizer()
    for doc in tasks.pretraining_documents(200, seed=0):
        parts = doc.split(";")
        assert 1 <= len(parts) <= 3
        for part in parts:
            prompt, _, ans = part.partition("=")
            a, op, b = re.fullmatch(r"(\d+)([+-])(\d+)", prompt).groups()
            assert tasks.parse_answer(ans) == tasks.Problem(int(a), op, int(b)).answer
        tok.encode(doc)  # every character is in the vocabulary
    ex = tasks.sft_examples(5, seed=0)[0]
    assert set(ex) >= {"prompt", "completion", "answer"}
    with pytest.raises(ValueError, match="n must"):
        tasks.sft_examples(0)
    with pytest.raises(ValueError, match="seed"):
        tasks.sample_problems(3, seed=-1)


def test_shipped_eval_set_matches_the_generator():
    rows = tasks.eval_dataset()
    assert rows == [p.to_dict() for p in tasks.eval_problems()]
    for line in data_path(tasks.EVAL_FILE).read_text().splitlines():
        json.loads(line)


class _Oracle(torch.nn.Module):
    """A fake 'model' that answers correctly by reading the prompt: tests evaluate() itself."""

    def __init__(self, tok, wrong_every=0, never_stop=False):
        super().__init__()
        self.tok, self.wrong_every, self.never_stop = tok, wrong_every, never_stop
        self.config = GPTConfig(vocab_size=tok.vocab_size, block_size=32)
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    @property
    def device(self):
        return torch.device("cpu")

    def forward(self, idx, key_valid=None, cache=None):
        # Recompute from the full text every call (generate(use_cache=True) passes one token at a
        # time, so the oracle keeps its own history of each row).
        if cache is not None:
            if cache.length == 0:
                self._hist = idx.clone()
            else:
                self._hist = torch.cat([self._hist, idx], 1)
            cache.length += idx.shape[1]
        hist = self._hist if cache is not None else idx
        B, T = idx.shape
        logits = torch.zeros(B, T, self.config.vocab_size)
        for i in range(B):
            text = self.tok.decode(hist[i])
            prompt, _, written = text.partition("=")
            p = tasks.Problem(int(re.match(r"\d+", prompt).group()), "+" if "+" in prompt else "-",
                              int(re.search(r"[+-](\d+)", prompt).group(1)))
            target = p.completion
            if self.wrong_every and p.a % self.wrong_every == 0:
                target = tasks.format_answer(p.answer + 1)
            if len(written) < len(target):
                nxt = self.tok.stoi[target[len(written)]]
            else:
                nxt = self.tok.stoi["1"] if self.never_stop else self.tok.eos_id
            logits[i, -1, nxt] = 10.0
        return logits


def test_evaluate_scores_an_oracle_and_its_failures():
    tok = tasks.make_tokenizer()
    data = [p.to_dict() for p in tasks.eval_problems()[:60]]
    perfect = tasks.evaluate(_Oracle(tok), data, tok)
    assert perfect["accuracy"] == 1.0 and perfect["format_rate"] == 1.0 and perfect["n"] == 60
    some_wrong = tasks.evaluate(_Oracle(tok, wrong_every=2), data, tok)
    expected = sum(1 for d in data if d["a"] % 2) / len(data)
    assert some_wrong["accuracy"] == pytest.approx(expected) and some_wrong["format_rate"] == 1.0
    rambling = tasks.evaluate(_Oracle(tok, never_stop=True), data, tok, max_new_tokens=6)
    assert rambling["format_rate"] == 0.0 and rambling["accuracy"] == 0.0
    assert rambling["lenient_accuracy"] == 0.0  # "29111": the digits run on, so not even leniently right
    with pytest.raises(ValueError, match="empty"):
        tasks.evaluate(_Oracle(tok), [], tok)


def test_evaluate_sampling_is_seeded():
    tok = tasks.make_tokenizer()
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=8)).eval()
    data = tasks.eval_dataset()[:50]
    a = tasks.evaluate(m, data, tok, greedy=False, seed=3, samples=2)
    b = tasks.evaluate(m, data, tok, greedy=False, seed=3, samples=2)
    assert a == b and a["n"] == 100


def test_shipped_sft_checkpoint_scores_what_the_readme_states():
    model, tok, meta = load_shipped("sft")
    assert meta["stage"] == "sft"
    result = tasks.evaluate(model, tasks.eval_dataset(), tok)  # greedy, full held-out set
    stated = _stated("SFT greedy accuracy")
    assert abs(result["accuracy"] - stated) <= 0.03, (result["accuracy"], stated)
    assert abs(result["format_rate"] - _stated("SFT greedy format rate")) <= 0.03
    assert 0.2 <= result["accuracy"] <= 0.6  # mediocre: room for RL


def test_shipped_pretrained_checkpoint_knows_arithmetic_but_not_the_format():
    model, tok, meta = load_shipped("pretrained")
    result = tasks.evaluate(model, tasks.eval_dataset(), tok)
    assert abs(result["lenient_accuracy"] - _stated("pretrained greedy lenient accuracy")) <= 0.03
    assert result["format_rate"] < 0.5
