"""`edgekit convert [CHECKPOINT] --target … --quant … --out DIR`."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from edgekit.commands.output import emit
from edgekit.core.errors import EdgekitError
from edgekit.core.recipes import (
    BLOCK_SIZES,
    DEFAULT_BLOCK_SIZE,
    DEFAULT_QUANT,
    FEWEST_BITS_PER_WEIGHT,
    RECIPE_NAMES,
    budget_floor_bytes,
    recipe_named,
)
from edgekit.core.targets import TARGET_FORMATS


def _quants(value: str) -> tuple[str, ...]:
    quants = tuple(dict.fromkeys(q.strip() for q in value.split(",") if q.strip()))
    unknown = [q for q in quants if q not in RECIPE_NAMES]
    if unknown or not quants:
        raise EdgekitError(
            f"unknown --quant {','.join(unknown) or value!r}", f"use one or more of {','.join(RECIPE_NAMES)}"
        )
    return quants


def _check_recipes(quants: tuple[str, ...], target: str, max_size: float | None) -> None:
    """Each recipe applies to every format of the target, and gets the budget it needs."""
    for quant in quants:
        recipe = recipe_named(quant)
        missing = [f for f in TARGET_FORMATS[target] if f not in recipe.formats]
        if missing:
            raise EdgekitError(
                f"--quant {quant} is not available for {', '.join(missing)} (--target {target})",
                "use --target " + " or --target ".join(recipe.formats) + ", or another --quant",
            )
        if recipe.needs_budget and max_size is None:
            raise EdgekitError(f"--quant {quant} needs --max-size MiB", f"pass e.g. --quant {quant} --max-size 250")
    if max_size is not None and not any(recipe_named(q).needs_budget for q in quants):
        budgeted = [r for r in RECIPE_NAMES if recipe_named(r).needs_budget]
        raise EdgekitError(
            f"--max-size applies to --quant {'/'.join(budgeted)} only",
            f"add {budgeted[0]} to --quant, or drop --max-size",
        )


def _prefill(value: str) -> tuple[int, ...]:
    try:
        lengths = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        lengths = ()
    if not lengths or min(lengths) < 1:
        raise EdgekitError(
            f"--prefill {value!r} is not a list of positive lengths", "pass e.g. --prefill 128 or 32,128"
        )
    return lengths


def _terminate_as_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


@click.command("convert")
@click.argument("checkpoint", type=click.Path(path_type=Path), required=False)
@click.option(
    "--target",
    type=click.Choice(list(TARGET_FORMATS)),
    default="android",
    show_default=True,
    help="android/ios: .litertlm + .task; web/task: .task; litertlm: .litertlm; onnx: an ONNX folder; all.",
)
@click.option(
    "--quant",
    default=DEFAULT_QUANT,
    show_default=True,
    help=f"One or more of {','.join(RECIPE_NAMES)}, comma-separated (one export, many recipes).",
)
@click.option(
    "--block-size",
    type=int,
    default=DEFAULT_BLOCK_SIZE,
    show_default=True,
    help="Block size of int4 weights (ONNX rounds the tied embedding in blocks of 16).",
)
@click.option(
    "--accuracy-level",
    type=click.IntRange(0, 4),
    default=4,
    show_default=True,
    help="ONNX MatMulNBits activations: 4 int8 (fast); 0 float32 (exact, much slower at 8 bits).",
)
@click.option(
    "--max-size",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="--quant auto: the size budget in MiB (a bundle's file; an ONNX folder's graph); int4 goes where it costs least KL.",
)
@click.option(
    "--no-smoothing",
    is_flag=True,
    help="LiteRT: keep activation outliers where they are (no migration into the weights; for A/B checks).",
)
@click.option("--max-tokens", type=int, default=1024, show_default=True, help="KV cache length (prompt + answer).")
@click.option("--prefill", default="128", show_default=True, help="Prefill signature lengths, comma-separated.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
@click.option(
    "--chat-template",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="A Jinja chat template (.jinja) that replaces the checkpoint's, or JSON overriding the chat format's fields.",
)
@click.option(
    "--adapter",
    "adapter_dir",
    type=click.Path(path_type=Path),
    help="A PEFT LoRA adapter folder, merged into the checkpoint in float32 before golden outputs and quantization.",
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also record golden outputs on these prompts: one per line, or one JSON message list per line.",
)
@click.option(
    "--text",
    "text_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also record the source's teacher-forced outputs over this UTF-8 text.",
)
@click.option(
    "--handoff",
    "handoff_dir",
    type=click.Path(path_type=Path),
    help="Also write a hand-off folder (see `edgekit handoff`) with the first recipe's bundles.",
)
@click.option("--force", is_flag=True, help="Overwrite existing outputs; ignore the memory estimate.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
def convert_command(
    checkpoint,
    target,
    quant,
    block_size,
    accuracy_level,
    max_size,
    no_smoothing,
    max_tokens,
    prefill,
    out_dir,
    chat_template,
    adapter_dir,
    prompts_file,
    text_file,
    handoff_dir,
    force,
    as_json,
) -> None:
    """Convert a Gemma checkpoint (HF folder or .gguf; default: embedded Gemma 3 270M)."""
    from edgekit.core.chat import Turn, fields_gap, render
    from edgekit.core.progress import Stages
    from edgekit.core.user_inputs import read_user_inputs
    from edgekit.intake.checkpoint import load_checkpoint
    from edgekit.intake.lora import read_adapter

    quants = _quants(quant)
    prefill_lengths = _prefill(prefill)
    if block_size not in BLOCK_SIZES:
        raise EdgekitError(
            f"--block-size {block_size} is not supported", f"use one of {', '.join(map(str, BLOCK_SIZES))}"
        )
    if handoff_dir and target == "onnx":
        raise EdgekitError("--handoff packages mobile bundles, not ONNX folders", "use --target android with --handoff")
    _check_recipes(quants, target, max_size)
    if max_tokens <= max(prefill_lengths):
        raise EdgekitError(
            f"--max-tokens {max_tokens} must be larger than the longest --prefill {max(prefill_lengths)}",
            "raise --max-tokens or lower --prefill",
        )
    try:
        from edgekit.converters.pipeline import ConvertRequest, convert, stage_count
    except ImportError as exc:
        raise EdgekitError(
            f"the converter stack is not installed ({exc.name} is missing)",
            "install it with `pip install 'edgekit[convert]'`",
        ) from None

    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ckpt = load_checkpoint(checkpoint)
    refusal = ckpt.family.refusal(ckpt.config, ckpt.architecture, TARGET_FORMATS[target])
    if refusal:
        raise EdgekitError(*refusal)
    budgeted = [q for q in quants if recipe_named(q).needs_budget]
    if budgeted and ckpt.family.litert_bundle_export and "litertlm" in TARGET_FORMATS[target]:
        raise EdgekitError(
            f"--quant {budgeted[0]} plans .litertlm bundles of Gemma 1, 2 and 3 only: {ckpt.family.display_name}'s "
            "bundle is exported by litert-torch's own route, which the scan does not cover",
            f"use --quant mixed or int4 for the .litertlm, or --target onnx for --quant {budgeted[0]}",
        )
    floor = budget_floor_bytes(ckpt.parameter_count)
    if budgeted and max_size is not None and max_size * 2**20 < floor:
        raise EdgekitError(
            f"--max-size {max_size:g} MiB is below the smallest plan for this checkpoint: its "
            f"{ckpt.parameter_count:,} weights take {floor / 2**20:.2f} MiB at {FEWEST_BITS_PER_WEIGHT} bits, "
            "the fewest any recipe uses",
            f"pass --max-size above {floor / 2**20:.2f}",
        )
    splitting = [q for q in quants if recipe_named(q).splits_table]
    if splitting and ckpt.family.litert_bundle_export:
        raise EdgekitError(
            f"--quant {splitting[0]} splits the embedding table of Gemma 1, 2 and 3 only: "
            f"{ckpt.family.display_name}'s bundle is exported by litert-torch's own route, which keeps it whole",
            "use --quant int8 or mixed",
        )
    adapter = read_adapter(adapter_dir) if adapter_dir else None
    if adapter is not None:
        adapter.check_family(ckpt.family)
    chat = ckpt.chat_format().with_overrides(chat_template) if chat_template else ckpt.chat_format()
    render(chat, [Turn("user", "Hi")], system="Be brief.")  # a template that cannot render is refused now
    user_inputs = read_user_inputs(prompts_file, text_file, chat)
    gap = fields_gap(chat) if "task" in TARGET_FORMATS[target] else None
    if gap:
        click.echo(
            f"edgekit: warning: {gap}: apps on the .task (MediaPipe) send the family's turns, not the template's; "
            "the .litertlm and ONNX artifacts carry the template (a --chat-template FILE sets the .task's fields)",
            err=True,
        )
    request = ConvertRequest(
        checkpoint=ckpt,
        out_dir=out_dir,
        target=target,
        quants=quants,
        block_size=block_size,
        cache_length=max_tokens,
        prefill_lengths=prefill_lengths,
        force=force,
        chat=chat,
        onnx_accuracy_level=accuracy_level,
        max_size_mib=max_size,
        smoothing=not no_smoothing,
        user_inputs=user_inputs,
        adapter=adapter,
    )
    stages = Stages(total=stage_count(request))
    result = convert(request, stages)
    rows = [
        {
            "artifact": str(a.path),
            "format": a.format,
            "quant": a.quant,
            "size_bytes": a.size_bytes,
            "sha256": a.sha256,
            "content_sha256": a.content_sha256,
            "manifest": str(a.manifest),
        }
        for a in result.artifacts
    ]
    summary = {"artifacts": rows, "seconds": round(result.seconds, 1), "peak_rss_bytes": result.peak_rss_bytes}
    if handoff_dir:
        from edgekit.app.handoff import write_handoff

        first = [a.path for a in result.artifacts if a.quant == quants[0]]
        summary["handoff"] = write_handoff(first, handoff_dir, measure=True, force=force)["folder"]
    emit(summary, as_json, _table(rows, result.seconds, result.peak_rss_bytes))


def _table(rows: list[dict], seconds: float, peak: int) -> str:
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"edgekit convert: {seconds:.0f} s, peak RSS {peak / 2**30:.2f} GiB")
    for column in ("artifact", "size", "recipe", "sha256"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["artifact"], f"{row['size_bytes'] / 2**20:.1f} MiB", row["quant"], row["sha256"][:16])
    buffer = StringIO()
    Console(file=buffer, width=140).print(table)
    return buffer.getvalue().rstrip()
