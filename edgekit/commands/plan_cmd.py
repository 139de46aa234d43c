"""`edgekit plan --device DEVICE [--ram GB] [--checkpoint PATH] [--json]`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.app.devices import DEVICES
from edgekit.app.plan import Provenance
from edgekit.commands.output import emit

MEASURED = Provenance.MEASURED.value


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _human(result: dict[str, Any]) -> str:
    ck = result["checkpoint"]
    tuned = {True: "instruction-tuned", False: "pretrained", None: "IT/PT unknown"}[ck["instruction_tuned"]]
    width = max([len("recipe"), *(len(o["quant"]) for o in result["options"])]) + 2
    lines = [
        f"{ck['family']}, {ck['parameters'] / 1e6:.0f}M parameters"
        + (
            f" ({ck['effective_parameters'] / 1e6:.0f}M effective)"
            if ck["effective_parameters"] != ck["parameters"]
            else ""
        )
        + f", {tuned} ({ck['variant_evidence']})",
        f"device {result['device']}: {result['ram_gb']:g} GB RAM ({result['ram_note']}); the app may use "
        f"{result['usable_mib']} MiB; KV cache for {result['context']} tokens"
        + (f"; download budget {result['download_budget_mb']:g} MB" if result["download_budget_mb"] else ""),
        "",
        f"{'artifact':<10}{'recipe':<{width}}{'MiB':>7}{'RAM MiB':>9}{'decode tok/s':>14}{'top-1':>8}{'KL':>8}  fits",
    ]
    for o in result["options"]:
        estimated_speed = o["decode_tok_s"] is not None and o["speed_provenance"] != MEASURED
        speed = _cell(o["decode_tok_s"], ".0f") + ("*" if estimated_speed else "")
        size = f"{o['size_bytes'] / 2**20:.0f}" + ("" if o["size_provenance"] == MEASURED else "*")
        ram = f"{o['ram_bytes'] / 2**20:.0f}" + ("" if o["ram_provenance"] == MEASURED else "*")
        lines.append(
            f"{o['format']:<10}{o['quant']:<{width}}{size:>7}{ram:>9}{speed:>14}"
            f"{_cell(o['top1'], '.1%'):>8}{_cell(o['kl_mean'], '.4f'):>8}  {'yes' if o['fits'] else 'no: ' + o['why_not'].removeprefix('is ')}"
        )
    measured = min(
        (o["size_source"] for o in result["options"] if o["size_provenance"] == MEASURED), key=len, default=None
    )
    unmeasured_speed = next((o["speed_source"] for o in result["options"] if o["decode_tok_s"] is None), None)
    lines += ["", "* estimate (see `edgekit plan --help`)" + (f"; other numbers {measured}" if measured else "")]
    if unmeasured_speed:
        lines.append(f"decode speed -: not measured: {unmeasured_speed}")
    best = result["recommendation"]
    lines.append("")
    lines.append(f"recommended: {best['quant']} {best['format']}" if best else "recommended: none")
    lines.append(f"why: {result['why']}")
    if result["validate_note"]:
        lines.append(f"validate: {result['validate_note']}")
    lines += [f"warning: {w}" for w in result["warnings"]]
    return "\n".join(lines)


@click.command("plan")
@click.option(
    "--device", "device_name", type=click.Choice(list(DEVICES)), required=True, help="Where the model will run."
)
@click.option(
    "--ram",
    "ram_gb",
    type=click.FloatRange(min=0.1),
    default=None,
    help="The device's RAM in GB (default: a typical device of that kind).",
)
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path),
    default=None,
    help="HF folder, Keras preset or .gguf (default: the embedded Gemma 3 270M).",
)
@click.option(
    "--context",
    type=click.IntRange(min=16),
    default=1024,
    show_default=True,
    help="KV cache length the app will use (convert's --max-tokens).",
)
@click.option(
    "--app",
    type=click.Choice(["chat", "text"]),
    default="chat",
    show_default=True,
    help="chat: turns with the Gemma chat format; text: plain continuation.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plan_command(
    device_name: str, ram_gb: float | None, checkpoint: Path | None, context: int, app: str, as_json: bool
) -> None:
    """Which recipe and artifact a device can carry, what each costs, and the one to ship.

    Sizes, speeds and quality are measured where edgekit's benchmark table has the default
    model's artifact, and estimated otherwise (marked *): sizes from parameters x bits per
    weight, RAM from artifact size + KV cache + the runtime's own memory (fitted to
    `edgekit bench` peak RSS), speed scaled by the bytes a token reads from a measured
    artifact of the same format: the family's own run where one was measured (Gemma 3n/4 E2B
    shapes: their per-layer embedding tables are lookups), else the default model's.
    """
    from edgekit.app.devices import device
    from edgekit.app.plan import plan
    from edgekit.intake.checkpoint import load_checkpoint

    result = plan(load_checkpoint(checkpoint), device(device_name), ram_gb, context, app)
    emit(result, as_json, _human(result))
