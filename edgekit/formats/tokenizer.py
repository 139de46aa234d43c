"""The tokenizer an artifact carries, behind the few calls edgekit makes: a SentencePiece
model (`tokenizer.model`: Gemma 1-3, and what `.task`/`.litertlm` bundles hold) or a Hugging
Face `tokenizer.json` (BPE with byte fallback: Gemma 4 ships only that).

Both answer `encode` (ids without the start token), `decode`, `piece_to_id` and `pad_id` the
way SentencePiece does, so the runtime and the converters do not care which it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from edgekit.core.chat import ChatFormat
from edgekit.core.errors import EdgekitError

SENTENCEPIECE_FILE = "tokenizer.model"
TOKENIZER_JSON_FILE = "tokenizer.json"


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def piece_to_id(self, piece: str) -> int: ...

    def pad_id(self) -> int: ...


class JsonTokenizer:
    """A `tokenizers` tokenizer.json; unknown pieces map to `<unk>`, as in SentencePiece."""

    def __init__(self, data: bytes, where: str = TOKENIZER_JSON_FILE) -> None:
        from tokenizers import Tokenizer as HfTokenizer

        try:
            self._tokenizer = HfTokenizer.from_str(data.decode("utf-8"))
        except (UnicodeDecodeError, Exception) as exc:  # tokenizers raises its own Exception type
            raise EdgekitError(
                f"{where} is not a readable tokenizer.json ({type(exc).__name__})",
                "re-export the tokenizer with transformers",
            ) from None
        self._unk = self._tokenizer.token_to_id("<unk>")

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=False)

    def piece_to_id(self, piece: str) -> int:
        found = self._tokenizer.token_to_id(piece)
        return found if found is not None else (self._unk if self._unk is not None else -1)

    def pad_id(self) -> int:
        found = self._tokenizer.token_to_id("<pad>")
        return -1 if found is None else found


def gemma_tokenizer_config(chat: ChatFormat) -> dict[str, object]:
    """The `tokenizer_config.json` transformers and litert-torch read: Gemma's special tokens, BOS
    added, no EOS (every sequence starts, and no prompt ends, the way the golden outputs do)."""
    return {
        "tokenizer_class": "GemmaTokenizer",
        "bos_token": chat.start_token,
        "eos_token": chat.stop_tokens[0],
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
    }


def sentencepiece(data: bytes, where: str = SENTENCEPIECE_FILE) -> Tokenizer:
    import sentencepiece as spm

    try:
        return spm.SentencePieceProcessor(model_proto=data)
    except RuntimeError:
        raise EdgekitError(f"{where} is not a SentencePiece model", "re-run `edgekit convert`") from None


def folder_tokenizer(folder: Path) -> Tokenizer:
    """The tokenizer of a checkpoint or ONNX folder: its SentencePiece model where it has one."""
    if (folder / SENTENCEPIECE_FILE).exists():
        return sentencepiece((folder / SENTENCEPIECE_FILE).read_bytes(), str(folder / SENTENCEPIECE_FILE))
    if (folder / TOKENIZER_JSON_FILE).exists():
        return JsonTokenizer((folder / TOKENIZER_JSON_FILE).read_bytes(), str(folder / TOKENIZER_JSON_FILE))
    raise EdgekitError(
        f"{folder} has no tokenizer ({SENTENCEPIECE_FILE} or {TOKENIZER_JSON_FILE})",
        "copy the tokenizer files of the base model into the folder",
    )
