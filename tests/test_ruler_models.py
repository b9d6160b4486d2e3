"""RULER's model interface: the course LM wrapper batches exactly, the Hugging Face wrapper applies
the chat template and decodes greedily (a tiny Llama and tokenizer built here, no download)."""

from __future__ import annotations

import pytest
import torch

from course_lib.attention import InfiniLMConfig, TinyInfiniLM
from course_lib.config import chapter_values
from course_lib.longctx.ruler.evaluate import evaluate, format_table, make_samples
from course_lib.longctx.ruler.hf import HFCausalLM, load_hf_model, split_answer_prefix
from course_lib.longctx.ruler.models import GreedyLM, NeedleLookup, Oracle
from course_lib.longctx.ruler.tasks import generate_sample
from course_lib.longctx.ruler.text import course_tokenizer

REDUCED = chapter_values("02", "reduced")["tokens_to_generate"]


@pytest.mark.parametrize("memory,segment_len", [("off", 1024), ("off", 64), ("delta", 64)])
def test_greedy_lm_batches_exactly_like_one_prompt_at_a_time(memory, segment_len):
    tok = course_tokenizer()
    torch.manual_seed(0)
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=tok.vocab_size, segment_len=segment_len, memory=memory, d_model=32, d_ff=64))
    lm = GreedyLM(model, tok, stop_at_eos=False)
    prompts = [generate_sample(t, 512, tok, tokens_to_generate=REDUCED).prompt for t in ("niah_single_1", "qa_1", "fwe")]
    assert len({len(tok.encode(p)) for p in prompts}) > 1  # different lengths: the batch is padded
    batched = lm.batch(prompts, 3)
    assert batched == [lm(p, 3) for p in prompts]
    assert all(isinstance(b, str) for b in batched)


def test_greedy_lm_stops_at_eos():
    tok = course_tokenizer()
    model = TinyInfiniLM(InfiniLMConfig(vocab_size=tok.vocab_size, segment_len=64, memory="off", d_model=32, d_ff=64))
    with torch.no_grad():
        model.embed.weight.zero_()
        model.embed.weight[tok.eos_id, 0] = 1.0  # the tied head then always prefers <eos>
        model.norm.bias.zero_()
        model.norm.bias[0] = 1.0
    assert GreedyLM(model, tok)("anything at all", 10) == ""


@pytest.fixture(scope="module")
def tiny_llama(hf_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(hf_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=hf_tokenizer.bos_token_id, eos_token_id=hf_tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


def test_hf_wrapper_uses_the_chat_template_and_the_answer_prefix(hf_tokenizer, tiny_llama):
    sample = generate_sample("niah_single_2", 1024, hf_tokenizer, tokens_to_generate=REDUCED)
    lm = HFCausalLM(tiny_llama, hf_tokenizer)
    text = lm.format(sample.prompt)
    assert text == f"<s>[user] {sample.input}</s><s>[assistant]{sample.answer_prefix}"
    out = lm(sample.prompt, 5)
    assert isinstance(out, str)
    again = lm(sample.prompt, 5)
    assert out == again  # greedy
    ids = hf_tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        first = tiny_llama(ids).logits[0, -1].argmax().item()
    assert hf_tokenizer.decode(tiny_llama.generate(ids, do_sample=False, max_new_tokens=5)[0, ids.shape[1]:],
                               skip_special_tokens=True) == out
    assert HFCausalLM(tiny_llama, hf_tokenizer, chat=False).format(sample.prompt) == sample.prompt
    assert first >= 0


def test_full_scale_evaluation_path_runs_on_a_tiny_model(hf_tokenizer, tiny_llama):
    full = chapter_values("02", "full")
    assert full["lengths"] == (4096, 8192, 16384, 32768, 65536, 131072) and full["num_samples"] == 500
    samples = make_samples(hf_tokenizer, (1024,), 1, tasks=("niah_single_1", "vt", "qa_2"),
                           tokens_to_generate=full["tokens_to_generate"], vt_example_length=full["vt_example_length"])
    assert all(s.tokens_to_generate == full["tokens_to_generate"]["niah"] for s in samples[("niah_single_1", 1024)])
    result = evaluate(HFCausalLM(tiny_llama, hf_tokenizer), samples, "tiny-llama", progress=False)
    assert set(result.table) == {"niah_single_1", "vt", "qa_2"} and all(0 <= v <= 100 for r in result.table.values() for v in r.values())
    oracle = evaluate(Oracle(), samples, "oracle", progress=False)
    assert "oracle" in format_table([oracle, result], threshold=85.6)


def test_loading_a_hub_model_offline_says_what_it_needs(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="needs|downloads the model"):
        load_hf_model("course-test/no-such-model", device="cpu")


def test_split_answer_prefix_and_non_ruler_prompts():
    s = generate_sample("cwe", 1024, course_tokenizer(), tokens_to_generate=REDUCED)
    assert split_answer_prefix(s.prompt) == (s.input, s.answer_prefix)
    with pytest.raises(ValueError, match="answer prefix"):
        split_answer_prefix("hello")
    for model in (Oracle(), NeedleLookup()):
        with pytest.raises(ValueError, match="not a RULER prompt"):
            model("What is the capital of France?", 10)
