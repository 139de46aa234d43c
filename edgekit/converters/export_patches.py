"""The one place edgekit changes upstream behaviour for an export, each change named so that a
family can ask for it (`Family.export_patches`) and a test can show the export fails without it.

- `constant_sparsity_cutoff`: Gemma 3n's activation sparsity computes the normal quantile of a
  constant (`Normal(0, 1).icdf(p)`) in every forward pass; torch's ONNX exporter has no
  `erfinv`, so the export fails. The quantile is a constant: computed once in Python, the
  result is the same to float precision. litert-torch 0.10's Gemma 3n MLP keeps that quantile
  in a non-persistent buffer set in `__init__`, which transformers 5's loading (modules built
  on the meta device, then filled from the checkpoint) leaves as uninitialised memory: its
  bundles cut the activations at a garbage threshold. The same Python constant replaces it.
- `no_vision_tower`: Gemma 3n's multimodal model (what litert-torch's Gemma 3n exportables
  load) always builds its vision tower through timm, and timm needs a torchvision built for the
  same torch (PyPI's does not load beside the pinned CPU build). Nothing of the tower is
  exported: an empty module stands in for it while the model is built.
- `lightweight_additional_models`: litert-torch 0.10 converts the models beside the decoder
  (Gemma 3n's and 4's per-layer embedder) without the lightweight conversion its other exports
  take, so each signature inlines its own float32 copy of the per-layer table (262,144 x 8,960
  in Gemma 4 E2B: 9.4 GB a copy), which no 24 GB machine holds (benchmarks/conversion_memory.md).
  Every conversion that does not choose says lightweight; edgekit's own exports always choose.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def constant_sparsity_cutoff() -> Iterator[None]:
    import torch
    from transformers.models.gemma3n import modeling_gemma3n

    def gaussian_topk(self, inputs: torch.Tensor) -> torch.Tensor:
        std_multiplier = statistics.NormalDist().inv_cdf(float(self.activation_sparsity))
        inputs_mean = torch.mean(inputs, dim=-1, keepdim=True)
        inputs_std = torch.std(inputs, dim=-1, keepdim=True, unbiased=False)
        return torch.nn.functional.relu(inputs - (inputs_mean + inputs_std * std_multiplier))

    classes = [modeling_gemma3n.Gemma3nTextMLP]
    try:
        from litert_torch.generative.export_hf.model_ext.gemma3n import patch as litert_gemma3n

        classes.append(litert_gemma3n.Gemma3nTextMLP)
    except ImportError:  # the light install has no litert-torch; only the ONNX export runs
        pass
    originals = [(cls, cls.__dict__["_gaussian_topk"]) for cls in classes]
    for cls in classes:
        cls._gaussian_topk = gaussian_topk
    try:
        yield
    finally:
        for cls, function in originals:
            cls._gaussian_topk = function


@contextlib.contextmanager
def no_vision_tower() -> Iterator[None]:
    import torch
    from transformers.models.gemma3n import modeling_gemma3n
    from transformers.models.gemma3n.configuration_gemma3n import Gemma3nVisionConfig

    auto_model = modeling_gemma3n.AutoModel

    class TowerlessAutoModel:
        @staticmethod
        def from_config(config, **kwargs):
            if isinstance(config, Gemma3nVisionConfig):
                return torch.nn.Module()
            return auto_model.from_config(config, **kwargs)

    modeling_gemma3n.AutoModel = TowerlessAutoModel
    try:
        yield
    finally:
        modeling_gemma3n.AutoModel = auto_model


@contextlib.contextmanager
def lightweight_additional_models() -> Iterator[None]:
    try:
        from litert_torch._convert import interface
    except ImportError:  # the light install has no litert-torch; only the ONNX export runs
        yield
        return
    convert = interface.Converter.convert

    def lightweight_by_default(self, *args, **kwargs):
        kwargs.setdefault("lightweight_conversion", True)
        return convert(self, *args, **kwargs)

    interface.Converter.convert = lightweight_by_default
    try:
        yield
    finally:
        interface.Converter.convert = convert


PATCHES: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "constant_sparsity_cutoff": constant_sparsity_cutoff,
    "no_vision_tower": no_vision_tower,
    "lightweight_additional_models": lightweight_additional_models,
}


@contextlib.contextmanager
def patched(names: tuple[str, ...]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(PATCHES[name]())
        yield
