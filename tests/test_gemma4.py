"""Gemma 4: a tiny random text model converts to ONNX that matches transformers past the
sliding window, validates, runs in its own chat format and benches; what is not converted yet
is refused in one line; the tokenizer rebuilt from the real Gemma 4 GGUF vocabulary gives
llama.cpp's ids; the chat format renders like transformers with the real template."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgekit.core.chat import Turn, render
from edgekit.families import family_named
from edgekit.runtime import GREEDY, open_runner
from edgekit.runtime.artifact import open_artifact
from tests.cli import assert_one_line_error, edgekit
from tests.fixtures.llama_cpp_vocab import gemma4_vocab_files, vocab_test_vectors
from tests.fixtures.tokenizer_corpus import tokenizer_corpus

GEMMA4 = family_named("gemma4")
WINDOW = 16  # the tiny model's sliding window


def _source_logits(folder, ids):
    from edgekit.converters.golden import load_source_model, source_logits

    return source_logits(load_source_model(folder), ids)


def test_fp32_onnx_matches_transformers_over_the_reference_text(gemma4_onnx, tiny_gemma4):
    artifact = open_artifact(gemma4_onnx["fp32"])
    ids = artifact.manifest.golden.reference.ids
    assert len(ids) - 1 >= WINDOW + 64
    with open_runner(artifact) as runner:
        graph = np.stack(list(runner.logits(ids)))
    assert np.abs(graph - _source_logits(tiny_gemma4, ids)).max() < 1e-3


def test_decode_steps_carry_the_cache_past_the_window_and_the_shared_layers(gemma4_onnx, tiny_gemma4):
    """Prefill 8 tokens, then one decode step per token for 80 more (five windows): the caching
    layers' KV outputs, fed back, give the source's logits; the last two layers keep none."""
    import onnx

    folder = gemma4_onnx["fp32"]
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    config = json.loads((tiny_gemma4 / "config.json").read_text())
    assert (
        len([i for i in graph.graph.input if i.name.startswith("past_key_values.")])
        == 2 * len(GEMMA4.cache_shapes(config))
        == 2 * (config["num_hidden_layers"] - config["num_kv_shared_layers"])
    )
    ids = open_artifact(folder).manifest.golden.reference.ids[:88]
    with open_runner(folder) as runner:
        steps = [runner.prefill(ids[:8])] + [runner.decode_step(token) for token in ids[8:]]
    assert np.abs(np.stack(steps) - _source_logits(tiny_gemma4, ids)[7:]).max() < 1e-3


def test_int8_validates_and_int4_is_measured_lossier(gemma4_onnx):
    int8 = edgekit("validate", gemma4_onnx["int8"], "--json")
    assert int8.code == 0, int8.json()["checks"]
    int4 = edgekit("validate", gemma4_onnx["int4"], "--json")
    report = int4.json()
    assert int4.code == (0 if report["passed"] else 1)
    assert report["teacher_forced"]["kl_mean"] > int8.json()["teacher_forced"]["kl_mean"]


def test_the_onnx_folder_carries_the_bpe_tokenizer_and_gemma4_turns(gemma4_onnx, tiny_gemma4):
    folder = gemma4_onnx["int8"]
    assert (folder / "tokenizer.json").read_bytes() == (tiny_gemma4 / "tokenizer.json").read_bytes()
    assert not (folder / "tokenizer.model").exists()
    chat = open_artifact(folder).chat
    assert (chat.user_prefix, chat.stop_tokens, chat.system_role) == ("<|turn>user\n", ("<turn|>", "<eos>"), True)


def test_run_streams_the_engine_text_of_the_gemma4_turns(gemma4_onnx):
    folder = gemma4_onnx["int8"]
    result = edgekit("run", folder, "the capital of france", "--system", "Be brief.", "--max-tokens", "6")
    assert result.code == 0, result.stderr[-2000:]
    with open_runner(folder) as runner:
        prompt = render(runner.chat, [Turn("user", "the capital of france")], system="Be brief.")
        assert prompt.startswith("<|turn>system\nBe brief.<turn|>\n<|turn>user\n")
        expected = "".join(runner.generate(prompt, 6, GREEDY))
    assert result.stdout == expected + "\n"


def test_bench_measures_the_onnx_folder(gemma4_onnx):
    data = edgekit("bench", gemma4_onnx["int8"], "--prefill-tokens", "32", "--decode-tokens", "8", "--json").json()
    assert data["prefill_tokens"] == 32 and data["decode_tokens_per_second"] > 0 and data["peak_rss_bytes"] > 0


def test_plan_offers_onnx_only_with_the_kv_of_the_caching_layers(tiny_gemma4):
    plan = edgekit("plan", "--device", "desktop", "--checkpoint", tiny_gemma4, "--json").json()
    assert {o["format"] for o in plan["options"]} == {"onnx"}
    assert plan["recommendation"]["format"] == "onnx"


def test_what_is_not_converted_yet_is_refused_in_one_line(tiny_gemma4, tmp_path):
    assert_one_line_error(
        edgekit("convert", tiny_gemma4, "--target", "android", "--out", tmp_path / "o"), "ONNX only", "--target onnx"
    )
    moe = shutil.copytree(tiny_gemma4, tmp_path / "moe")
    config = json.loads((moe / "config.json").read_text())
    (moe / "config.json").write_text(json.dumps({**config, "enable_moe_block": True}))
    assert_one_line_error(edgekit("convert", moe, "--target", "onnx", "--out", tmp_path / "o"), "mixture-of-experts")
    gguf = gemma4_vocab_files() / "ggml-vocab-gemma-4.gguf"
    assert_one_line_error(edgekit("convert", gguf, "--target", "onnx", "--out", tmp_path / "o"), "Gemma 4 GGUF")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.fixture(scope="module")
def real_vocab():
    from edgekit.formats.gguf import open_gguf

    folder = gemma4_vocab_files()
    return folder, open_gguf(folder / "ggml-vocab-gemma-4.gguf")


@pytest.fixture(scope="module")
def rebuilt(real_vocab):
    from tokenizers import Tokenizer

    from edgekit.intake.bpe_from_gguf import tokenizer_json_from_gguf

    return Tokenizer.from_str(tokenizer_json_from_gguf(real_vocab[1]))


def test_the_rebuilt_tokenizer_gives_llama_cpps_ids_on_its_test_vectors(real_vocab, rebuilt):
    vectors = vocab_test_vectors(real_vocab[0])
    assert len(vectors) >= 40
    mismatches = [(text, ids) for text, ids in vectors if rebuilt.encode(text, add_special_tokens=False).ids != ids]
    assert mismatches == []


def test_the_rebuilt_tokenizer_round_trips_a_corpus_and_keeps_markers_whole(real_vocab, rebuilt):
    tokens = real_vocab[1].array("tokenizer.ggml.tokens")
    markers = ["<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|think|>", "<|tool_call>", "<|image|>"]
    corpus = [*tokenizer_corpus(2000), *(f"{m}user\nhi {m}" for m in markers)]
    assert len(corpus) >= 2000
    for text in corpus:
        ids = rebuilt.encode(text, add_special_tokens=False).ids
        assert rebuilt.decode(ids, skip_special_tokens=False) == text
    for marker in markers:
        (only,) = rebuilt.encode(marker, add_special_tokens=False).ids
        assert tokens[only] == marker


def _transformers_render(template: str, messages: list[dict[str, str]], tokenizer_json: str) -> str:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(tokenizer_json), bos_token="<bos>", eos_token="<eos>"
    )
    tokenizer.chat_template = template
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@pytest.mark.parametrize("system", [None, "You are terse."])
def test_the_chat_format_renders_like_transformers_with_the_real_template(real_vocab, rebuilt, system):
    template = real_vocab[1].metadata["tokenizer.chat_template"]
    turns = [Turn("user", "What is 2+2?"), Turn("model", "4."), Turn("user", "And 3+3?")]
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in turns
    ]
    expected = _transformers_render(template, messages, rebuilt.to_str())
    assert "<bos>" + render(GEMMA4.chat, turns, system=system) == expected
