"""An ONNX artifact folder: the graph, its weights, the tokenizer, and a `genai_config.json`
so that `onnxruntime_genai.Model(folder)` loads it as well as plain onnxruntime does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from edgekit.converters.tokenizer_json import write_tokenizer_json
from edgekit.core.chat import ChatFormat
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
from edgekit.formats.tokenizer import SENTENCEPIECE_FILE, TOKENIZER_JSON_FILE, folder_tokenizer


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
