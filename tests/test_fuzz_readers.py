"""A bounded fuzz pass over every reader behind `inspect`; benchmarks/fuzz.py runs the long one."""

from __future__ import annotations

import pytest

from tests.fuzzing import READERS, fuzz

COUNT = 1500


@pytest.fixture(scope="module")
def seeds(tiny_gguf, tiny_hf, converted) -> dict[str, bytes]:
    task = converted["gemma3"][("int8", "task")]
    return {
        "gguf": tiny_gguf["gemma3"].read_bytes(),
        "task": task.read_bytes(),
        "litertlm": converted["gemma3"][("int8", "litertlm")].read_bytes(),
        "manifest": task.with_name(task.name + ".edgekit.json").read_bytes(),
        "safetensors": (tiny_hf["gemma"] / "model.safetensors").read_bytes(),
    }


@pytest.mark.parametrize("kind", list(READERS))
def test_reader_survives_mutations(kind, seeds, tmp_path):
    result = fuzz(kind, seeds[kind], COUNT, tmp_path)
    assert result.crashes == []
    assert result.rejected > 0  # the mutations do reach the checks
