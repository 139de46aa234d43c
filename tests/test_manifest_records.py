"""Manifest records: every manifest the first release wrote still reads; a newer major is
refused in one line; a record survives a round trip unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import MANIFEST_KEY, MANIFEST_VERSION, Manifest, read_manifest
from tests.cli import assert_one_line_error, edgekit

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
V1_0 = sorted(FIXTURES.glob("v1.0-*.edgekit.json"))


def test_fixtures_are_the_first_release_format():
    assert len(V1_0) == 2
    assert all(json.loads(p.read_text())[MANIFEST_KEY] == 1 for p in V1_0)


@pytest.mark.parametrize("path", V1_0, ids=lambda p: p.name)
def test_manifests_of_format_1_0_read_field_for_field(path):
    raw = json.loads(path.read_text())
    manifest = read_manifest(path)
    assert manifest.version == (1, 0)
    again = manifest.to_json()
    for key in ("artifact", "libraries", "conversion"):
        assert again[key] == raw[key], key
    # fields added since (1.2: the Hugging Face model id; 1.3: carried LiteRT weights; 1.4: golden
    # outputs on the user's inputs) read as their defaults
    for key in ("source", "recipe", "golden"):
        assert {k: again[key][k] for k in raw[key]} == raw[key], key
    assert again["source"]["model_id"] is None
    assert again["recipe"]["litert_weights"] is None
    assert again["golden"]["user"] is None
    # 1.0 had fewer chat-format fields (turn markers, system turn): what it had is kept, sampling included
    assert {k: again["chat_format"][k] for k in raw["chat_format"]} == raw["chat_format"]
    assert manifest.chat_format.recommended_sampling == (("temperature", 1.0), ("top_k", 64), ("top_p", 0.95))


@pytest.mark.parametrize("path", V1_0, ids=lambda p: p.name)
def test_a_record_round_trips(path):
    manifest = read_manifest(path)
    written = manifest.to_json()
    assert written[MANIFEST_KEY] == f"{MANIFEST_VERSION[0]}.{MANIFEST_VERSION[1]}"
    assert Manifest.from_json(json.loads(json.dumps(written))) == manifest.__class__(
        **{**manifest.__dict__, "version": MANIFEST_VERSION}
    )


def test_a_newer_major_version_is_refused_in_one_line(tmp_path):
    data = json.loads(V1_0[0].read_text())
    data[MANIFEST_KEY] = f"{MANIFEST_VERSION[0] + 1}.0"
    newer = tmp_path / "model.task.edgekit.json"
    newer.write_text(json.dumps(data))
    with pytest.raises(EdgekitError, match="newer than this edgekit reads"):
        read_manifest(newer)
    assert_one_line_error(edgekit("inspect", newer), "newer", "upgrade edgekit")


def test_a_newer_minor_version_reads(tmp_path):
    data = json.loads(V1_0[0].read_text())
    data[MANIFEST_KEY] = f"{MANIFEST_VERSION[0]}.{MANIFEST_VERSION[1] + 1}"
    data["a_field_from_the_future"] = {"x": 1}
    newer = tmp_path / "model.task.edgekit.json"
    newer.write_text(json.dumps(data))
    assert read_manifest(newer).artifact.file == data["artifact"]["file"]


@pytest.mark.parametrize("damage", ["no version", "no golden", "wrong type"])
def test_incomplete_manifests_are_one_line(damage, tmp_path):
    data = json.loads(V1_0[0].read_text())
    if damage == "no version":
        del data[MANIFEST_KEY]
    elif damage == "no golden":
        del data["golden"]
    else:
        data["recipe"]["cache_length"] = "many"
    path = tmp_path / "model.task.edgekit.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EdgekitError, match="manifest"):
        read_manifest(path)


def test_a_sampling_override_reaches_the_app_config(tmp_path):
    """`--chat-template` may change the recommended sampling: the hand-off's app config must
    carry the manifest's, not the family default."""
    from edgekit.app.handoff import app_config

    data = json.loads(V1_0[0].read_text())
    data["chat_format"]["recommended_sampling"] = {"temperature": 0.7, "top_k": 40, "top_p": 0.9}
    path = tmp_path / "model.task.edgekit.json"
    path.write_text(json.dumps(data))
    manifest = read_manifest(path)
    assert dict(manifest.chat_format.recommended_sampling) == {"temperature": 0.7, "top_k": 40, "top_p": 0.9}
    config = app_config([(tmp_path / "model.task", manifest)], manifest.chat_format)
    assert (config["temperature"], config["top_k"], config["top_p"]) == (0.7, 40, 0.9)
