"""Rebuild a Hugging Face `tokenizer.json` from the BPE vocabulary a Gemma 4 GGUF carries
(`tokenizer.ggml.model = gemma4`: tokens, merges, token types).

Gemma 4's tokenizer is SentencePiece-style BPE: spaces become `▁`, merges run over the raw
UTF-8 text, unknown bytes fall back to `<0x..>` pieces, and control and user-defined tokens
(`<|turn>`, `<|channel>`, image and audio markers) match whole. Built like transformers'
`GemmaTokenizer`, it gives llama.cpp's ids on llama.cpp's own test vectors
(tests/test_gemma4.py).
"""

from __future__ import annotations

from edgekit.core.errors import EdgekitError
from edgekit.formats.gguf import GGUFFile

GEMMA4_TOKENIZER = "gemma4"
_CONTROL, _USER_DEFINED = 3, 4


def tokenizer_json_from_gguf(gguf: GGUFFile) -> str:
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    if gguf.metadata.get("tokenizer.ggml.model") != GEMMA4_TOKENIZER:
        raise EdgekitError(
            f"{gguf.path} has a {gguf.metadata.get('tokenizer.ggml.model')!r} tokenizer, not Gemma 4's BPE",
            "use a Gemma 4 GGUF written by llama.cpp's converter",
        )
    tokens = gguf.array("tokenizer.ggml.tokens")
    types = gguf.array("tokenizer.ggml.token_type")
    merges = gguf.array("tokenizer.ggml.merges")
    if len(tokens) != len(types):
        raise EdgekitError(f"{gguf.path} has a vocabulary with mismatched lengths", "re-export the GGUF")
    pairs = []
    for merge in merges:
        split = merge.find(" ", 1)  # as llama.cpp reads them: a piece may itself start with a space
        if split < 0:
            raise EdgekitError(f"{gguf.path} has a malformed merge {merge[:40]!r}", "re-export the GGUF")
        pairs.append((merge[:split], merge[split + 1 :]))
    unknown = tokens[int(gguf.metadata.get("tokenizer.ggml.unknown_token_id", 3))]
    tokenizer = Tokenizer(
        BPE(
            vocab={t: i for i, t in enumerate(tokens)},
            merges=pairs,
            fuse_unk=True,
            unk_token=unknown,
            byte_fallback=True,
        )
    )
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tokenizer.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t, kind in zip(tokens, types)
            if int(kind) in (_CONTROL, _USER_DEFINED)
        ]
    )
    return tokenizer.to_str()
