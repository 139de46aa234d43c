"""Shared fixtures: an isolated edgekit cache and tiny Gemma checkpoints of every family."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgekit.core.recipes import recipes_for
from tests.cli import convert, edgekit
from tests.fixtures.gguf_writer import write_gguf
from tests.fixtures.tiny_models import write_tiny_checkpoint
from tests.fixtures.tiny_tokenizer import train_tokenizer

FAMILIES = ("gemma", "gemma2", "gemma3")
NEXT_FAMILIES = ("gemma3n", "gemma4")
# Every recipe a LiteRT bundle can be written with, but the one that needs a size budget and
# the one that splits the table (its export differs: tests/test_table_split.py).
QUANTS = tuple(r.name for r in recipes_for("litertlm") if not r.needs_budget and not r.splits_table)
REPO = Path(__file__).resolve().parent.parent
# `make test` runs two workers (pytest-xdist, `--dist loadgroup`). Tests that share an expensive
# session fixture run in one worker, so that no worker builds it again; the first group a test
# falls in wins. The `slow` tests share the real default model, which each worker would load.
SHARED_FIXTURES = {
    "default-model": {"default_bundles", "default_onnx"},
    "gemma3n-gemma4": {"tiny_next"},
    "litert": {"converted"},
    "table-split": {"rare4"},
    "onnx": {"onnx_converted"},
    "keras": {"tiny_keras"},
    "llama-cpp-vocab": {"real_vocab"},
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = set(item.fixturenames) | ({"default_bundles"} if item.get_closest_marker("slow") else set())
        group = next((name for name, fixtures in SHARED_FIXTURES.items() if uses & fixtures), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def edgekit_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never touch the user's cache, except that the real default model's assembled GGUF
    is shared (read-only use) through EDGEKIT_TEST_CACHE when set."""
    cache = Path(os.environ.get("EDGEKIT_TEST_CACHE") or tmp_path_factory.mktemp("edgekit-cache"))
    os.environ["EDGEKIT_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_tokenizer_model() -> bytes:
    return train_tokenizer()


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_model: bytes) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-hf")
    return {f: write_tiny_checkpoint(f, root / f, tiny_tokenizer_model) for f in FAMILIES}


@pytest.fixture(scope="session")
def tiny_next(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_model: bytes) -> dict[str, Path]:
    """Tiny Gemma 3n and Gemma 4 text models (per-layer embeddings, shared KV layers), trained
    briefly so that int4 has some sense to keep; the Gemma 4 one with a BPE tokenizer.json only,
    as Gemma 4 checkpoints ship."""
    root = tmp_path_factory.mktemp("tiny-next")
    return {f: write_tiny_checkpoint(f, root / f, tiny_tokenizer_model, trained_steps=200) for f in NEXT_FAMILIES}


@pytest.fixture(scope="session")
def next_onnx(tiny_next, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Gemma 3n and 4 as ONNX folders: {family: {quant: folder}}."""
    out = {}
    for family, checkpoint in tiny_next.items():
        folder = tmp_path_factory.mktemp(f"onnx-{family}")
        out[family] = convert(checkpoint, "--target", "onnx", "--quant", "fp32,int8,int4", "--out", folder)
    return out


@pytest.fixture(scope="session")
def next_bundles(tiny_next, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Gemma 3n and 4 as `.litertlm` bundles through litert-torch's exportables: {family: {quant: file}}."""
    out = {}
    for family, checkpoint in tiny_next.items():
        folder = tmp_path_factory.mktemp(f"litertlm-{family}")
        out[family] = convert(
            checkpoint, "--target", "litertlm", "--quant", "fp32,int8,int4", "--prefill", "32", "--out", folder
        )
    return out


@pytest.fixture(scope="session")
def gemma4_bundles(next_bundles) -> dict[str, Path]:
    return next_bundles["gemma4"]


@pytest.fixture(scope="session")
def tiny_keras(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer_model: bytes) -> dict[str, Path]:
    """KerasHub presets saved by keras-hub itself, named as KerasHub names instruction-tuned ones."""
    from tests.fixtures.keras_presets import write_keras_preset

    root = tmp_path_factory.mktemp("tiny-keras")
    return {f: write_keras_preset(f, root / f"{f}_instruct_tiny", tiny_tokenizer_model) for f in FAMILIES}


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory, tiny_hf: dict[str, Path]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-gguf")
    return {f: write_gguf(path, root / f"tiny-{f}.gguf") for f, path in tiny_hf.items()}


@pytest.fixture(scope="session")
def converted(tiny_hf, tmp_path_factory) -> dict[str, dict[tuple[str, str], Path]]:
    """One conversion per family, every recipe: {family: {(quant, format): path}}."""
    out = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(f"convert-{family}")
        result = edgekit(
            "convert",
            tiny_hf[family],
            "--quant",
            ",".join(QUANTS),
            "--max-tokens",
            "1024",
            "--prefill",
            "32",
            "--out",
            folder,
            "--json",
        )
        assert result.code == 0, result.stderr[-3000:]
        summary = result.json()  # stdout is pure JSON: library chatter went to stderr
        out[family] = {(a["quant"], a["format"]): Path(a["artifact"]) for a in summary["artifacts"]}
        assert len(out[family]) == 2 * len(QUANTS)
        assert not [p for p in folder.iterdir() if p.name.startswith(".edgekit-tmp")]
    return out


@pytest.fixture(scope="session")
def default_bundles(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """The embedded Gemma 3 270M converted for Android, int8 and fp32, in one export (minutes)."""
    folder = tmp_path_factory.mktemp("default-bundles")
    result = edgekit("convert", "--target", "android", "--quant", "int8,fp32", "--out", folder, "--json")
    assert result.code == 0, result.stderr[-3000:]
    return {(a["quant"], a["format"]): Path(a["artifact"]) for a in result.json()["artifacts"]}


@pytest.fixture(scope="session")
def base_venv(tmp_path_factory) -> Path:
    """A venv with edgekit's base install only (`pip install .`): no torch, no tensorflow."""
    import shutil
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("base-venv")
    # Install from a clean copy: building in the checkout would leave (and later reuse) build/.
    source = shutil.copytree(
        REPO,
        root / "src",
        ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", "build", "*.egg-info", "__pycache__", "out"),
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(source)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return venv


@pytest.fixture(scope="session")
def onnx_converted(tiny_hf, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Every tiny family as ONNX folders: {family: {quant: folder}}."""
    out = {}
    for family in FAMILIES:
        folder = tmp_path_factory.mktemp(f"onnx-{family}")
        result = edgekit(
            "convert", tiny_hf[family], "--target", "onnx", "--quant", "fp32,int8,int4", "--out", folder, "--json"
        )
        assert result.code == 0, result.stderr[-3000:]
        out[family] = {a["quant"]: Path(a["artifact"]) for a in result.json()["artifacts"]}
    return out


@pytest.fixture(scope="session")
def default_onnx(tmp_path_factory) -> dict[str, Path]:
    """The embedded Gemma 3 270M as ONNX int8, int8-fast, int4 and fp32 (one export, minutes)."""
    folder = tmp_path_factory.mktemp("default-onnx")
    result = edgekit("convert", "--target", "onnx", "--quant", "int8,int8-fast,int4,fp32", "--out", folder, "--json")
    assert result.code == 0, result.stderr[-3000:]
    return {a["quant"]: Path(a["artifact"]) for a in result.json()["artifacts"]}
