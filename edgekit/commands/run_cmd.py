"""`edgekit run BUNDLE "prompt"`: stream a continuation, in Gemma's chat format by default."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgekit.commands.options import engine_option
from edgekit.commands.output import emit
from edgekit.core.errors import EdgekitError


def _cache_length(artifact) -> int | None:
    if artifact.manifest:
        return artifact.manifest.recipe.cache_length
    return None


@click.command("run")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("prompt", required=False)
@click.option("--raw", is_flag=True, help="Send the prompt as is, without the chat format.")
@click.option(
    "--system",
    help="System instruction (its own turn where the format has a system role, else folded into the first user turn).",
)
@click.option("--chat", "interactive", is_flag=True, help="Multi-turn chat in the terminal (empty line ends).")
@click.option("--max-tokens", type=int, default=256, show_default=True, help="Tokens to generate per answer.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--top-k", type=int, default=None)
@click.option("--top-p", type=float, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@engine_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the prompt as rendered and the answer as JSON, not a stream."
)
def run_command(
    bundle, prompt, raw, system, interactive, max_tokens, temperature, top_k, top_p, seed, threads, engine, as_json
):
    """Generate text from a .task or .litertlm bundle, or an ONNX folder."""
    from edgekit.core.manifest import verify_checksum
    from edgekit.runtime import Sampling
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.dispatch import with_runner

    if raw and (system or interactive):
        raise EdgekitError("--raw cannot be combined with --system or --chat", "drop --raw to use the chat format")
    if as_json and interactive:
        raise EdgekitError("--json answers one prompt, not a --chat session", "drop --chat or --json")
    if prompt is None and not interactive:
        raise EdgekitError("no prompt given", 'pass a prompt, e.g. edgekit run model.task "Hello", or use --chat')
    if temperature < 0 or (top_p is not None and not 0 <= top_p <= 1) or (top_k is not None and top_k < 1):
        raise EdgekitError("sampling options out of range", "use --temperature >= 0, --top-k >= 1, 0 <= --top-p <= 1")
    artifact = open_artifact(bundle)
    if artifact.manifest:
        verify_checksum(bundle, artifact.manifest)
    capacity = _cache_length(artifact)
    sampling = Sampling(temperature, top_k, top_p, seed)

    def session(runner) -> None:
        if runner.engine_note and not as_json:
            click.echo(f"edgekit: note: {runner.backend} runs the bundle ({runner.engine_note})", err=True)

        def answer(text: str) -> str:
            needed = len(runner.tokenize(text)) + 1 + max_tokens
            if capacity and needed > capacity:
                raise EdgekitError(
                    f"prompt and answer need {needed} tokens but {bundle.name} holds {capacity}",
                    "shorten the prompt, lower --max-tokens, or convert with a larger --max-tokens",
                )
            chunks: list[str] = []
            for chunk in runner.generate(text, max_tokens, sampling):
                chunks.append(chunk)
                if not as_json:
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
            reply = "".join(chunks)
            if as_json:
                data = {
                    "prompt": text,
                    "answer": reply,
                    "backend": runner.backend,
                    "engine_note": runner.engine_note,
                    "stopped": runner.stop_note,
                }
                emit(data, True, "")
            else:
                sys.stdout.write("\n")
                if runner.stop_note:
                    click.echo(f"edgekit: note: {runner.stop_note}", err=True)
            return reply

        if raw:
            answer(prompt)
        else:
            _converse(artifact.chat, prompt, system, interactive, answer)

    with_runner(artifact, threads, engine, session)


def _converse(chat, prompt: str | None, system: str | None, interactive: bool, answer) -> None:
    """Gemma's chat turns: one answer, or a terminal session until an empty line."""
    from edgekit.core.chat import Turn, render

    turns: list[Turn] = []
    pending = prompt
    while True:
        if pending is None:
            pending = click.prompt("you", default="", show_default=False, prompt_suffix="> ")
            if not pending.strip():
                return
        turns.append(Turn("user", pending))
        reply = answer(render(chat, turns, system=system))
        turns.append(Turn("model", reply.strip()))
        if not interactive:
            return
        pending = None
