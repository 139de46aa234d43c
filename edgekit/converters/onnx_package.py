"""An ONNX artifact folder: the graph, its weights, the tokenizer, and a `genai_config.json`
so that `onnxruntime_genai.Model(folder)` loads it as well as plain onnxruntime does."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edgekit.core.chat import ChatFormat
from edgekit.core.errors import EdgekitError
from edgekit.formats.onnx_graph import (
    ATTENTION_MASK,
    INPUT_IDS,
    LOGITS,
    ONNX_GRAPH,
    PAST_KEY,
    PAST_VALUE,
    POSITION_IDS,
    PRESENT_KEY,
    PRESENT_PREFIX,
    PRESENT_VALUE,
)
from edgekit.formats.tokenizer import SENTENCEPIECE_FILE, TOKENIZER_JSON_FILE, folder_tokenizer, gemma_tokenizer_config


def genai_config(
    config: dict[str, Any], stop_ids: list[int], bos_id: int, context_length: int, share_buffer: bool
) -> dict[str, Any]:
    """`share_buffer`: every present key/value comes from GroupQueryAttention, which can extend
    the past in place (onnxruntime-genai's and edgekit's runner's `past_present_share_buffer`)."""
    layers = config["num_hidden_layers"]
    return {
        "model": {
            "type": config["model_type"],  # genai's model types are transformers' names
            "bos_token_id": bos_id,
            "eos_token_id": stop_ids,
            "pad_token_id": config.get("pad_token_id", 0),
            "vocab_size": config["vocab_size"],
            "context_length": context_length,
            "decoder": {
                "filename": ONNX_GRAPH,
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "head_size": config["head_dim"],
                "hidden_size": config["hidden_size"],
                "num_attention_heads": config["num_attention_heads"],
                "num_key_value_heads": config["num_key_value_heads"],
                "num_hidden_layers": layers,
                "inputs": {
                    "input_ids": INPUT_IDS,
                    "attention_mask": ATTENTION_MASK,
                    "position_ids": POSITION_IDS,
                    "past_key_names": PAST_KEY,
                    "past_value_names": PAST_VALUE,
                },
                "outputs": {
                    "logits": LOGITS,
                    "present_key_names": PRESENT_KEY,
                    "present_value_names": PRESENT_VALUE,
                },
            },
        },
        "search": {
            "do_sample": False,
            "num_beams": 1,
            "max_length": context_length,
            "min_length": 0,
            "past_present_share_buffer": share_buffer,
            "top_k": 1,
            "top_p": 1.0,
            "temperature": 1.0,
            "repetition_penalty": 1.0,
            "early_stopping": True,
            "length_penalty": 1.0,
            "no_repeat_ngram_size": 0,
            "num_return_sequences": 1,
            "diversity_penalty": 0.0,
        },
    }


# Strings whose ids the derived tokenizer.json must give exactly as tokenizer.model does.
TOKENIZER_PROBES = (
    "The capital of France is",
    "  two  spaces\tand a tab\n",
    "数字 123 😀 émigré",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
)


def write_tokenizer_json(tokenizer_model: Path, chat: ChatFormat, folder: Path) -> None:
    """onnxruntime-genai reads tokenizer.json. It is derived from tokenizer.model (the truth the
    bundles and the runtime use), not copied from the checkpoint: a checkpoint's tokenizer.json
    can be stale or empty (transformers 5's `GemmaTokenizer(vocab_file=...)` writes one with
    5 tokens, which genai turns into -1 ids). Checked against tokenizer.model before use."""
    import sentencepiece as spm
    import tokenizers
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy2(tokenizer_model, Path(tmp) / "tokenizer.model")
        (Path(tmp) / "tokenizer_config.json").write_text(json.dumps(gemma_tokenizer_config(chat)))
        transformers.AutoTokenizer.from_pretrained(tmp).save_pretrained(str(folder))
    for extra in ("chat_template.jinja", "special_tokens_map.json"):
        (folder / extra).unlink(missing_ok=True)
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer_config.pop("vocab_file", None)  # an absolute path on the converting machine
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_model))
    derived = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    for text in TOKENIZER_PROBES:
        if derived.encode(text, add_special_tokens=False).ids != sp.encode(text):
            raise EdgekitError(
                f"the tokenizer.json derived from tokenizer.model encodes {text!r} differently",
                "report this with the checkpoint's tokenizer.model; use --target android meanwhile",
            )


def write_onnx_folder(graph: Path, hf_dir: Path, chat: ChatFormat, context_length: int, folder: Path) -> None:
    """`graph` (with `<graph>.data`) plus tokenizer files and genai_config.json into `folder`."""
    import onnx

    folder.mkdir()
    model = onnx.load(str(graph))
    # Re-saved, not copied: the graph records its external data file's name.
    onnx.save(model, str(folder / ONNX_GRAPH), save_as_external_data=True, location=ONNX_GRAPH + ".data")
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    presents = [o.name for o in model.graph.output if o.name.startswith(PRESENT_PREFIX)]
    share_buffer = all(producer.get(name) == "GroupQueryAttention" for name in presents)
    del model
    if (hf_dir / SENTENCEPIECE_FILE).exists():
        shutil.copy2(hf_dir / SENTENCEPIECE_FILE, folder / SENTENCEPIECE_FILE)
        write_tokenizer_json(hf_dir / SENTENCEPIECE_FILE, chat, folder)
    else:  # a BPE checkpoint (Gemma 4): its own tokenizer.json is the truth
        for name in (TOKENIZER_JSON_FILE, "tokenizer_config.json"):
            if (hf_dir / name).exists():
                shutil.copy2(hf_dir / name, folder / name)
    sp = folder_tokenizer(folder)
    config = json.loads((hf_dir / "config.json").read_text())
    config = config.get("text_config", config)
    stops = [sp.piece_to_id(t) for t in chat.stop_tokens]
    (folder / "genai_config.json").write_text(
        json.dumps(
            genai_config(config, stops, sp.piece_to_id(chat.start_token), context_length, share_buffer), indent=2
        )
    )
