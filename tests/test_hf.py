"""course_lib.hf.convert: the course's GPT and tokenizer as transformers objects compute the same thing."""
import pytest
import torch

pytest.importorskip("transformers")

from course_lib import tasks  # noqa: E402
from course_lib.hf import (CourseGPT2LMHeadModel, from_hf_model, from_hf_tokenizer, real_token_positions,  # noqa: E402
                           to_hf_model, to_hf_tokenizer)
from course_lib.lm import GPT, GPTConfig, left_pad, load_shipped  # noqa: E402

N_PROMPTS = 100  # held-out prompts in the tests (the notebook uses all 500)


@pytest.fixture(scope="module")
def sft():
    model, tok, _ = load_shipped("sft")
    return model, tok


@pytest.fixture(scope="module")
def exported(sft):
    model, tok = sft
    return to_hf_model(model, tok), to_hf_tokenizer(tok)


def _padded_batch(tok, n=N_PROMPTS):
    """Held-out problems with their answers, left-padded: rows of different lengths."""
    rows = [tok.encode(p.text(), bos=True, eos=True) for p in tasks.eval_problems()[:n]]
    return left_pad(rows, tok.pad_id)


def test_real_token_positions_by_hand():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert real_token_positions(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]
    assert real_token_positions(mask, 2).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="attention_mask"):
        real_token_positions(torch.ones(3))


def test_exported_model_is_gpt2_with_the_course_shape(sft, exported):
    import transformers

    model, _ = sft
    hf, _ = exported
    assert isinstance(hf, transformers.GPT2LMHeadModel) and isinstance(hf, CourseGPT2LMHeadModel)
    c = hf.config
    assert (c.n_layer, c.n_head, c.n_embd, c.n_positions, c.vocab_size) == (
        model.config.n_layer, model.config.n_head, model.config.n_embd, model.config.block_size,
        model.config.vocab_size)
    assert c.activation_function == "gelu" and c.layer_norm_epsilon == 1e-5
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr(), "head must stay tied"
    assert sum(p.numel() for p in hf.parameters()) == model.num_params()


def test_logits_equal_on_a_left_padded_batch_float64(sft):
    """Same function: in float64 the two models agree far inside 1e-5 on every real token."""
    model, tok = sft
    m64 = load_shipped("sft")[0].double()
    hf64 = to_hf_model(m64, tok).double()
    ids, valid = _padded_batch(tok)
    assert (~valid).any(), "the batch must contain left padding"
    with torch.no_grad():
        ours = m64(ids, valid)
        theirs = hf64(input_ids=ids, attention_mask=valid.long()).logits
    assert (ours - theirs)[valid].abs().max().item() < 1e-5


def test_logits_equal_on_a_left_padded_batch_float32(sft, exported):
    """In float32 the same: differences are rounding only (logits reach about 15 in size)."""
    model, tok = sft
    hf, _ = exported
    ids, valid = _padded_batch(tok)
    with torch.no_grad():
        ours = model(ids, valid)
        theirs = hf(input_ids=ids, attention_mask=valid.long()).logits
        explicit = hf(input_ids=ids, attention_mask=valid.long(), position_ids=real_token_positions(valid)).logits
    assert (ours - theirs)[valid].abs().max().item() < 1e-4
    assert torch.equal(theirs, explicit)


def test_plain_gpt2_positions_differ_under_left_padding(sft, exported):
    """Why CourseGPT2LMHeadModel exists: GPT-2 numbers padded columns too when no positions are given."""
    import transformers

    model, tok = sft
    hf, _ = exported
    plain = transformers.GPT2LMHeadModel(hf.config)
    plain.load_state_dict(hf.state_dict())
    plain.eval()
    ids, valid = _padded_batch(tok, 20)
    with torch.no_grad():
        ours = model(ids, valid)
        theirs = plain(input_ids=ids, attention_mask=valid.long()).logits
    assert (ours - theirs)[valid].abs().max().item() > 1e-2


def test_greedy_generations_identical_on_held_out_prompts(sft, exported):
    model, tok = sft
    hf, htok = exported
    prompts = [p.prompt for p in tasks.eval_problems()[:N_PROMPTS]]
    ours, _ = tasks.complete(model, tok, prompts)
    enc = htok(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = hf.generate(**enc, max_new_tokens=tasks.MAX_ANSWER_TOKENS, do_sample=False)
    theirs = htok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert theirs == ours


def test_round_trip_gives_the_same_weights(sft, exported):
    model, _ = sft
    hf, _ = exported
    back = from_hf_model(hf)
    assert isinstance(back, GPT) and back.config == model.config
    for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name


def test_export_is_a_copy(sft):
    model, tok = sft
    hf = to_hf_model(model, tok)
    with torch.no_grad():
        hf.transformer.wte.weight.add_(1.0)
    assert not torch.equal(model.wte.weight, hf.transformer.wte.weight)


def test_tokenizer_matches_the_character_tokenizer(sft, exported):
    _, tok = sft
    _, htok = exported
    texts = [p.prompt for p in tasks.eval_problems()[:N_PROMPTS]]
    assert htok(texts)["input_ids"] == [tok.encode(t, bos=True) for t in texts]
    ids, valid = left_pad([tok.encode(t, bos=True) for t in texts], tok.pad_id)
    enc = htok(texts, padding=True, return_tensors="pt")
    assert torch.equal(enc["input_ids"], ids) and torch.equal(enc["attention_mask"].bool(), valid)
    assert (htok.pad_token_id, htok.bos_token_id, htok.eos_token_id) == (tok.pad_id, tok.bos_id, tok.eos_id)
    assert htok.padding_side == "left"
    assert htok.decode(tok.encode("12+5=71", bos=True, eos=True), skip_special_tokens=True) == "12+5=71"
    with pytest.raises(Exception, match="(?i)unk"):
        htok("1a")
    assert from_hf_tokenizer(htok) == tok


def test_bad_inputs_get_clear_errors(exported):
    hf, _ = exported
    with pytest.raises(ValueError, match="model must be a course_lib GPT"):
        to_hf_model(hf)
    with pytest.raises(ValueError, match="hf_model must be a transformers GPT2LMHeadModel"):
        from_hf_model(GPT(GPTConfig(vocab_size=17)))
    with pytest.raises(ValueError, match="tokenizer must be a course_lib CharTokenizer"):
        to_hf_tokenizer("0123")
    import transformers

    tanh_gelu = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=17, n_positions=8, n_embd=8,
                                                                     n_layer=1, n_head=2))
    with pytest.raises(ValueError, match="activation_function"):
        from_hf_model(tanh_gelu)
