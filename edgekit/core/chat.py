"""Turning a conversation into the exact text instruction-tuned Gemma was trained on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from edgekit.families import ChatFormat

Role = Literal["user", "model"]


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


def fold_system(turns: Sequence[Turn], system: str | None) -> list[Turn]:
    """Gemma has no system role: the instruction becomes the head of the first user turn."""
    turns = list(turns)
    if not system:
        return turns
    if turns and turns[0].role == "user":
        return [Turn("user", f"{system}\n\n{turns[0].text}"), *turns[1:]]
    return [Turn("user", system), *turns]


def render(
    chat: ChatFormat,
    turns: Sequence[Turn],
    system: str | None = None,
    add_generation_prompt: bool = True,
) -> str:
    """The prompt text without the start token (the runtimes add `<bos>` themselves)."""
    parts = []
    for turn in fold_system(turns, system):
        if turn.role == "user":
            parts.append(f"{chat.user_prefix}{turn.text}{chat.user_suffix}")
        else:
            parts.append(f"{chat.model_prefix}{turn.text}{chat.model_suffix}")
    if add_generation_prompt:
        parts.append(chat.model_prefix)
    return "".join(parts)


def render_single(chat: ChatFormat, prompt: str, system: str | None = None) -> str:
    return render(chat, [Turn("user", prompt)], system=system)
