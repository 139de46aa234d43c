"""The one registry of Gemma generations, and lookups by what a checkpoint says it is."""

from __future__ import annotations

from typing import Any, TypeVar

from edgekit.core.errors import EdgekitError
from edgekit.families.family import Family

FAMILIES: list[Family] = []
_F = TypeVar("_F", bound=type[Family])


def register(cls: _F) -> _F:
    """Class decorator: one instance of each generation joins the registry."""
    FAMILIES.append(cls())
    return cls


def supported_architectures() -> tuple[str, ...]:
    return tuple(a for f in FAMILIES for a in f.architectures)


def family_named(name: str) -> Family:
    for family in FAMILIES:
        if family.name == name:
            return family
    raise EdgekitError(f"unknown model family {name!r}", f"use one of {', '.join(f.name for f in FAMILIES)}")


def family_for_architecture(architecture: str) -> Family:
    for family in FAMILIES:
        if architecture in family.architectures:
            return family
    raise EdgekitError(
        f"architecture {architecture!r} is not a Gemma text model",
        f"edgekit converts {', '.join(supported_architectures())} checkpoints",
    )


def family_for_gguf_arch(arch: str) -> Family:
    for family in FAMILIES:
        if family.gguf_arch == arch:
            return family
    raise EdgekitError(
        f"GGUF architecture {arch!r} is not a Gemma text model",
        f"pass a GGUF of one of: {', '.join(f.gguf_arch for f in FAMILIES)}",
    )


def family_for_keras(class_name: str, args: dict[str, Any]) -> Family:
    for family in FAMILIES:
        if family.keras_matches(class_name, args):
            return family
    backbones = sorted({f.keras_backbone for f in FAMILIES if f.keras_backbone})
    raise EdgekitError(
        f"Keras backbone {class_name!r} is not a Gemma text model",
        f"pass a KerasHub preset of {' or '.join(backbones)}",
    )
