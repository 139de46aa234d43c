"""A self-contained HTML page for a validation report: the numbers, KL per position and
agreement per prompt as inline SVG (no plotting library: the runtime stays light)."""

from __future__ import annotations

import html

from edgekit.runtime.validate import PromptResult, ValidationReport


def _kl_chart(values: list[float], width: int = 900, height: int = 220) -> str:
    if not values:
        return "<p>No positions.</p>"
    top = max(max(values), 1e-9)
    step = width / max(len(values), 1)
    bars = "".join(
        f'<rect x="{i * step:.2f}" y="{height - v / top * (height - 20):.2f}" width="{max(step, 1):.2f}" '
        f'height="{v / top * (height - 20):.2f}" fill="#d9534f"><title>position {i}: KL {v:.4g}</title></rect>'
        for i, v in enumerate(values)
    )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="KL per position">'
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#333"/>{bars}'
        f'<text x="4" y="14" font-size="12">max {top:.3g} nats</text></svg>'
    )


def _prompt_chart(prompts: tuple[PromptResult, ...], width: int = 900) -> str:
    row = 26
    height = row * len(prompts) + 10
    rows = []
    for i, p in enumerate(prompts):
        y = i * row + 5
        share = p.prefix_agreement
        color = "#5cb85c" if p.first_token_agrees else ("#f0ad4e" if p.near_tie else "#d9534f")
        label = html.escape(p.prompt.replace("\n", " ⏎ ")[:48])
        rows.append(
            f'<text x="0" y="{y + 16}" font-size="12">{label}</text>'
            f'<rect x="360" y="{y}" width="{share * (width - 370):.1f}" height="{row - 8}" fill="{color}">'
            f"<title>{share:.0%} of the greedy continuation reproduced</title></rect>"
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="agreement per prompt">'
        f"{''.join(rows)}</svg>"
    )


def _prompt_table(prompts: tuple[PromptResult, ...]) -> str:
    rows = "".join(
        f"<tr><td><code>{html.escape(p.prompt)}</code></td><td><code>{html.escape(p.expected)}</code></td>"
        f"<td><code>{html.escape(p.got)}</code></td></tr>"
        for p in prompts
    )
    return f"<table><tr><th>prompt</th><th>source</th><th>bundle</th></tr>{rows}</table>"


def render(report: ValidationReport) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    color = "#2e7d32" if report.passed else "#c62828"
    checks = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(str(c.value))}</td>"
        f"<td>{html.escape(str(c.limit))}</td><td>{'✔' if c.passed else '✘'}</td></tr>"
        for c in report.checks
    )
    tf = report.teacher_forced
    yours = ""
    if report.user_prompts:
        yours = f"""<h2>Greedy continuations on {html.escape(report.prompts_file or "your prompts")}</h2>
{_prompt_chart(report.user_prompts)}{_prompt_table(report.user_prompts)}"""
    if report.teacher_forced_text is not None:
        tt = report.teacher_forced_text
        yours += f"""<h2>Teacher-forced over {html.escape(report.text_file or "your text")}, {tt.positions} positions</h2>
<p>top-1 agreement {tt.top1_agreement:.2%}; KL mean {tt.kl_mean:.4g}, p99 {tt.kl_p99:.4g} nats;
perplexity {tt.bundle_perplexity:.3f} (source {tt.source_perplexity:.3f}).</p>{_kl_chart(tt.kl_per_position)}"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgekit validate: {html.escape(report.artifact)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}}td,th{{border-bottom:1px solid #ddd;
padding:4px 8px;text-align:left;vertical-align:top}}table{{border-collapse:collapse}}code{{white-space:pre-wrap}}</style>
</head><body>
<h1 style="color:{color}">{verdict}: {html.escape(report.artifact)}</h1>
<p>{html.escape(report.format)}, {html.escape(report.quant)}; compared with {html.escape(report.against)};
run by {html.escape(report.engine)}{html.escape(f" ({report.engine_note})" if report.engine_note else "")}.</p>
<table><tr><th>check</th><th>value</th><th>limit</th><th></th></tr>{checks}</table>
<h2>Teacher-forced, {tf.positions} positions</h2>
<p>top-1 agreement {tf.top1_agreement:.2%}; KL mean {tf.kl_mean:.4g}, p99 {tf.kl_p99:.4g} nats;
perplexity {tf.bundle_perplexity:.3f} (source {tf.source_perplexity:.3f}).</p>
<h3>KL(source ‖ bundle) per position</h3>{_kl_chart(tf.kl_per_position)}
<h2>Greedy continuations</h2>
<p>Bar: share of the source's greedy text reproduced; green: first token agrees, amber: the source's
top-2 nearly tie, red: differs.</p>{_prompt_chart(report.prompts)}{_prompt_table(report.prompts)}
{yours}
</body></html>
"""
