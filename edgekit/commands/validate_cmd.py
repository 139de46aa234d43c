"""`edgekit validate BUNDLE [--reference CHECKPOINT] [--json] [--report FILE.html]`."""

from __future__ import annotations

from pathlib import Path

import click

from edgekit.commands.options import engine_option
from edgekit.commands.output import emit
from edgekit.core.errors import CheckFailed, EdgekitError
from edgekit.core.recipes import RECIPE_NAMES


def _summary(report) -> str:
    lines = [f"{'PASS' if report.passed else 'FAIL'}: {report.artifact} ({report.quant}, against {report.against})"]
    if report.engine_note:
        lines.append(f"  engine: {report.engine} ({report.engine_note})")
    for check in report.checks:
        mark = "ok  " if check.passed else "FAIL"
        lines.append(f"  {mark} {check.name}: {check.value} (limit {check.limit})")
    tf = report.teacher_forced
    lines.append(
        f"  teacher-forced over {tf.positions} positions: KL p99 {tf.kl_p99:.4g}, "
        f"perplexity {tf.bundle_perplexity:.3f} vs source {tf.source_perplexity:.3f}; "
        f"greedy prefix agreement {report.greedy_prefix_agreement:.0%}"
    )
    if report.user_prompts:
        yours = report.user_prompts
        agree = sum(p.first_token_agrees for p in yours)
        prefix = sum(p.prefix_agreement for p in yours) / len(yours)
        lines.append(
            f"  on {report.prompts_file}: first token agrees on {agree} of {len(yours)} prompts, "
            f"greedy prefix agreement {prefix:.0%}"
        )
    if report.teacher_forced_text is not None:
        tt = report.teacher_forced_text
        lines.append(
            f"  over {report.text_file} ({tt.positions} positions): top-1 {tt.top1_agreement:.1%}, "
            f"KL mean {tt.kl_mean:.4g} p99 {tt.kl_p99:.4g}, "
            f"perplexity {tt.bundle_perplexity:.3f} vs source {tt.source_perplexity:.3f}"
        )
    return "\n".join(lines)


@click.command("validate")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    help="Recompute the golden outputs from this checkpoint (needs edgekit[convert]).",
)
@click.option(
    "--adapter",
    "adapter_dir",
    type=click.Path(path_type=Path),
    help="With --reference: the LoRA adapter the bundle was converted with (`convert --adapter`), merged into it.",
)
@click.option(
    "--text",
    type=click.Path(path_type=Path),
    help="Also score teacher-forced agreement over this UTF-8 text (with --reference; a manifest "
    "made with `convert --text` carries its own).",
)
@click.option("--quant", type=click.Choice(RECIPE_NAMES), help="Thresholds to apply (default: the manifest's recipe).")
@click.option("--threads", type=int, default=2, show_default=True)
@engine_option
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="Also write an HTML report.")
@click.option("--json", "as_json", is_flag=True)
def validate_command(
    bundle: Path,
    reference: Path | None,
    adapter_dir: Path | None,
    text: Path | None,
    quant: str | None,
    threads: int,
    engine: str,
    report_path: Path | None,
    as_json: bool,
) -> None:
    """Check a bundle against its golden outputs (exit 0 pass, 1 fail)."""
    from edgekit.core.atomic import atomic_file
    from edgekit.runtime.report_html import render
    from edgekit.runtime.validate import validate

    if text is not None and reference is None:
        raise EdgekitError(
            "--text needs --reference CHECKPOINT (the source's logits over the text)",
            "pass the checkpoint the bundle was made from with --reference",
        )
    if adapter_dir is not None and reference is None:
        raise EdgekitError(
            "--adapter needs --reference CHECKPOINT (the base it is merged into)",
            "pass the base checkpoint with --reference, or drop --adapter to validate against the manifest",
        )
    expected = None
    if reference is not None:
        from edgekit.app.reference import reference_expectation

        expected = reference_expectation(bundle, reference, text, adapter_dir)
    report = validate(bundle, expected, quant=quant, threads=threads, engine=engine)
    if report_path:
        with atomic_file(report_path) as tmp:
            tmp.write_text(render(report))
    emit(report.to_json(), as_json, _summary(report))
    if not report.passed:
        raise CheckFailed(
            f"{bundle.name} failed validation: {', '.join(report.failed_checks)}",
            "see the report; reconvert with a higher-precision --quant",
        )
