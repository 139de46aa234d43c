"""The user's own inputs for golden outputs (`convert --prompts FILE --text FILE`): a fine-tune
is checked on its own domain, beside edgekit's fixed inputs (`edgekit.core.golden_inputs`).

A prompts file holds one prompt per line, given to the model as written, or one JSON
conversation per line (`[{"role": "user", "content": ...}, ...]` or `{"messages": [...]}`),
rendered through the bundle's chat format with the generation prompt appended, as `edgekit
run` renders a chat. Everything is read and checked before a conversion starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.core.chat import ChatFormat, Turn, render
from edgekit.core.digest import sha256_file
from edgekit.core.errors import EdgekitError

ROLES = {"user": "user", "assistant": "model", "model": "model"}
JSONL_EXAMPLE = '[{"role": "user", "content": "..."}]'


@dataclass(frozen=True)
class UserInputs:
    """Prompts as the bundle sees them (chat-rendered where given as messages), and a text."""

    prompts: tuple[str, ...] = ()
    prompts_file: str | None = None
    prompts_sha256: str | None = None
    text: str | None = None
    text_file: str | None = None
    text_sha256: str | None = None


def read_text_file(path: Path, option: str = "--text") -> str:
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"cannot read {option} {path} ({exc})", "pass a UTF-8 text file") from None
    if not content.strip():
        raise EdgekitError(f"{option} {path} is empty", "pass a file with some text in it")
    return content


def _conversation(value: Any, where: str, chat: ChatFormat) -> str:
    messages = value.get("messages") if isinstance(value, dict) else value
    if not isinstance(messages, list) or not messages:
        raise EdgekitError(f"{where} is not a list of messages", f"write each conversation as {JSONL_EXAMPLE}")
    system = None
    turns = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise EdgekitError(
                f"{where}: message {number} has no text content", f"write each message as {JSONL_EXAMPLE[1:-1]}"
            )
        role = message.get("role")
        if role == "system" and number == 1:
            system = message["content"]
        elif role in ROLES:
            turns.append(Turn(ROLES[role], message["content"]))
        else:
            raise EdgekitError(
                f"{where}: message {number} has role {role!r}",
                "use user, assistant (or model), and system as the first message only",
            )
    if not turns or turns[-1].role != "user":
        raise EdgekitError(f"{where} does not end with a user message", "end each conversation with the user's turn")
    return render(chat, turns, system)


def read_prompts(path: Path, chat: ChatFormat) -> tuple[str, ...]:
    """One prompt per non-blank line; a line that starts with `[` or `{` is a JSON conversation."""
    prompts = []
    for number, line in enumerate(read_text_file(path, "--prompts").splitlines(), 1):
        if not line.strip():
            continue
        where = f"--prompts {path} line {number}"
        if line.lstrip()[:1] in "[{":
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EdgekitError(f"{where} is not valid JSON ({exc.msg})", f"write it as {JSONL_EXAMPLE}") from None
            prompts.append(_conversation(value, where, chat))
        else:
            prompts.append(line)
    return tuple(prompts)


def read_user_inputs(prompts: Path | None, text: Path | None, chat: ChatFormat) -> UserInputs | None:
    if prompts is None and text is None:
        return None
    return UserInputs(
        prompts=read_prompts(prompts, chat) if prompts else (),
        prompts_file=prompts.name if prompts else None,
        prompts_sha256=sha256_file(prompts) if prompts else None,
        text=read_text_file(text) if text else None,
        text_file=text.name if text else None,
        text_sha256=sha256_file(text) if text else None,
    )
