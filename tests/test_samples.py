"""The web page in real headless Chromium (WebGPU on SwiftShader) and the Android sources
compiled with kotlinc against API stubs and checked with ktlint."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.cli import edgekit
from tests.conftest import REPO
from tests.tools import ensure_chromium, ensure_npm_packages

WEB = REPO / "samples" / "web"
ANDROID = REPO / "samples" / "android"
GREEDY = "&temperature=0&topK=1"


@pytest.fixture(scope="module")
def web_tools() -> None:
    ensure_chromium()
    ensure_npm_packages(WEB)


@contextmanager
def serve(models: Path):
    proc = subprocess.Popen(
        [sys.executable, str(WEB / "serve.py"), "--models", str(models), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def open_page(url: str, timeout: int, screenshot: Path | None = None) -> dict:
    args = ["node", str(WEB / "e2e.mjs"), url, str(timeout)] + ([str(screenshot)] if screenshot else [])
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 120, cwd=WEB)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def handoff(bundle: Path, out: Path) -> Path:
    result = edgekit("handoff", bundle, "--out", out, "--no-measure")
    assert result.code == 0, result.stderr[-2000:]
    return out


def test_web_page_generates_with_a_converted_bundle(web_tools, converted, tmp_path):
    models = handoff(converted["gemma3"][("int8", "task")], tmp_path / "models")
    with serve(models) as url:
        page = open_page(
            f"{url}?prompt={quote('the capital of france')}&maxTokens=48&raw{GREEDY}", 240, tmp_path / "page.png"
        )
    state = page["state"]
    assert state["webgpu"] is True and state["wasm"] is True
    assert state["phase"] == "done", page
    # A small bundle loads whole, in one try (app.js: MediaPipe's streamed load of it can fail).
    assert state["loadAttempts"] == 1, page
    assert state["output"].strip()
    assert page["pageErrors"] == []


def test_web_page_shows_its_own_error_for_a_bad_bundle(web_tools, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "broken.task").write_bytes(b"PK\x03\x04 this is not a bundle" * 100)
    (models / "edgekit-app.json").write_text(
        json.dumps(
            {
                "task_model": "broken.task",
                "max_tokens": 64,
                "top_k": 1,
                "temperature": 0,
                "random_seed": 0,
                "chat_format": {"user_prefix": "", "user_suffix": "", "model_prefix": ""},
            }
        )
    )
    with serve(models) as url:
        page = open_page(f"{url}?prompt=hi", 120)
    assert page["state"]["phase"] == "error", page
    assert page["state"]["message"].startswith(("The model failed to load", "Error"))


def test_web_page_without_a_config_says_what_to_do(web_tools, tmp_path):
    with serve(tmp_path) as url:
        page = open_page(url, 60)
    assert page["state"]["phase"] == "error"
    assert "edgekit handoff" in page["state"]["message"]


@pytest.mark.slow
def test_web_page_runs_the_default_model(web_tools, default_bundles, tmp_path):
    """Gemma 3 270M int8 .task from `edgekit convert` generates the source's greedy text on
    SwiftShader WebGPU (forceF32)."""
    task = default_bundles[("int8", "task")]
    golden = json.loads(task.with_name(task.name + ".edgekit.json").read_text())["golden"]["prompts"][0]
    models = handoff(task, tmp_path / "models")
    with serve(models) as url:
        page = open_page(f"{url}?prompt={quote(golden['prompt'])}&maxTokens=16&raw{GREEDY}", 400)
    assert page["state"]["phase"] == "done", page
    first_words = golden["continuation"].split()[:2]
    assert page["state"]["output"].split()[:2] == first_words


@pytest.fixture(scope="module")
def android_tools() -> Path:
    return ensure_npm_packages(ANDROID)


def test_android_sources_compile_against_api_stubs(android_tools, tmp_path):
    kotlinc = android_tools / "kotlin-compiler" / "bin" / "kotlinc"
    result = subprocess.run(
        [
            str(kotlinc),
            str(ANDROID / "app" / "src" / "main" / "java"),
            str(REPO / "tests" / "android_stubs"),
            "-d",
            str(tmp_path / "app.jar"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "app.jar").exists()


def test_android_sources_pass_ktlint(android_tools):
    result = subprocess.run(
        [str(android_tools / ".bin" / "ktlint"), "app/src/**/*.kt", "**/*.kts", "!node_modules/**"],
        capture_output=True,
        text=True,
        cwd=ANDROID,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_android_app_reads_what_handoff_writes(converted, tmp_path):
    folder = handoff(converted["gemma"][("int8", "litertlm")], tmp_path / "h")
    written = json.loads((folder / "edgekit-app.json").read_text())
    source = (ANDROID / "app" / "src" / "main" / "java" / "dev" / "edgekit" / "sample" / "ModelConfig.kt").read_text()
    read = set(re.findall(r'(?:get\w*|optString)\("(\w+)"\)', source))
    available = set(written) | set(written["chat_format"])
    assert read and read <= available, read - available
