"""The one place edgekit changes upstream behaviour for an export, each change named so that a
family can ask for it (`Family.export_patches`) and a test can show the export fails without it.

- `constant_sparsity_cutoff`: Gemma 3n's activation sparsity computes the normal quantile of a
  constant (`Normal(0, 1).icdf(p)`) in every forward pass; torch's ONNX exporter has no
  `erfinv`, so the export fails. The quantile is a constant: computed once in Python, the
  result is the same to float precision.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def constant_sparsity_cutoff() -> Iterator[None]:
    import torch
    from transformers.models.gemma3n import modeling_gemma3n

    mlp = modeling_gemma3n.Gemma3nTextMLP
    original = mlp._gaussian_topk

    def gaussian_topk(self, inputs: torch.Tensor) -> torch.Tensor:
        std_multiplier = statistics.NormalDist().inv_cdf(float(self.activation_sparsity))
        inputs_mean = torch.mean(inputs, dim=-1, keepdim=True)
        inputs_std = torch.std(inputs, dim=-1, keepdim=True, unbiased=False)
        return torch.nn.functional.relu(inputs - (inputs_mean + inputs_std * std_multiplier))

    mlp._gaussian_topk = gaussian_topk
    try:
        yield
    finally:
        mlp._gaussian_topk = original


PATCHES: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "constant_sparsity_cutoff": constant_sparsity_cutoff,
}


@contextlib.contextmanager
def patched(names: tuple[str, ...]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(PATCHES[name]())
        yield
