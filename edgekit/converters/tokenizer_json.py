"""A Hugging Face `tokenizer.json` derived from a SentencePiece `tokenizer.model`, for the
consumers that read only tokenizer.json (onnxruntime-genai, litert-torch's Gemma 3n/4 packaging)
when the checkpoint has none or cannot be trusted to match (a GGUF carries only the model)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from edgekit.core.chat import ChatFormat
from edgekit.core.errors import EdgekitError
from edgekit.formats.tokenizer import gemma_tokenizer_config

# Strings whose ids the derived tokenizer.json must give exactly as tokenizer.model does.
TOKENIZER_PROBES = (
    "The capital of France is",
    "  two  spaces\tand a tab\n",
    "数字 123 😀 émigré",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
)


def write_tokenizer_json(tokenizer_model: Path, chat: ChatFormat, folder: Path) -> None:
    """tokenizer.json (and its tokenizer_config.json) into `folder`, derived from tokenizer.model
    (the truth the bundles and the runtime use), not copied from the checkpoint: a checkpoint's
    tokenizer.json can be stale or empty (transformers 5's `GemmaTokenizer(vocab_file=...)` writes
    one with 5 tokens, which genai turns into -1 ids). Checked against tokenizer.model before use."""
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
