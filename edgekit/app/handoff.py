"""`edgekit handoff`: a folder a mobile or web developer can take as is.

Bundles and manifests, SHA256SUMS, MODEL_CARD.md (source, Gemma terms notice, quantization,
measured quality, speed and memory), INTEGRATION.md (Android LiteRT-LM, Android MediaPipe
and web snippets filled in with this bundle's names and options) and `edgekit-app.json`, the
one config file the Android and web samples read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgekit.core.atomic import atomic_dir
from edgekit.core.chat import ChatFormat
from edgekit.core.digest import sha256_file
from edgekit.core.errors import EdgekitError
from edgekit.core.manifest import Manifest, manifest_path, verify_checksum
from edgekit.runtime.artifact import open_artifact
from edgekit.runtime.bench import bench
from edgekit.runtime.validate import ValidationReport, validate

APP_CONFIG = "edgekit-app.json"
GEMMA_TERMS = (
    "Gemma is provided under and subject to the Gemma Terms of Use found at "
    "ai.google.dev/gemma/terms. This bundle is a Model Derivative of Gemma: pass these terms, "
    "and the Gemma Prohibited Use Policy, on to anyone you distribute it to."
)


def app_config(bundles: list[tuple[Path, Manifest]], chat: ChatFormat) -> dict[str, Any]:
    by_format = {m.artifact.format: p.name for p, m in bundles}
    manifest = bundles[0][1]
    sampling = dict(chat.recommended_sampling)
    return {
        "litertlm_model": by_format.get("litertlm"),
        "task_model": by_format.get("task"),
        "max_tokens": manifest.recipe.cache_length,
        "top_k": int(sampling["top_k"]),
        "top_p": sampling["top_p"],
        "temperature": sampling["temperature"],
        "random_seed": 0,
        "instruction_tuned": manifest.source.instruction_tuned,
        "chat_format": chat.to_json(),
    }


FILE_RUNTIMES = (("litertlm_model", "LiteRT-LM"), ("task_model", "MediaPipe"))


PRETRAINED_NOTICE = (
    "**Pretrained model.** This checkpoint is not instruction-tuned: it continues text and does not "
    "follow chat turns. Send it raw text (the snippets below mark what only instruction-tuned models "
    "follow); for a chat app, convert the "
    "instruction-tuned (`-it`) checkpoint or a fine-tune of this one."
)


def _conversation_comment(tuned: bool) -> str:
    """The line above a LiteRT-LM Conversation call (Kotlin and Swift share `//` comments)."""
    if tuned:
        return "// The bundle carries Gemma's chat template: send the user's words only."
    return "// The Conversation wraps text in the bundle's chat turns: only for -it models."


def _kotlin_string(text: str) -> str:
    return json.dumps(text)  # JSON string escapes are valid Kotlin/JS string escapes


def integration_md(config: dict[str, Any]) -> str:
    chat = config["chat_format"]
    user_prefix, turn_end, model_prefix = (
        _kotlin_string(chat["user_prefix"]),
        _kotlin_string(chat["user_suffix"]),
        _kotlin_string(chat["model_prefix"]),
    )
    stops = ", ".join(chat["stop_tokens"])
    files = [f"`{config[key]}` ({runtime})" for key, runtime in FILE_RUNTIMES if config[key]]
    system = (
        f"This model has a system role: instructions go in a {_kotlin_string(chat['system_prefix'])} turn "
        "before the first user turn (the bundle's template writes it)."
        if chat["system_role"]
        else "Gemma has no system role: put instructions at the head of the first user turn."
    )
    tuned = config["instruction_tuned"] is not False  # None: the checkpoint does not say
    parts = [
        "# Integrating this model",
        "",
        *([] if tuned else [PRETRAINED_NOTICE, ""]),
        f"Files: {' and '.join(files)}. "
        f"KV cache: {config['max_tokens']} tokens (prompt + answer). Stop tokens: {stops}. "
        f"Recommended sampling: top-k {config['top_k']}, top-p {config['top_p']}, "
        f"temperature {config['temperature']}.",
        "",
        system,
    ]
    if config["litertlm_model"]:
        parts += [
            "",
            "## Android, LiteRT-LM (recommended)",
            "",
            "```kotlin",
            '// build.gradle.kts: implementation("com.google.ai.edge.litertlm:litertlm-android:<latest>")',
            "import com.google.ai.edge.litertlm.*",
            "",
            "val engine = Engine(EngineConfig(",
            f'    modelPath = "${{context.filesDir}}/{config["litertlm_model"]}",',
            "    backend = Backend.CPU(),",
            f"    maxNumTokens = {config['max_tokens']},",
            "))",
            "engine.initialize()  // seconds: call it off the main thread",
            "val conversation = engine.createConversation(ConversationConfig(",
            f"    samplerConfig = SamplerConfig(topK = {config['top_k']}, topP = {config['top_p']}, "
            f"temperature = {config['temperature']}),",
            "))",
            _conversation_comment(tuned),
            "conversation.sendMessageAsync(userText).collect { chunk -> output.append(chunk) }",
            "```",
        ]
    if config["task_model"]:
        parts += [
            "",
            "## Android, MediaPipe LlmInference (deprecated upstream, still in many apps)",
            "",
            "```kotlin",
            '// build.gradle.kts: implementation("com.google.mediapipe:tasks-genai:0.10.27")',
            "import com.google.mediapipe.tasks.genai.llminference.LlmInference",
            "",
            "val options = LlmInference.LlmInferenceOptions.builder()",
            f'    .setModelPath("/data/local/tmp/llm/{config["task_model"]}")',
            f"    .setMaxTokens({config['max_tokens']})",
            f"    .setMaxTopK({config['top_k']})",
            "    .build()",
            "val llm = LlmInference.createFromOptions(context, options)",
            *(
                [
                    f"fun gemmaPrompt(user: String) = {user_prefix} + user + {turn_end} + {model_prefix}",
                    "llm.generateResponseAsync(gemmaPrompt(userText)) { partial, done -> output.append(partial) }",
                ]
                if tuned
                else ["llm.generateResponseAsync(userText) { partial, done -> output.append(partial) }  // raw text"]
            ),
            "```",
            "",
            "## Web, @mediapipe/tasks-genai (WebGPU)",
            "",
            "```js",
            "import {FilesetResolver, LlmInference} from '@mediapipe/tasks-genai';",
            "",
            "const genai = await FilesetResolver.forGenAiTasks('/wasm');  // serve the package's wasm/ folder",
            "const llm = await LlmInference.createFromOptions(genai, {",
            f"  baseOptions: {{modelAssetPath: '/models/{config['task_model']}'}},",
            f"  maxTokens: {config['max_tokens']}, topK: {config['top_k']}, "
            f"temperature: {config['temperature']}, randomSeed: 0,",
            "  forceF32: true,  // F16 fails after prefill for Gemma 3 270M on the web (see README)",
            "});",
            *(
                [
                    f"const gemmaPrompt = (user) => {user_prefix} + user + {turn_end} + {model_prefix};",
                    "llm.generateResponse(gemmaPrompt(userText), (partial, done) => { output.textContent += partial; });",
                ]
                if tuned
                else [
                    "llm.generateResponse(userText, (partial, done) => { output.textContent += partial; });  // raw text"
                ]
            ),
            "```",
            "",
            "Serve the page with `Cross-Origin-Opener-Policy: same-origin` and "
            "`Cross-Origin-Embedder-Policy: require-corp`.",
        ]
    if config["litertlm_model"]:
        parts += _ios_litert_lm(config, tuned)
    if config["task_model"]:
        parts += _ios_mediapipe(config, tuned, (user_prefix, turn_end, model_prefix))
    return "\n".join(parts) + "\n"


def min_runtime(bundle: Path) -> str | None:
    """The LiteRT-LM version a `.litertlm` states it needs (a `.task` states none)."""
    if bundle.suffix != ".litertlm":
        return None
    from edgekit.formats.litertlm import llm_metadata, open_litertlm

    return llm_metadata(open_litertlm(bundle)).get("minRuntimeVersion")


def _ios_litert_lm(config: dict[str, Any], tuned: bool) -> list[str]:
    """LiteRT-LM's Swift API (Swift Package `LiteRTLM`), as its guide documents it."""
    return [
        "",
        "## iOS, LiteRT-LM (Swift)",
        "",
        "```swift",
        "// Swift Package Manager: https://github.com/google-ai-edge/LiteRT-LM, library LiteRTLM",
        "import LiteRTLM",
        "",
        f'let path = Bundle.main.path(forResource: "{Path(config["litertlm_model"]).stem}", ofType: "litertlm")!',
        "let config = try EngineConfig(",
        "  modelPath: path,",
        "  backend: .cpu(),",
        f"  maxNumTokens: {config['max_tokens']},",
        "  cacheDir: NSTemporaryDirectory()",
        ")",
        "let engine = Engine(engineConfig: config)",
        "try await engine.initialize()  // seconds: not on the main actor",
        "let conversation = try await engine.createConversation()",
        _conversation_comment(tuned),
        "let reply = try await conversation.sendMessage(Message(userText))",
        "```",
    ]


def _ios_mediapipe(config: dict[str, Any], tuned: bool, turns: tuple[str, str, str]) -> list[str]:
    """MediaPipe's `LlmInference` for iOS (CocoaPods MediaPipeTasksGenAI), as its guide documents it."""
    user_prefix, turn_end, model_prefix = turns
    prompt = (
        [f"let prompt = {user_prefix} + userText + {turn_end} + {model_prefix}"]
        if tuned
        else ["let prompt = userText  // raw text: a pretrained model follows no chat turns"]
    )
    return [
        "",
        "## iOS, MediaPipe LlmInference (Swift)",
        "",
        "```swift",
        "// Podfile: pod 'MediaPipeTasksGenAI'; pod 'MediaPipeTasksGenAIC'",
        "import MediaPipeTasksGenai",
        "",
        "let options = LlmInferenceOptions()",
        f'options.baseOptions.modelPath = Bundle.main.path(forResource: "{Path(config["task_model"]).stem}", '
        'ofType: "task")!',
        f"options.maxTokens = {config['max_tokens']}",
        f"options.topk = {config['top_k']}",
        f"options.temperature = {config['temperature']}",
        "options.randomSeed = 0",
        "let llm = try LlmInference(options: options)",
        *prompt,
        "for try await partial in llm.generateResponseAsync(inputText: prompt) { output += partial }",
        "```",
    ]


def model_card_md(
    bundles: list[tuple[Path, Manifest]], quality: ValidationReport | None, speed: dict[str, dict[str, Any]]
) -> str:
    manifest = bundles[0][1]
    source, recipe = manifest.source, manifest.recipe
    lines = [
        f"# Model card: {bundles[0][0].stem}",
        "",
        *([PRETRAINED_NOTICE, ""] if source.instruction_tuned is False else []),
        f"- Source: {source.architecture} ({source.family}), {source.parameters:,} parameters, "
        f"from `{Path(source.path).name}` (sha256 {next(iter(source.weights_sha256.values()))[:16]}…)",
        f"- Instruction-tuned: {source.instruction_tuned}",
        *(
            [f"- Not converted: the {' and '.join(source.towers_left_out)} towers (text in, text out)"]
            if source.towers_left_out
            else []
        ),
        f"- Quantization: {recipe.quant}"
        + (f", block {recipe.block_size}" if recipe.block_size else "")
        + f"; KV cache {recipe.cache_length} tokens; prefill {list(recipe.prefill_lengths)}",
        f"- Converted with: {', '.join(f'{k} {v}' for k, v in manifest.libraries.items())}",
        "",
        "## Files",
        "",
        "| file | MiB | sha256 |",
        "|---|---|---|",
    ]
    for path, m in bundles:
        lines.append(f"| {path.name} | {m.artifact.size_bytes / 2**20:.1f} | `{m.artifact.sha256}` |")
    needs = [f"`{p.name}` needs LiteRT-LM {v} or later" for p, _ in bundles if (v := min_runtime(p))]
    if needs:
        lines += ["", "; ".join(needs) + " (the bundle's minimum runtime version)."]
    lines += ["", "## Measured quality", ""]
    if quality:
        tf = quality.teacher_forced
        lines += [
            f"`edgekit validate` against the source's golden outputs: **{'PASS' if quality.passed else 'FAIL'}**.",
            f"Teacher-forced top-1 agreement {tf.top1_agreement:.1%} over {tf.positions} positions, "
            f"mean KL {tf.kl_mean:.4g} (p99 {tf.kl_p99:.4g}), perplexity {tf.bundle_perplexity:.3f} "
            f"(source {tf.source_perplexity:.3f}); greedy prefix agreement "
            f"{quality.greedy_prefix_agreement:.0%}.",
        ]
    else:
        lines.append("Not measured (`--no-measure`); run `edgekit validate` on the bundle.")
    lines += ["", "## Measured speed and memory (LiteRT-LM, CPU)", ""]
    if speed:
        lines += [
            "| file | threads | prefill tok/s | decode tok/s | first token s | load s | RAM first run MiB "
            "| RAM later runs MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, s in speed.items():
            lines.append(
                f"| {name} | {s['threads']} | {s['prefill_tokens_per_second']} | "
                f"{s['decode_tokens_per_second']} | {s['time_to_first_token_seconds']} | "
                f"{s['load_seconds']} | {s['first_run_peak_rss_bytes'] / 2**20:.0f} | "
                f"{s['peak_rss_bytes'] / 2**20:.0f} |"
            )
        run = next(iter(speed.values()))
        lines.append("")
        lines.append(
            f"Each bundle measured as `edgekit bench` measures it: LiteRT-LM's own benchmark in a fresh "
            f"process (RAM is that process's peak; a first run also packs the weights into XNNPACK's "
            f"cache, later runs read it; speed from a later run), {run['prefill_tokens']} prompt "
            f"and {run['decode_tokens']} generated tokens, KV cache "
            f"{recipe.cache_length} tokens, on the machine that ran `edgekit handoff`; phones differ."
        )
    else:
        lines.append("Not measured (`--no-measure`); run `edgekit bench` on the target device.")
    lines += ["", "## Terms", "", GEMMA_TERMS, ""]
    return "\n".join(lines)


def _first_and_later_runs(bundle: Path, threads: int) -> dict[str, Any]:
    """`edgekit bench` twice on a fresh XNNPACK cache: an app's first launch packs the weights
    into the cache (more memory), later launches read it; speed is the later run's."""
    with tempfile.TemporaryDirectory() as cache:
        first = bench(bundle, threads=threads, xnnpack_cache=Path(cache))
        later = bench(bundle, threads=threads, xnnpack_cache=Path(cache))
    return {**later, "first_run_peak_rss_bytes": first["peak_rss_bytes"]}


def write_handoff(bundles: list[Path], out: Path, measure: bool, force: bool, threads: int = 2) -> dict[str, Any]:
    if out.exists() and not force:
        raise EdgekitError(f"{out} already exists", "pass --force to replace it, or choose another --out")
    opened = []
    for bundle in bundles:
        artifact = open_artifact(bundle, require_manifest=True)
        if artifact.format not in ("task", "litertlm"):
            raise EdgekitError(
                f"{bundle} is a {artifact.format} artifact; hand-off folders are for mobile bundles",
                "pass the .litertlm and .task files from `edgekit convert --target android`",
            )
        verify_checksum(bundle, artifact.manifest)
        opened.append((bundle, artifact))
    chat = opened[0][1].chat
    pairs = [(p, a.manifest) for p, a in opened]
    quality, speed = None, {}
    if measure:
        quality = validate(bundles[0], threads=threads)
        speed = {p.name: _first_and_later_runs(p, threads) for p in bundles}
    config = app_config(pairs, chat)
    with atomic_dir(out, replace=True) as tmp:
        for path, _ in pairs:
            shutil.copy2(path, tmp / path.name)
            shutil.copy2(manifest_path(path), tmp / manifest_path(path).name)
        (tmp / APP_CONFIG).write_text(json.dumps(config, indent=2))
        (tmp / "MODEL_CARD.md").write_text(model_card_md(pairs, quality, speed))
        (tmp / "INTEGRATION.md").write_text(integration_md(config))
        sums = [f"{sha256_file(f)}  {f.name}" for f in sorted(tmp.iterdir()) if f.is_file()]
        (tmp / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    return {
        "folder": str(out),
        "files": sorted(p.name for p in out.iterdir()),
        "config": config,
        "validated": None if quality is None else quality.passed,
    }
