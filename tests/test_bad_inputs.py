"""Bad input, table-driven: every case exits non-zero with one clear line on stderr, no
traceback, and leaves no output behind."""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, edgekit

Maker = Callable[[Path, dict], list[str]]  # (tmp folder, fixtures) -> edgekit arguments


def _copy_hf(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    dst.mkdir()
    for item in src.iterdir():
        if item.name not in skip:
            shutil.copy(item, dst / item.name)
    return dst


def _safetensors_with_header(tmp: Path, fx: dict, edit: Callable[[dict], None]) -> Path:
    folder = _copy_hf(fx["hf"], tmp / "ckpt")
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    edit(header)
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + length :])
    return folder


def _config_edited(tmp: Path, fx: dict, **edits: Callable[[int], int]) -> Path:
    """A copy of the checkpoint whose config.json no longer describes its weights."""
    folder = _copy_hf(fx["hf"], tmp / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config.update({key: edit(config[key]) for key, edit in edits.items()})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _zip(tmp: Path, name: str, entries: dict[str, bytes]) -> Path:
    path = tmp / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    return path


def _huge_declared_size(tmp: Path, fx: dict) -> list[str]:
    path = _zip(tmp, "bomb.task", {"TF_LITE_PREFILL_DECODE": b"x", "TOKENIZER_MODEL": b"x", "METADATA": b"x"})
    raw = bytearray(path.read_bytes())
    central = raw.find(b"PK\x01\x02")
    raw[central + 24 : central + 28] = struct.pack("<I", 0xFFFFFFF0)  # uncompressed size
    path.write_bytes(raw)
    return ["inspect", str(path)]


def _bad_manifest_checksum(tmp: Path, fx: dict) -> list[str]:
    src = fx["bundle"]
    copy = tmp / src.name
    shutil.copy(src, copy)
    manifest = json.loads(src.with_name(src.name + ".edgekit.json").read_text())
    manifest["artifact"]["sha256"] = "0" * 64
    copy.with_name(copy.name + ".edgekit.json").write_text(json.dumps(manifest))
    return ["validate", str(copy)]


def _gguf_of_another_arch(tmp: Path, fx: dict) -> list[str]:
    import gguf
    import numpy as np

    path = tmp / "llama.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return ["inspect", str(path)]


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


CASES: dict[str, tuple[Maker, tuple[str, ...]]] = {
    "missing path": (lambda t, f: ["inspect", str(t / "nope")], ("does not exist",)),
    "empty folder": (lambda t, f: ["inspect", str((t / "e").mkdir() or t / "e")], ("empty",)),
    "config without architectures": (
        lambda t, f: ["inspect", str(_write((t / "c").mkdir() or t / "c", "config.json", b"{}").parent)],
        ("architectures",),
    ),
    "non-Gemma architecture": (
        lambda t, f: [
            "inspect",
            str(_write((t / "c").mkdir() or t / "c", "config.json", b'{"architectures": ["LlamaForCausalLM"]}').parent),
        ],
        ("not a Gemma",),
    ),
    "truncated safetensors": (
        lambda t, f: ["inspect", str(_trunc(_copy_hf(f["hf"], t / "ckpt") / "model.safetensors", 0.5).parent)],
        ("safetensors",),
    ),
    "safetensors offsets lie": (
        lambda t, f: [
            "inspect",
            str(
                _safetensors_with_header(
                    t, f, lambda h: h[next(k for k in h if k != "__metadata__")].update(data_offsets=[0, 10**12])
                )
            ),
        ],
        ("outside the file",),
    ),
    "safetensors shape lies": (
        lambda t, f: [
            "inspect",
            str(_safetensors_with_header(t, f, lambda h: h["model.norm.weight"].update(shape=[7, 7]))),
        ],
        ("does not match its byte size",),
    ),
    "weights missing a tensor": (
        lambda t, f: ["inspect", str(_safetensors_with_header(t, f, lambda h: h.pop("model.norm.weight")))],
        ("model.norm.weight",),
    ),
    "weights of another shape than config.json says": (
        lambda t, f: ["convert", str(_config_edited(t, f, intermediate_size=lambda n: n + 8)), "--out", str(t / "o")],
        ("another shape", "model.layers.0.mlp.down_proj.weight"),
    ),
    "pickle checkpoint": (lambda t, f: ["inspect", str(_write(t, "model.pt", b"\x80\x04K\x01."))], ("pickle",)),
    "truncated GGUF": (
        lambda t, f: ["inspect", str(_write(t, "cut.gguf", f["gguf"].read_bytes()[:5000]))],
        ("truncated",),
    ),
    "GGUF of another architecture": (_gguf_of_another_arch, ("not a Gemma",)),
    "no tokenizer": (
        lambda t, f: ["inspect", str(_copy_hf(f["hf"], t / "ckpt", skip=("tokenizer.model", "tokenizer.json")))],
        ("no tokenizer",),
    ),
    "tokenizer not SentencePiece": (
        lambda t, f: [
            "convert",
            str(_copy_hf(f["hf"], t / "ckpt", skip=("tokenizer.model",))),
            "--out",
            str(t / "out"),
        ],
        ("tokenizer.model",),
    ),
    ".task that is not a zip": (lambda t, f: ["inspect", str(_write(t, "x.task", b"not a zip" * 10))], ("not a zip",)),
    ".task missing an entry": (
        lambda t, f: ["inspect", str(_zip(t, "m.task", {"TF_LITE_PREFILL_DECODE": b"x", "METADATA": b"x"}))],
        ("missing entry TOKENIZER_MODEL",),
    ),
    "zip entry with ../": (
        lambda t, f: ["inspect", str(_zip(t, "z.task", {"../evil": b"x", "TOKENIZER_MODEL": b"x"}))],
        ("unsafe entry",),
    ),
    "zip entry with absolute name": (
        lambda t, f: ["inspect", str(_zip(t, "a.task", {"/etc/evil": b"x"}))],
        ("unsafe entry",),
    ),
    "zip declaring a huge size": (_huge_declared_size, ("declares",)),
    "LITERTLM magic then garbage (validate)": (
        lambda t, f: ["validate", str(_write(t, "g.litertlm", b"LITERTLM" + bytes(range(256)) * 40))],
        ("litertlm",),
    ),
    "LITERTLM magic then garbage (run)": (
        lambda t, f: ["run", str(_write(t, "g.litertlm", b"LITERTLM" + b"\xff" * 4000)), "hi"],
        ("litertlm",),
    ),
    "garbage .onnx": (lambda t, f: ["inspect", str(_write(t, "g.onnx", b"\x08\x07garbage" * 50))], ("ONNX",)),
    "manifest checksum mismatch": (_bad_manifest_checksum, ("does not match its manifest",)),
    "manifest that is not JSON": (
        lambda t, f: ["inspect", str(_write(t, "x.task.edgekit.json", b"{not json"))],
        ("manifest",),
    ),
    "unwritable output folder": (
        lambda t, f: ["convert", str(f["hf"]), "--out", "/proc/edgekit-out"],
        ("cannot write",),
    ),
    "output path is a file": (
        lambda t, f: ["convert", str(f["hf"]), "--out", str(_write(t, "file", b"x"))],
        ("is a file",),
    ),
    "existing output without --force": (
        lambda t, f: ["convert", str(f["hf"]), "--out", str(f["bundle"].parent), "--quant", "int8"],
        ("already exists", "--force"),
    ),
    "prompt longer than the KV cache": (lambda t, f: ["run", str(f["bundle"]), "word " * 3000, "--raw"], ("holds",)),
    "conflicting options": (lambda t, f: ["run", str(f["bundle"]), "hi", "--raw", "--system", "x"], ("--raw",)),
    "unknown quantization": (
        lambda t, f: ["convert", str(f["hf"]), "--quant", "int3", "--out", str(t / "o")],
        ("--quant",),
    ),
    "unsupported block size": (
        lambda t, f: ["convert", str(f["hf"]), "--quant", "int4", "--block-size", "48", "--out", str(t / "o")],
        ("--block-size",),
    ),
    "not enough memory": (
        lambda t, f: ["convert", str(f["hf"]), "--out", str(t / "o"), "ENV:EDGEKIT_AVAILABLE_MEMORY=1e6"],
        ("memory", "--force"),
    ),
    "not enough disk": (
        lambda t, f: ["convert", str(f["hf"]), "--out", str(t / "o"), "ENV:EDGEKIT_AVAILABLE_DISK=1000"],
        ("disk", "--force"),
    ),
    "a folder where a bundle is expected": (lambda t, f: ["validate", str(t)], ("folder",)),
    "handoff of a bundle without manifest": (
        lambda t, f: ["handoff", str(_write(t, "lone.task", f["bundle"].read_bytes())), "--out", str(t / "o")],
        ("no manifest",),
    ),
    "handoff of a changed bundle": (
        lambda t, f: ["handoff", _bad_manifest_checksum(t, f)[1], "--out", str(t / "o"), "--no-measure"],
        ("does not match its manifest",),
    ),
    "run of a changed bundle": (
        lambda t, f: ["run", _bad_manifest_checksum(t, f)[1], "hi"],
        ("does not match its manifest",),
    ),
    "fp16 asked of the ONNX target": (
        lambda t, f: ["convert", str(f["hf"]), "--target", "onnx", "--quant", "fp16", "--out", str(t / "o")],
        ("fp16", "ONNX"),
    ),
    "auto without a size budget": (
        lambda t, f: ["convert", str(f["hf"]), "--target", "onnx", "--quant", "auto", "--out", str(t / "o")],
        ("--max-size",),
    ),
    "a size budget without auto": (
        lambda t, f: ["convert", str(f["hf"]), "--target", "onnx", "--max-size", "100", "--out", str(t / "o")],
        ("--max-size", "auto"),
    ),
    "a LiteRT budget below every plan": (
        lambda t, f: [
            "convert",
            str(f["hf"]),
            "--quant",
            "auto",
            "--max-size",
            "0.01",
            "--prefill",
            "32",
            "--out",
            str(t / "o"),
        ],
        ("--max-size 0.01", "smallest plan", "the fewest any recipe uses"),
    ),
    "validate --text without a reference": (
        lambda t, f: ["validate", str(f["bundle"]), "--text", str(_write(t, "t.txt", b"some text"))],
        ("--reference",),
    ),
    "validate --text of a missing file": (
        lambda t, f: ["validate", str(f["bundle"]), "--reference", str(f["hf"]), "--text", str(t / "none.txt")],
        ("--text",),
    ),
}


def _trunc(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.fixture(scope="module")
def fx(tiny_hf, tiny_gguf, converted) -> dict:
    return {"hf": tiny_hf["gemma3"], "gguf": tiny_gguf["gemma3"], "bundle": converted["gemma3"][("int8", "task")]}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, fx, tmp_path):
    make, needles = CASES[name]
    args = make(tmp_path, fx)
    env = dict(a[4:].split("=", 1) for a in args if a.startswith("ENV:"))
    args = [a for a in args if not a.startswith("ENV:")]
    before = sorted(p.name for p in fx["bundle"].parent.iterdir())
    result = edgekit(*args, env=env)
    # bad input is exit 2: never 1 (a validation that ran and failed) nor 70 (a bug)
    assert_one_line_error(result, *needles, code=2)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".edgekit-tmp")]
    assert leftovers == []
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    assert sorted(p.name for p in fx["bundle"].parent.iterdir()) == before
