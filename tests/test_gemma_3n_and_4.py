"""Gemma 3n and Gemma 4: tiny random text models convert to ONNX that matches transformers
past the sliding window, validate, run in their chat format and bench; what is not converted
yet is refused in one line; the tokenizer rebuilt from the real Gemma 4 GGUF vocabulary gives
llama.cpp's ids; Gemma 4's chat format renders like transformers with the real template.
Gemma 3n and 4 `.litertlm` bundles: test_next_litertlm.py."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgekit.core.chat import Turn, render
from edgekit.families import family_named
from edgekit.formats.tokenizer import folder_tokenizer
from edgekit.runtime import GREEDY, open_runner
from edgekit.runtime.artifact import open_artifact
from tests.cli import assert_one_line_error, convert, edgekit
from tests.conftest import NEXT_FAMILIES
from tests.fixtures.llama_cpp_vocab import (
    GEMMA4_MARKERS,
    gemma4_vocab_files,
    recorded_llama_cpp_ids,
    vocab_test_vectors,
)
from tests.fixtures.multimodal import write_multimodal_checkpoint
from tests.fixtures.tokenizer_corpus import tokenizer_corpus

GEMMA4 = family_named("gemma4")
WINDOW = 16  # the tiny model's sliding window
# Intake-only cases (a GGUF, a multimodal folder) convert each family to one target, since an
# export takes about a minute: the intake is the same for either target, and the pairs cover
# both targets and both tokenizer kinds (SentencePiece for Gemma 3n, BPE for Gemma 4).
ONE_TARGET_EACH = [("gemma3n", "onnx", ()), ("gemma4", "litertlm", ("--prefill", "32"))]


def _source_logits(folder, ids):
    from edgekit.converters.golden import load_source_model, source_logits

    return source_logits(load_source_model(folder), ids)


@pytest.mark.parametrize("family", NEXT_FAMILIES)
def test_fp32_onnx_matches_transformers_over_the_reference_text(next_onnx, tiny_next, family):
    artifact = open_artifact(next_onnx[family]["fp32"])
    ids = artifact.manifest.golden.reference.ids
    assert len(ids) - 1 >= WINDOW + 64
    with open_runner(artifact) as runner:
        graph = np.stack(list(runner.logits(ids)))
    assert np.abs(graph - _source_logits(tiny_next[family], ids)).max() < 1e-3


@pytest.mark.parametrize("family", NEXT_FAMILIES)
def test_decode_steps_carry_the_cache_past_the_window_and_the_shared_layers(next_onnx, tiny_next, family):
    """Prefill 8 tokens, then one decode step per token for 80 more (five windows): the caching
    layers' KV outputs, fed back, give the source's logits; the last two layers keep none."""
    import onnx

    folder = next_onnx[family]["fp32"]
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    config = json.loads((tiny_next[family] / "config.json").read_text())
    caching = family_named(family).cache_shapes(config)
    assert len([i for i in graph.graph.input if i.name.startswith("past_key_values.")]) == 2 * len(caching)
    assert len(caching) == config["num_hidden_layers"] - config["num_kv_shared_layers"]
    ids = open_artifact(folder).manifest.golden.reference.ids[:88]
    with open_runner(folder) as runner:
        steps = [runner.prefill(ids[:8])] + [runner.decode_step(token) for token in ids[8:]]
    assert np.abs(np.stack(steps) - _source_logits(tiny_next[family], ids)[7:]).max() < 1e-3


@pytest.fixture(scope="module")
def multimodal(tiny_next, tmp_path_factory) -> dict[str, Path]:
    """The tiny text models inside transformers' own `*ForConditionalGeneration` folders."""
    root = tmp_path_factory.mktemp("multimodal")
    return {family: write_multimodal_checkpoint(tiny_next[family], root / family) for family in NEXT_FAMILIES}


@pytest.mark.parametrize(("family", "target", "options"), ONE_TARGET_EACH)
def test_a_multimodal_folder_converts_its_text_decoder(multimodal, tiny_next, tmp_path, family, target, options):
    """Released Gemma 3n/4 checkpoints are `*ForConditionalGeneration` folders: their text
    decoder converts to the text model's logits, the manifest says which towers it left out,
    and so does the model card a handoff writes."""
    assert edgekit("inspect", multimodal[family], "--json").json()["towers_left_out"] == ["vision", "audio"]
    artifact = convert(multimodal[family], "--target", target, "--quant", "fp32", *options, "--out", tmp_path / "o")
    manifest = open_artifact(artifact["fp32"]).manifest
    assert manifest.source.architecture.endswith("ForConditionalGeneration")
    assert manifest.source.towers_left_out == ("vision", "audio")
    ids = manifest.golden.reference.ids[: WINDOW + 48]
    with open_runner(artifact["fp32"]) as runner:
        logits = np.stack(list(runner.logits(ids)))
    assert np.abs(logits - _source_logits(tiny_next[family], ids)).max() < 1e-3
    if target == "litertlm":  # handoff packages mobile bundles only
        handoff = edgekit("handoff", artifact["fp32"], "--out", tmp_path / "handoff", "--no-measure")
        assert handoff.code == 0, handoff.stderr[-2000:]
        assert "Not converted: the vision and audio towers" in (tmp_path / "handoff" / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("family", NEXT_FAMILIES)
def test_int8_and_int4_validate_and_int4_is_measured_lossier(next_onnx, family):
    """On the briefly trained tiny models int4 holds int4's limits (untrained, it does not: random
    logit margins flip under 4-bit rounding), and is measured as lossier than int8."""
    int8 = edgekit("validate", next_onnx[family]["int8"], "--json")
    assert int8.code == 0, int8.json()["checks"]
    int4 = edgekit("validate", next_onnx[family]["int4"], "--json")
    assert int4.code == 0, int4.json()["checks"]
    assert int4.json()["teacher_forced"]["kl_mean"] > int8.json()["teacher_forced"]["kl_mean"]


def test_the_onnx_folder_carries_the_bpe_tokenizer_and_gemma4_turns(next_onnx, tiny_next):
    folder = next_onnx["gemma4"]["int8"]
    assert (folder / "tokenizer.json").read_bytes() == (tiny_next["gemma4"] / "tokenizer.json").read_bytes()
    assert not (folder / "tokenizer.model").exists()
    chat = open_artifact(folder).chat
    assert (chat.user_prefix, chat.stop_tokens, chat.system_role) == ("<|turn>user\n", ("<turn|>", "<eos>"), True)


def test_run_streams_the_engine_text_of_the_gemma4_turns(next_onnx):
    folder = next_onnx["gemma4"]["int8"]
    result = edgekit("run", folder, "the capital of france", "--system", "Be brief.", "--max-tokens", "6")
    assert result.code == 0, result.stderr[-2000:]
    with open_runner(folder) as runner:
        prompt = render(runner.chat, [Turn("user", "the capital of france")], system="Be brief.")
        assert prompt.startswith("<|turn>system\nBe brief.<turn|>\n<|turn>user\n")
        expected = "".join(runner.generate(prompt, 6, GREEDY))
    assert result.stdout == expected + "\n"
    sent = edgekit("run", folder, "the capital of france", "--system", "Be brief.", "--max-tokens", "6", "--json")
    assert sent.json()["prompt"] == prompt


@pytest.mark.parametrize("family", NEXT_FAMILIES)
def test_bench_measures_the_onnx_folder(next_onnx, family):
    data = edgekit(
        "bench", next_onnx[family]["int8"], "--prefill-tokens", "32", "--decode-tokens", "8", "--json"
    ).json()
    assert data["prefill_tokens"] == 32 and data["decode_tokens_per_second"] > 0 and data["peak_rss_bytes"] > 0


@pytest.mark.parametrize(("family", "formats"), [("gemma3n", {"litertlm", "onnx"}), ("gemma4", {"litertlm", "onnx"})])
def test_plan_offers_the_formats_the_family_converts_to(tiny_next, family, formats):
    plan = edgekit("plan", "--device", "desktop", "--checkpoint", tiny_next[family], "--json").json()
    assert {o["format"] for o in plan["options"]} == formats
    assert_one_line_error(edgekit("plan", "--device", "web", "--checkpoint", tiny_next[family]), "load task")


def test_what_is_not_converted_yet_is_refused_in_one_line(tiny_next, tmp_path):
    for checkpoint in tiny_next.values():
        refused = edgekit("convert", checkpoint, "--target", "android", "--out", tmp_path / "o")
        assert_one_line_error(refused, "only in this release", "--target onnx")
    moe = shutil.copytree(tiny_next["gemma4"], tmp_path / "moe")
    config = json.loads((moe / "config.json").read_text())
    (moe / "config.json").write_text(json.dumps({**config, "enable_moe_block": True}))
    assert_one_line_error(edgekit("convert", moe, "--target", "onnx", "--out", tmp_path / "o"), "mixture-of-experts")
    moe_gguf = gemma4_vocab_files() / "ggml-vocab-gemma-4.gguf"  # the 26B-A4B's metadata
    assert_one_line_error(
        edgekit("convert", moe_gguf, "--target", "onnx", "--out", tmp_path / "o"), "mixture-of-experts"
    )
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("target", ["litertlm", "onnx"])
def test_e4b_on_a_24_gib_machine_is_refused_before_any_work_with_its_predicted_peak(
    target, tiny_tokenizer_model, tmp_path
):
    """The E2B shapes convert on this 24 GiB machine (benchmarks/conversion_memory.md); E4B
    (7.5B stored parameters, 30 GB in float32) would not: the guard says so from the header."""
    from tests.fixtures.released_shapes import header_only_checkpoint

    e4b = header_only_checkpoint("gemma4-e4b", tmp_path / "e4b", tiny_tokenizer_model)
    refused = edgekit(
        "convert", e4b, "--target", target, "--quant", "int4", "--out", tmp_path / "o",
        env={"EDGEKIT_AVAILABLE_MEMORY": str(24 * 2**30)},
    )  # fmt: skip
    assert_one_line_error(refused, "needs about", "only 24.0 GiB is available", "--force")
    predicted = float(refused.stderr.split("needs about ")[1].split(" GiB")[0])
    assert 28 < predicted < 45, refused.stderr
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


def test_the_rebuilt_tokenizer_gives_llama_cpps_own_ids_on_a_corpus(real_vocab, rebuilt):
    """Ids llama.cpp's own tokenizer gave on the real vocabulary (recorded by running
    tests/fixtures/llama_cpp_vocab.py) for strings of whitespace runs, code, CJK, emoji and
    Gemma 4's turn, channel and tool markers."""
    recorded = recorded_llama_cpp_ids()
    assert (
        recorded["vocab_sha256"] == hashlib.sha256((real_vocab[0] / "ggml-vocab-gemma-4.gguf").read_bytes()).hexdigest()
    )
    texts = recorded["texts"]
    assert len(texts) >= 2000 and sum(any(m in t for m in GEMMA4_MARKERS) for t in texts) >= 500
    mismatches = [
        (text, ids)
        for text, ids in zip(texts, recorded["ids"], strict=True)
        if rebuilt.encode(text, add_special_tokens=False).ids != ids
    ]
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


def test_gemma3n_export_needs_its_sparsity_cutoff_as_a_constant(tmp_path):
    """Without `constant_sparsity_cutoff` torch's ONNX exporter stops on erfinv; with it the
    sparse MLP exports and computes what transformers computes."""
    import torch
    import transformers

    from edgekit.converters.export_patches import patched

    config = transformers.Gemma3nTextConfig(
        hidden_size=64, intermediate_size=[128], num_hidden_layers=1, activation_sparsity_pattern=[0.95], vocab_size=512
    )
    mlp = transformers.models.gemma3n.modeling_gemma3n.Gemma3nTextMLP(config, layer_idx=0).eval()
    x = torch.randn(1, 5, 64)
    with torch.no_grad():
        expected = mlp(x)
        with pytest.raises(Exception, match="erf_inv"):
            torch.onnx.export(mlp, (x,), str(tmp_path / "plain.onnx"), dynamo=True)
        with patched(family_named("gemma3n").export_patches):
            assert torch.allclose(mlp(x), expected, atol=1e-6)
            torch.onnx.export(mlp, (x,), str(tmp_path / "patched.onnx"), dynamo=True)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "patched.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("system", [None, "You are terse."])
def test_the_chat_format_renders_like_transformers_with_the_real_template(real_vocab, rebuilt, system):
    template = real_vocab[1].metadata["tokenizer.chat_template"]
    turns = [Turn("user", "What is 2+2?"), Turn("model", "4."), Turn("user", "And 3+3?")]
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in turns
    ]
    expected = _transformers_render(template, messages, rebuilt.to_str())
    # the family's format, and the template itself rendered in edgekit's sandbox
    assert "<bos>" + render(GEMMA4.chat, turns, system=system) == expected
    assert "<bos>" + render(replace(GEMMA4.chat, template=template), turns, system=system) == expected


def test_the_checkpoints_own_template_travels_and_run_renders_it(tiny_next, tmp_path):
    """A fine-tune's own chat_template.jinja (here one in another turn format than Gemma 4's, with
    its system instruction as a line of its own) is carried in the manifest, and `edgekit run`
    renders it exactly as transformers' apply_chat_template does."""
    template = (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}### System: {{ m['content'] }}\n"
        "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n{{ m['content'] }}"
        "<end_of_turn>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    checkpoint = shutil.copytree(tiny_next["gemma4"], tmp_path / "tuned")
    (checkpoint / "chat_template.jinja").write_text(template)
    converted = edgekit("convert", checkpoint, "--target", "onnx", "--quant", "int8", "--out", tmp_path / "o", "--json")
    assert converted.code == 0, converted.stderr[-2000:]
    folder = tmp_path / "o" / "tuned-int8-onnx"
    chat = open_artifact(folder).chat
    assert (chat.template, chat.template_source) == (template, "chat_template.jinja")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "the capital of france"}]
    prompt = _transformers_render(template, messages, (checkpoint / "tokenizer.json").read_text())
    assert prompt.startswith("<bos>### System: Be brief.\n<start_of_turn>user\n")
    result = edgekit("run", folder, "the capital of france", "--system", "Be brief.", "--max-tokens", "6")
    assert result.code == 0, result.stderr[-2000:]
    with open_runner(folder) as runner:
        expected = "".join(runner.generate(prompt.removeprefix("<bos>"), 6, GREEDY))
    assert result.stdout == expected + "\n"


@pytest.mark.parametrize("where", ["chat_template.jinja", "tokenizer_config.json"])
@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set ns = namespace(_class=1) %}",
    ],
)
def test_a_hostile_template_is_refused_and_nothing_is_written(tiny_next, tmp_path, where, attack):
    checkpoint = shutil.copytree(tiny_next["gemma4"], tmp_path / "hostile")
    if where == "chat_template.jinja":
        (checkpoint / where).write_text(attack)
    else:
        config = json.loads((checkpoint / where).read_text())
        (checkpoint / where).write_text(json.dumps({**config, "chat_template": attack}))
    result = edgekit("convert", checkpoint, "--target", "onnx", "--quant", "int8", "--out", tmp_path / "o")
    assert_one_line_error(result, "unsafe", where.split(".")[0])
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_a_torch_free_install_validates_the_gemma4_folder(base_venv, next_onnx, tmp_path):
    """The base install reads the BPE tokenizer.json too (no torch, no transformers)."""
    import subprocess

    result = subprocess.run(
        [str(base_venv / "bin" / "edgekit"), "validate", str(next_onnx["gemma4"]["int8"]), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["passed"] is True


@pytest.mark.parametrize(("family", "target", "options"), ONE_TARGET_EACH)
def test_a_gguf_written_by_llama_cpps_rules_converts_exactly(tiny_next, tmp_path, family, target, options):
    """A GGUF written as llama.cpp's Gemma3NModel / Gemma4Model converter writes one (float32
    tensors) becomes an artifact whose logits are the original checkpoint's past the sliding
    window, through a tokenizer rebuilt from the GGUF's vocabulary (SentencePiece for Gemma 3n;
    BPE with merges for Gemma 4) that encodes as the original tokenizer does."""
    from tests.fixtures.gguf_writer import write_gemma3n_gguf, write_gemma4_gguf

    writer = {"gemma3n": write_gemma3n_gguf, "gemma4": write_gemma4_gguf}[family]
    gguf = writer(tiny_next[family], tmp_path / f"tiny-{family}.gguf")
    artifact = convert(gguf, "--target", target, "--quant", "fp32", *options, "--out", tmp_path / target)["fp32"]
    ids = open_artifact(artifact).manifest.golden.reference.ids
    assert len(ids) - 1 >= WINDOW + 64
    with open_runner(artifact) as runner:
        logits = np.stack(list(runner.logits(ids)))
    assert np.abs(logits - _source_logits(tiny_next[family], ids)).max() < 1e-3
    original = folder_tokenizer(tiny_next[family])
    rebuilt = open_artifact(artifact).tokenizer()
    corpus = tokenizer_corpus(600)
    assert [rebuilt.encode(text) for text in corpus] == [original.encode(text) for text in corpus]


def test_onnxruntime_genai_runs_the_gemma4_graph(next_onnx):
    """onnxruntime-genai 0.18 loads edgekit's Gemma 4 folder and gives onnxruntime's greedy
    ids (it refuses Gemma 3n's model type, `gemma3n_text`: README)."""
    from tests.test_convert_onnx import genai_greedy, greedy_steps

    folder = next_onnx["gemma4"]["int8"]
    prompt = open_artifact(folder).manifest.golden.prompts[0].prompt_ids
    with open_runner(folder) as runner:
        expected = greedy_steps(runner, prompt, 8)
    assert genai_greedy(folder, prompt, 8) == expected
