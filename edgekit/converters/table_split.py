"""The tied embedding/output table exported as two tensors: the vocabulary's rare rows and the rest.

Most of a small Gemma's weights are this table (Gemma 3 270M: 168M of 268M parameters), and
int4 blocks over all of it alone take the default model to 83.7% top-1 with every matrix int8
(benchmarks/litert_quality.md).
The quantizer gives one precision per tensor, so the rows that text rarely reaches are split
off into their own tensor, which a recipe can store in 4 bits while the rest keep 8
(`RARE_ROWS_SCOPE` in `edgekit.core.recipes`). The split changes no value: the lookup picks
each id's row from the tensor that holds it, and the logits are the two products laid back in
vocabulary order.

Which rows are rare comes from the tokenizer alone: SentencePiece numbers a BPE model's merged
pieces in merge order, most frequent first, so the later half of the merged pieces is the
rarest half of the words (single characters, bytes and control tokens stay in 8 bits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

_NORMAL = 1  # sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
_SPACE = "\u2581"


def rare_rows(tokenizer_model: Path) -> range:
    """The ids from the middle merged piece to the last one: the table rows stored small."""
    from sentencepiece import sentencepiece_model_pb2 as spm

    model = spm.ModelProto()
    model.ParseFromString(tokenizer_model.read_bytes())
    merged = [i for i, p in enumerate(model.pieces) if p.type == _NORMAL and len(p.piece.replace(_SPACE, "")) > 1]
    return range(merged[len(merged) // 2], merged[-1] + 1) if merged else range(0)


def _modules():
    """The torch modules, defined on first use: this module imports without torch."""
    import torch
    import torch.nn.functional as F

    class TableRows(torch.nn.Module):
        def __init__(self, weight: torch.Tensor) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(weight.clone(), requires_grad=False)

    class TableLookup(torch.nn.Module):
        def __init__(self, rows: TableRows) -> None:
            super().__init__()
            self.rows = rows

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return F.embedding(ids, self.rows.weight)

    class TableProjection(torch.nn.Module):
        def __init__(self, rows: TableRows) -> None:
            super().__init__()
            self.rows = rows

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            return F.linear(hidden, self.rows.weight)

    # Attribute names become the op names the recipes' scopes match: `rare_rows` for the rare
    # tensor's two ops, `logits` for both output projections.
    class SplitEmbedding(torch.nn.Module):
        def __init__(self, kept: TableRows, rare: TableRows, rows: range, scale) -> None:
            super().__init__()
            self.kept_rows, self.rare_rows = TableLookup(kept), TableLookup(rare)
            self.start, self.stop, self.scale = rows.start, rows.stop, scale

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            span = self.stop - self.start
            is_rare = (ids >= self.start) & (ids < self.stop)
            kept_ids = torch.where(ids >= self.stop, ids - span, ids)
            kept = self.kept_rows(torch.clamp(kept_ids, max=self.kept_rows.rows.weight.shape[0] - 1))
            rare = self.rare_rows(torch.clamp(ids - self.start, min=0, max=span - 1))
            embedded = torch.where(is_rare.unsqueeze(-1), rare, kept)
            return embedded if self.scale is None else embedded * self.scale

    class SplitHead(torch.nn.Module):
        def __init__(self, kept: TableRows, rare: TableRows, rows: range) -> None:
            super().__init__()
            self.logits_kept_rows, self.logits_rare_rows = TableProjection(kept), TableProjection(rare)
            self.start = rows.start

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            kept = self.logits_kept_rows(hidden)
            return torch.cat([kept[..., : self.start], self.logits_rare_rows(hidden), kept[..., self.start :]], -1)

    return TableRows, SplitEmbedding, SplitHead


def split_model_table(model, rows: range) -> None:
    """Replace a Gemma 1-3 causal LM's tied embedding and output projection by their split form."""
    import torch

    table_rows, split_embedding, split_head = _modules()
    embed = model.model.embed_tokens
    weight = embed.weight.data
    kept = table_rows(torch.cat([weight[: rows.start], weight[rows.stop :]]))
    rare = table_rows(weight[rows.start : rows.stop])
    # Gemma 3 scales inside its embedding module; Gemma 1 and 2 scale in the model's forward
    model.model.embed_tokens = split_embedding(kept, rare, rows, getattr(embed, "embed_scale", None))
    model.lm_head = split_head(kept, rare, rows)


@contextlib.contextmanager
def split_table(rows: range) -> Iterator[None]:
    """Every causal LM that transformers loads meanwhile (litert-torch's export loads its own)
    comes with its table split at `rows`."""
    import transformers

    auto = transformers.AutoModelForCausalLM
    original, load = auto.__dict__["from_pretrained"], auto.from_pretrained

    def from_pretrained(cls, *args, **kwargs):
        model = load(*args, **kwargs)
        split_model_table(model, rows)
        return model

    auto.from_pretrained = classmethod(from_pretrained)
    try:
        yield
    finally:
        auto.from_pretrained = original
