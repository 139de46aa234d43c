"""`edgekit inspect` on every input kind, and its one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.cli import assert_one_line_error, edgekit
from tests.conftest import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_inspect_hf_and_gguf(tiny_hf, tiny_gguf, family):
    for path in (tiny_hf[family], tiny_gguf[family]):
        info = edgekit("inspect", path, "--json").json()
        assert info["family"] == family
        assert info["vocab_size"] == 512
        assert info["head_dim"] == 32
        assert info["chat_format"]["user_prefix"] == "<start_of_turn>user\n"
        assert info["chat_format"]["system_role"] is False
    gguf_info = edgekit("inspect", tiny_gguf[family], "--json").json()
    assert gguf_info["format"] == "gguf"
    assert "Q8_0" in gguf_info["dtypes"]["attention"]


def test_inspect_cached_folder_of_a_gguf(tiny_gguf):
    from edgekit.intake.checkpoint import load_checkpoint

    folder = load_checkpoint(tiny_gguf["gemma3"]).hf_folder()
    info = edgekit("inspect", folder, "--json").json()
    assert info["format"] == "huggingface" and info["dtypes"]["attention"] == {"F32": 24}


def test_inspect_human_output(tiny_hf):
    result = edgekit("inspect", tiny_hf["gemma2"])
    assert result.code == 0
    assert "family: gemma2" in result.stdout


def test_bad_inputs_get_one_line(tmp_path):
    pickle = tmp_path / "model.pt"
    pickle.write_bytes(b"\x80\x04")
    empty = tmp_path / "empty"
    empty.mkdir()
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    no_arch = tmp_path / "noarch"
    no_arch.mkdir()
    (no_arch / "config.json").write_text("{}")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x05" * 20)

    assert_one_line_error(edgekit("inspect", pickle), "pickle")
    assert_one_line_error(edgekit("inspect", empty), "empty")
    assert_one_line_error(edgekit("inspect", llama), "not a Gemma")
    assert_one_line_error(edgekit("inspect", no_arch), "architectures")
    assert_one_line_error(edgekit("inspect", tmp_path / "missing"), "does not exist")
    assert_one_line_error(edgekit("inspect", truncated), "truncated")
    assert_one_line_error(edgekit("inspect", "--no-such-flag"), "no such option")
