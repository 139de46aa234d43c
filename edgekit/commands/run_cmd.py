"""`edgekit run BUNDLE "prompt"`: stream a continuation, in Gemma's chat format by default."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgekit.errors import EdgekitError


def generate_onnx(artifact, tokenizer, text, max_tokens, sampler, threads, show) -> None:
    """onnxruntime streams token ids; print the text each new id adds."""
    from runtime.onnx_runner import OnnxDecoder, Sampler

    chat = artifact.chat
    ids = [tokenizer.piece_to_id(chat.start_token)] + tokenizer.encode(text)
    pick = None if sampler["top_k"] == 1 else Sampler(sampler["temperature"], sampler["top_k"], sampler["top_p"],
                                                      sampler["seed"])
    produced: list[int] = []
    printed = ""

    def on_token(token: int) -> None:
        nonlocal printed
        produced.append(token)
        decoded = tokenizer.decode(produced)
        show(decoded[len(printed):])
        printed = decoded

    stops = tuple(tokenizer.piece_to_id(t) for t in chat.stop_tokens)
    OnnxDecoder(artifact.onnx_graph, threads).generate(ids, max_tokens, on_token, pick, stops)


def _cache_length(artifact) -> int | None:
    if artifact.manifest:
        return int(artifact.manifest["recipe"]["cache_length"])
    return None


@click.command("run")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("prompt", required=False)
@click.option("--raw", is_flag=True, help="Send the prompt as is, without the chat format.")
@click.option("--system", help="System instruction (folded into the first user turn: Gemma has no system role).")
@click.option("--chat", "interactive", is_flag=True, help="Multi-turn chat in the terminal (empty line ends).")
@click.option("--max-tokens", type=int, default=256, show_default=True, help="Tokens to generate per answer.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--top-k", type=int, default=None)
@click.option("--top-p", type=float, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
def run_command(bundle, prompt, raw, system, interactive, max_tokens, temperature, top_k, top_p, seed, threads):
    """Generate text from a .task or .litertlm bundle."""
    import sentencepiece as spm

    from edgekit.chat import Turn, render
    from edgekit.manifest import verify_checksum
    from runtime.artifact import open_artifact
    from runtime.litert_lm_runner import LiteRtLm

    if raw and (system or interactive):
        raise EdgekitError("--raw cannot be combined with --system or --chat", "drop --raw to use the chat format")
    if prompt is None and not interactive:
        raise EdgekitError("no prompt given", 'pass a prompt, e.g. edgekit run model.task "Hello", or use --chat')
    if temperature < 0 or (top_p is not None and not 0 <= top_p <= 1) or (top_k is not None and top_k < 1):
        raise EdgekitError("sampling options out of range", "use --temperature >= 0, --top-k >= 1, 0 <= --top-p <= 1")
    artifact = open_artifact(bundle)
    if artifact.manifest:
        verify_checksum(bundle, artifact.manifest)
    tokenizer = spm.SentencePieceProcessor(model_proto=artifact.tokenizer_bytes())
    capacity = _cache_length(artifact)
    sampler = {"top_k": 1, "temperature": 0.0, "seed": seed} if temperature == 0 else {
        "top_k": top_k or 64, "top_p": top_p if top_p is not None else 0.95, "temperature": temperature, "seed": seed}
    engine = None if artifact.format == "onnx" else LiteRtLm(bundle, threads=threads)

    def answer(text: str) -> str:
        needed = len(tokenizer.encode(text)) + 1 + max_tokens
        if capacity and needed > capacity:
            raise EdgekitError(
                f"prompt and answer need {needed} tokens but {bundle.name} holds {capacity}",
                "shorten the prompt, lower --max-tokens, or convert with a larger --max-tokens",
            )
        chunks: list[str] = []

        def show(chunk: str) -> None:
            chunks.append(chunk)
            sys.stdout.write(chunk)
            sys.stdout.flush()

        if engine is not None:
            engine.run([{"op": "generate", "prompt": text, "max_tokens": max_tokens, "sampler": sampler,
                         "stream": True}], on_chunk=show)
        else:
            generate_onnx(artifact, tokenizer, text, max_tokens, sampler, threads, show)
        sys.stdout.write("\n")
        return "".join(chunks)

    if raw:
        answer(prompt)
        return
    turns: list[Turn] = []
    pending = prompt
    while True:
        if pending is None:
            pending = click.prompt("you", default="", show_default=False, prompt_suffix="> ")
            if not pending.strip():
                return
        turns.append(Turn("user", pending))
        reply = answer(render(artifact.chat, turns, system=system))
        turns.append(Turn("model", reply.strip()))
        if not interactive:
            return
        pending = None
