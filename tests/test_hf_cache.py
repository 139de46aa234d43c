"""Model ids from the local Hugging Face cache: `edgekit convert google/...` reads the snapshot
already downloaded (huggingface_hub's own lookup, never a download), and says in one line how
to download one that is not there."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.cli import assert_one_line_error, edgekit

MODEL_ID = "google/gemma-3-tiny-it"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(root: Path, checkpoint: Path) -> tuple[Path, Path]:
    """A cache in huggingface_hub's layout: refs/main names the snapshot, whose files are
    relative links into blobs/ (as `hf download` leaves them). Returns (cache, snapshot)."""
    repo = root / "hub" / f"models--{MODEL_ID.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "blobs").mkdir()
    snapshot.mkdir(parents=True)
    for file in sorted(checkpoint.iterdir()):
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(Path("../../blobs") / blob.name)
    return root / "hub", snapshot


def test_convert_reads_a_model_id_from_the_local_cache(tiny_hf, tmp_path):
    cache, snapshot = _hub_cache(tmp_path, tiny_hf["gemma3"])
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    plan = edgekit("plan", "--device", "desktop", "--checkpoint", MODEL_ID, "--json", env=env)
    assert plan.code == 0, plan.stderr[-2000:]
    assert Path(plan.json()["checkpoint"]["path"]) == snapshot

    out = tmp_path / "out"
    result = edgekit(
        "convert",
        MODEL_ID,
        "--target",
        "litertlm",
        "--quant",
        "int8",
        "--prefill",
        "32",
        "--out",
        out,
        "--json",
        env=env,
    )
    assert result.code == 0, result.stderr[-3000:]
    (artifact,) = result.json()["artifacts"]
    source = json.loads(Path(artifact["artifact"] + ".edgekit.json").read_text())["source"]
    assert (source["model_id"], Path(source["path"])) == (MODEL_ID, snapshot)
    assert edgekit("validate", artifact["artifact"]).code == 0


def test_a_model_id_not_in_the_cache_is_one_line(tmp_path):
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-hub"), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "out"
    result = edgekit("convert", "google/gemma-3-270m-it", "--out", out, env=env)
    assert_one_line_error(result, "nor a model in the local hugging face cache", "hf download google/gemma-3-270m-it")
    assert not out.exists()
