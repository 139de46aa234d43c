"""The light runtime: run, validate and bench, including from a venv without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from edgekit.core.chat import Turn, render
from edgekit.families import GEMMA_CHAT
from edgekit.runtime import GREEDY, open_runner
from tests.cli import assert_one_line_error, edgekit
from tests.fixtures.perturb import perturb_task_weights


def _validate_in(venv, bundle, cwd):
    result = subprocess.run(
        [str(venv / "bin" / "edgekit"), "validate", str(bundle), "--json"], capture_output=True, text=True, cwd=cwd
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_validate_in_a_torch_free_venv(base_venv, converted, tmp_path):
    """`pip install .` (no extras) is enough to validate a bundle; torch is not there."""
    python = str(base_venv / "bin" / "python")
    probe = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u; print([m for m in "
            "('torch','tensorflow','transformers','litert_torch','mediapipe') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"
    assert _validate_in(base_venv, converted["gemma3"][("int8", "litertlm")], tmp_path)["passed"] is True
    imports = subprocess.run(
        [
            python,
            "-c",
            "import sys, edgekit.runtime.validate, edgekit.commands; "
            "print(sorted(m for m in ('torch','tensorflow','transformers') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert imports.stdout.strip() == "[]"


@pytest.mark.slow
def test_default_int8_validates_in_a_torch_free_venv(base_venv, default_bundles, tmp_path):
    report = _validate_in(base_venv, default_bundles[("int8", "litertlm")], tmp_path)
    assert report["passed"] is True


def test_perturbed_weights_fail_validation_naming_the_metric(converted, tmp_path):
    bad = perturb_task_weights(converted["gemma3"][("int8", "task")], tmp_path / "broken-int8.task")
    result = edgekit("validate", bad, "--report", tmp_path / "report.html", "--json")
    report = result.json()
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    # the weights are wrong, not the file or its tokenizer: the metrics that measure weights fail
    assert {"teacher-forced top-1 agreement", "mean KL(source || bundle)"} <= failed
    assert not failed & {"manifest sha256", "tokenizer identity (bundle vs golden ids)"}
    assert_one_line_error(result, "failed validation", "teacher-forced top-1 agreement", code=1)
    assert "FAIL" in (tmp_path / "report.html").read_text()


def test_changed_artifact_is_refused(converted, tmp_path):
    source = converted["gemma2"][("int8", "task")]
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    shutil.copy(source.with_name(source.name + ".edgekit.json"), tmp_path)
    with open(copy, "ab") as handle:
        handle.write(b"\0")
    assert_one_line_error(edgekit("validate", copy), "does not match its manifest")


@pytest.mark.parametrize("fmt", ["task", "litertlm"])
def test_run_streams_text(converted, fmt):
    bundle = converted["gemma3"][("int8", fmt)]
    chat = edgekit("run", bundle, "the capital of france", "--max-tokens", "6", "--system", "Be brief.")
    raw = edgekit("run", bundle, "the capital of france", "--max-tokens", "6", "--raw")
    assert chat.code == 0 and raw.code == 0, chat.stderr[-1000:] + raw.stderr[-1000:]
    # what the command streams is the engine's greedy text of the prompt as rendered: raw as
    # given, chat in the bundle's turns with the system instruction folded into the first one
    with open_runner(bundle) as runner:
        turns = [Turn("user", "the capital of france")]
        expected_chat = "".join(runner.generate(render(runner.chat, turns, system="Be brief."), 6, GREEDY))
        expected_raw = "".join(runner.generate("the capital of france", 6, GREEDY))
    assert (chat.stdout, raw.stdout) == (expected_chat + "\n", expected_raw + "\n")
    # and the prompt it sent: the system instruction folded into the first user turn
    sent = edgekit("run", bundle, "the capital of france", "--max-tokens", "6", "--system", "Be brief.", "--json")
    assert sent.json() == {
        "prompt": render(GEMMA_CHAT, turns, system="Be brief."),
        "answer": expected_chat,
        "backend": "LiteRT-LM",
        "engine_note": None,  # LiteRT-LM, the usual engine, ran it
        "stopped": None,  # the engine ended the answer itself
    }
    assert "Be brief.\n\nthe capital of france" in sent.json()["prompt"]


def test_run_refuses_prompt_longer_than_the_cache(converted):
    bundle = converted["gemma"][("int8", "task")]
    assert_one_line_error(edgekit("run", bundle, "loop " * 2000, "--raw"), "tokens", "--max-tokens")


@pytest.mark.parametrize("fmt", ["task", "litertlm"])
def test_bench_reports_speed(converted, fmt):
    data = edgekit(
        "bench", converted["gemma3"][("int8", fmt)], "--prefill-tokens", "32", "--decode-tokens", "16", "--json"
    ).json()
    assert data["decode_tokens_per_second"] > 0 and data["prefill_tokens_per_second"] > 0
    assert data["peak_rss_bytes"] > 0


def test_bundles_of_one_name_keep_their_own_xnnpack_caches(converted, tmp_path):
    """The engine keeps one XNNPACK cache per bundle file name: two bundles called alike in
    different folders must not replace each other's cache (each load would pack the weights
    again, slower and with a higher peak)."""
    from edgekit.core.paths import cache_dir

    first, second = tmp_path / "a" / "model.litertlm", tmp_path / "b" / "model.litertlm"
    for source, target in (
        (converted["gemma3"][("int8", "litertlm")], first),
        (converted["gemma3"][("int4", "litertlm")], second),
    ):
        target.parent.mkdir()
        shutil.copy(source, target)

    def caches() -> set:
        return {p for p in (cache_dir() / "xnnpack").rglob("model.litertlm*") if p.is_file()}

    edgekit("bench", first, "--prefill-tokens", "8", "--decode-tokens", "4", "--json")
    after_first = caches()
    assert after_first
    edgekit("bench", second, "--prefill-tokens", "8", "--decode-tokens", "4", "--json")
    assert after_first < caches()


def test_garbage_behind_litertlm_magic_is_an_error_not_a_crash(tmp_path):
    fake = tmp_path / "fake.litertlm"
    fake.write_bytes(b"LITERTLM" + bytes(range(256)) * 64)
    assert_one_line_error(edgekit("validate", fake), "litertlm")
    assert_one_line_error(edgekit("run", fake, "hi"), "litertlm")


def test_chat_mode_keeps_the_conversation(converted):
    bundle = converted["gemma3"][("int8", "task")]
    proc = subprocess.run(
        [sys.executable, "-m", "edgekit", "run", str(bundle), "--chat", "--max-tokens", "4"],
        input="the capital\nof france\n\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert proc.stdout.count("you> ") == 3  # two turns answered, then the empty line ends it


@pytest.mark.slow
def test_run_streams_a_sensible_continuation_from_the_default_bundle(default_bundles):
    result = edgekit(
        "run", default_bundles[("int8", "litertlm")], "The capital of France is", "--raw", "--max-tokens", "12"
    )
    assert result.code == 0, result.stderr[-1000:]
    assert "France" in result.stdout or "capital" in result.stdout


def test_validate_against_a_reference_checkpoint_recomputes_the_truth(
    converted, tiny_hf, tiny_tokenizer_model, tmp_path
):
    from tests.fixtures.tiny_models import write_tiny_checkpoint

    bundle = converted["gemma3"][("int8", "task")]
    same = edgekit("validate", bundle, "--reference", tiny_hf["gemma3"], "--json")
    assert same.code == 0 and same.json()["against"].startswith("reference checkpoint")
    other = write_tiny_checkpoint("gemma3", tmp_path / "other", tiny_tokenizer_model, seed=1)
    different = edgekit("validate", bundle, "--reference", other, "--json")
    assert different.code == 1  # a bundle of other weights does not pass as this checkpoint


def test_validate_scores_a_user_text_against_the_reference(converted, tiny_hf, tmp_path):
    bundle = converted["gemma3"][("int8", "task")]
    text = tmp_path / "notes.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 6)
    report = edgekit("validate", bundle, "--reference", tiny_hf["gemma3"], "--text", text, "--json")
    assert report.code == 0, report.stderr[-1000:]
    scored = report.json()["teacher_forced_text"]
    assert scored["file"] == str(text) and scored["positions"] > 20
    assert 0.85 <= scored["top1_agreement"] <= 1.0 and scored["kl_mean"] >= 0
    assert any(c["name"].endswith("over notes.txt") for c in report.json()["checks"])
