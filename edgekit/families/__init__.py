"""The Gemma generations edgekit knows, one module each, in one registry."""

from edgekit.families import gemma1, gemma2, gemma3, gemma3n, gemma4  # noqa: F401 - each registers itself
from edgekit.families.family import GEMMA_CHAT, Family
from edgekit.families.registry import (
    FAMILIES,
    family_for_architecture,
    family_for_gguf_arch,
    family_for_keras,
    family_named,
    register,
    supported_architectures,
)

__all__ = [
    "FAMILIES",
    "GEMMA_CHAT",
    "Family",
    "family_for_architecture",
    "family_for_gguf_arch",
    "family_for_keras",
    "family_named",
    "register",
    "supported_architectures",
]
