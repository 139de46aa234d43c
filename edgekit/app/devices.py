"""The devices `edgekit plan` knows: which artifacts their runtimes load, and the memory an
app may count on. Defaults are typical devices, overridable with `--ram`; the reasons are
written beside each number so a plan can quote them.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.core.errors import EdgekitError


@dataclass(frozen=True)
class Device:
    name: str
    formats: tuple[str, ...]  # artifact formats its runtimes load, preferred first
    runtime_note: str
    default_ram_gb: float
    ram_note: str
    # Memory an app may use: a share of RAM on phones and in browsers, RAM less the OS elsewhere.
    app_share: float = 1.0
    os_reserve_gb: float = 0.0
    download_budget_mb: float | None = None  # web: every visitor downloads the bundle first
    download_note: str = ""
    # Whether its runtime computes on the CPU, as in edgekit's benchmark table.
    cpu_runtime: bool = True
    # What `edgekit validate` checks there beyond the formats it should run, and how.
    validate_note: str = ""

    def usable_bytes(self, ram_gb: float) -> float:
        return max(0.0, (ram_gb - self.os_reserve_gb) * self.app_share) * 2**30


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device(
            "android",
            ("litertlm", "task"),
            "LiteRT-LM (maintained) loads .litertlm; MediaPipe LLM Inference loads .task",
            6.0,
            "a mid-range phone; Android's low-memory killer stops apps well before RAM is full",
            app_share=0.5,
        ),
        Device(
            "ios",
            ("task", "litertlm"),
            "MediaPipe LLM Inference's iOS SDK loads .task",
            6.0,
            "an iPhone; iOS ends apps past roughly half of RAM without the increased-memory entitlement",
            app_share=0.5,
        ),
        Device(
            "web",
            ("task",),
            "@mediapipe/tasks-genai on WebGPU loads .task (it refuses .litertlm: samples/web)",
            4.0,
            "a browser tab: wasm32 addresses 4 GB",
            app_share=0.5,
            download_budget_mb=300.0,
            download_note="every visitor downloads the bundle before the first token (300 MB is ~50 s at 50 Mbit/s)",
            cpu_runtime=False,
        ),
        Device(
            "pi",
            ("litertlm", "onnx", "task"),
            "LiteRT-LM and onnxruntime both ship linux aarch64 wheels; edgekit's runtime runs either "
            "on a Pi 5's Cortex-A76 (tests/arm/run.sh)",
            4.0,
            "a Raspberry Pi 5 with 4 GB; Raspberry Pi OS Lite keeps ~0.5 GB",
            os_reserve_gb=0.5,
        ),
        Device(
            "pi4",
            ("onnx",),
            "a Pi 4's Cortex-A72 is ARMv8.0: LiteRT-LM's aarch64 build needs ARMv8.1 atomics (LSE) and "
            "stops on an illegal instruction (tests/arm/run.sh); onnxruntime runs there",
            4.0,
            "a Raspberry Pi 4 with 4 GB; Raspberry Pi OS Lite keeps ~0.5 GB",
            os_reserve_gb=0.5,
            validate_note="`edgekit validate` also checks the phone bundles (.task, .litertlm) here: the LiteRT "
            "interpreter runs their own model and tokenizer where LiteRT-LM cannot start (tests/arm/run.sh)",
        ),
        Device(
            "desktop",
            ("litertlm", "onnx", "task"),
            "LiteRT-LM, onnxruntime and onnxruntime-genai on x86_64/arm64 CPUs",
            16.0,
            "a laptop; other programs keep half of it",
            app_share=0.5,
        ),
    )
}


def device(name: str) -> Device:
    if name not in DEVICES:
        raise EdgekitError(f"unknown device {name!r}", f"use one of {', '.join(DEVICES)}")
    return DEVICES[name]
