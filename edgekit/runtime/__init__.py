"""The light runtime: runs and checks edgekit artifacts without torch or tensorflow.

Everything here imports only the base install (numpy, sentencepiece, ai-edge-litert,
litert-lm-api, onnxruntime), so it works on a Raspberry Pi as on a workstation.
"""

from edgekit.runtime.dispatch import open_runner
from edgekit.runtime.sampling import GREEDY, Sampling

__all__ = ["GREEDY", "Sampling", "open_runner"]
