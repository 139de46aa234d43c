"""Rebuild a SentencePiece `tokenizer.model` from the vocabulary a GGUF carries.

Bundles (`.task`, `.litertlm`) need a SentencePiece model; a GGUF holds only the pieces,
scores and types. Three details make the rebuilt model encode exactly like the original
(tests/test_default_model.py checks a corpus): pieces stored with literal spaces are written with `▁`; the chat
markers are USER_DEFINED so text containing them is matched whole; `<unk>` is UNKNOWN
(LiteRT-LM refuses a model without one).
"""

from __future__ import annotations

from edgekit.core.chat import ChatFormat
from edgekit.core.errors import EdgekitError
from edgekit.formats.gguf import GGUFFile

_SPACE = "\u2581"
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6


def sentencepiece_from_gguf(gguf: GGUFFile, chat: ChatFormat) -> bytes:
    """Serialized ModelProto (BPE, byte fallback, identity normalizer, no dummy prefix)."""
    from sentencepiece import sentencepiece_model_pb2 as spm

    if gguf.metadata.get("tokenizer.ggml.model") != "llama":
        raise EdgekitError(
            f"{gguf.path} has a {gguf.metadata.get('tokenizer.ggml.model')!r} tokenizer, not SentencePiece",
            "use a Gemma GGUF written by llama.cpp's converter",
        )
    tokens = gguf.array("tokenizer.ggml.tokens")
    scores = gguf.array("tokenizer.ggml.scores")
    types = gguf.array("tokenizer.ggml.token_type")
    if not (len(tokens) == len(scores) == len(types)):
        raise EdgekitError(f"{gguf.path} has a vocabulary with mismatched lengths", "re-export the GGUF")
    unk_id = int(gguf.metadata.get("tokenizer.ggml.unknown_token_id", 3))
    markers = set(chat.turn_markers)

    model = spm.ModelProto()
    trainer = model.trainer_spec
    trainer.model_type = spm.TrainerSpec.BPE
    trainer.vocab_size = len(tokens)
    trainer.byte_fallback = True
    trainer.unk_id = unk_id
    trainer.bos_id = int(gguf.metadata.get("tokenizer.ggml.bos_token_id", 2))
    trainer.eos_id = int(gguf.metadata.get("tokenizer.ggml.eos_token_id", 1))
    trainer.pad_id = int(gguf.metadata.get("tokenizer.ggml.padding_token_id", 0))
    # SentencePiece finds BOS/EOS/PAD/UNK by piece, not id (`bos_id()` is -1 while the pieces
    # are the defaults "<s>", "</s>", ...): name Gemma's.
    for role in ("bos", "eos", "pad", "unk"):
        index = getattr(trainer, f"{role}_id")
        if 0 <= index < len(tokens):
            setattr(trainer, f"{role}_piece", tokens[index])
    trainer.split_digits = True
    trainer.allow_whitespace_only_pieces = True
    trainer.unk_surface = " \u2047 "
    normalizer = model.normalizer_spec
    normalizer.name = "identity"
    normalizer.add_dummy_prefix = bool(gguf.metadata.get("tokenizer.ggml.add_space_prefix", False))
    normalizer.remove_extra_whitespaces = False
    normalizer.escape_whitespaces = True

    for index, (token, score, kind) in enumerate(zip(tokens, scores, types)):
        piece = model.pieces.add()
        piece.piece = token.replace(" ", _SPACE)
        piece.score = float(score)
        if index == unk_id:
            piece.type = _UNKNOWN
        elif token in markers:
            piece.type = _USER_DEFINED
        elif kind in (_NORMAL, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE):
            piece.type = int(kind)
        else:
            piece.type = _NORMAL
    return model.SerializeToString()
