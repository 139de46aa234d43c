"""A chat format as data, and turning a conversation into the exact text a model was tuned on.

Each Gemma generation states its format in the family registry (`edgekit.families`); the
record travels in every manifest and bundle, so no app types prompt tags by hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from edgekit.core.errors import EdgekitError

Role = Literal["user", "model"]
JINJA_SUFFIXES = (".jinja", ".j2")


@dataclass(frozen=True)
class ChatFormat:
    """Turn markers, start and stop tokens of an instruction-tuned model. Without a system role
    a system instruction is folded into the first user turn."""

    start_token: str
    stop_tokens: tuple[str, ...]
    user_prefix: str
    user_suffix: str
    model_prefix: str
    model_suffix: str
    # Special tokens that users' text may contain and the tokenizer must match whole.
    turn_markers: tuple[str, ...] = ()
    system_role: bool = False
    system_prefix: str = ""  # with a system role: its turn is system_prefix + text + user_suffix
    # Written after the model prefix when the model is asked to answer (Gemma 4: an empty
    # thinking channel, so it answers without thinking).
    generation_suffix: str = ""
    # Sampling the model card recommends for chat use (LLM Inference API names).
    recommended_sampling: tuple[tuple[str, float], ...] = (("temperature", 1.0), ("top_k", 64), ("top_p", 0.95))
    # The checkpoint's own Jinja template, where it has one: it wins over the fields above
    # wherever a runtime renders Jinja (`edgekit run`, LiteRT-LM), and says where it came from.
    template: str | None = None
    template_source: str = "the family's default format"

    @property
    def generation_prompt(self) -> str:
        return self.model_prefix + self.generation_suffix

    def jinja_template(self) -> str:
        """The checkpoint's template, else the format above as a Jinja template, for runtimes
        that render one (LiteRT-LM's Conversation API, which passes each message's content as
        a list of `{"type": "text", "text": ...}` parts; plain strings work too); without a
        system role a leading system message is folded into the first user turn."""
        if self.template is not None:
            return self.template
        up, us, mp, ms, sp, gp = (
            json.dumps(s)
            for s in (
                self.user_prefix,
                self.user_suffix,
                self.model_prefix,
                self.model_suffix,
                self.system_prefix,
                self.generation_prompt,
            )
        )
        system = (
            f"{{{{ {sp} }}}}{{{{ text(messages[0]['content']) | trim }}}}{{{{ {us} }}}}"
            "{%- set first_user_prefix = '' -%}"
            if self.system_role
            else "{%- set first_user_prefix = text(messages[0]['content']) ~ '\n\n' -%}"
        )
        return (
            "{%- macro text(content) -%}"
            "{%- if content is string -%}{{ content }}"
            "{%- else -%}{%- for part in content -%}{%- if part['type'] == 'text' -%}{{ part['text'] }}"
            "{%- endif -%}{%- endfor -%}{%- endif -%}"
            "{%- endmacro -%}"
            "{{ bos_token }}"
            "{%- if messages[0]['role'] == 'system' -%}"
            f"{system}"
            "{%- set loop_messages = messages[1:] -%}"
            "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
            "{%- for message in loop_messages -%}"
            "{%- if message['role'] == 'user' -%}"
            f"{{{{ {up} }}}}{{%- if loop.first -%}}{{{{ first_user_prefix }}}}{{%- endif -%}}"
            f"{{{{ text(message['content']) | trim }}}}{{{{ {us} }}}}"
            "{%- else -%}"
            f"{{{{ {mp} }}}}{{{{ text(message['content']) | trim }}}}{{{{ {ms} }}}}"
            "{%- endif -%}"
            "{%- endfor -%}"
            f"{{%- if add_generation_prompt -%}}{{{{ {gp} }}}}{{%- endif -%}}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "start_token": self.start_token,
            "stop_tokens": list(self.stop_tokens),
            "user_prefix": self.user_prefix,
            "user_suffix": self.user_suffix,
            "model_prefix": self.model_prefix,
            "model_suffix": self.model_suffix,
            "turn_markers": list(self.turn_markers),
            "system_role": self.system_role,
            "system_prefix": self.system_prefix,
            "generation_suffix": self.generation_suffix,
            "recommended_sampling": dict(self.recommended_sampling),
            "template": self.template,
            "template_source": self.template_source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChatFormat:
        """A recorded format; `turn_markers` and `system_role` may be absent (older manifests)."""
        try:
            return cls(
                start_token=str(data["start_token"]),
                stop_tokens=tuple(str(t) for t in data["stop_tokens"]),
                user_prefix=str(data["user_prefix"]),
                user_suffix=str(data["user_suffix"]),
                model_prefix=str(data["model_prefix"]),
                model_suffix=str(data["model_suffix"]),
                turn_markers=tuple(str(t) for t in data.get("turn_markers", ())),
                system_role=bool(data.get("system_role", False)),
                system_prefix=str(data.get("system_prefix", "")),
                generation_suffix=str(data.get("generation_suffix", "")),
                template=data.get("template"),
                template_source=str(data.get("template_source", cls.template_source)),
                recommended_sampling=tuple(
                    (str(k), float(v))
                    for k, v in dict(data.get("recommended_sampling", dict(cls.recommended_sampling))).items()
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgekitError(
                f"chat format record is incomplete ({type(exc).__name__}: {exc})", "re-run `edgekit convert`"
            ) from None

    def with_overrides(self, template_file: Path) -> ChatFormat:
        """`--chat-template FILE`: a Jinja template (`.jinja`, `.j2`) that wins as a checkpoint's
        own does, or a JSON object overriding any field, for fine-tunes."""
        if template_file.suffix in JINJA_SUFFIXES:
            try:
                template = template_file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise EdgekitError(f"cannot read {template_file} ({exc})", "pass a UTF-8 Jinja file") from None
            return fields_from_template(
                replace(self, template=template, template_source=f"--chat-template {template_file.name}")
            )
        try:
            values = json.loads(template_file.read_text())
            for key in ("stop_tokens", "turn_markers"):
                if key in values:
                    values[key] = tuple(values[key])
            if "recommended_sampling" in values:
                values["recommended_sampling"] = tuple(dict(values["recommended_sampling"]).items())
            return replace(self, **values)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise EdgekitError(
                f"{template_file} is not a valid chat template override ({exc})",
                "write a JSON object with keys such as user_prefix, model_prefix, stop_tokens",
            ) from None


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str


def fold_system(turns: Sequence[Turn], system: str | None) -> list[Turn]:
    """Without a system role the instruction becomes the head of the first user turn."""
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
    """The prompt text without the start token (the runtimes add it themselves): through the
    checkpoint's own template where the format carries one, rendered in jinja2's sandbox."""
    if chat.template is not None:
        from edgekit.core.chat_template import render_chat_template

        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in turns
        ]
        text = render_chat_template(
            chat.template,
            messages,
            chat.start_token,
            chat.stop_tokens[0],
            add_generation_prompt,
            where=f"the chat template ({chat.template_source})",
        )
        return text.removeprefix(chat.start_token)
    parts = []
    if system and chat.system_role:
        parts.append(f"{chat.system_prefix}{system.strip()}{chat.user_suffix}")
    for turn in turns if chat.system_role else fold_system(turns, system):
        if turn.role == "user":
            parts.append(f"{chat.user_prefix}{turn.text}{chat.user_suffix}")
        else:
            parts.append(f"{chat.model_prefix}{turn.text}{chat.model_suffix}")
    if add_generation_prompt:
        parts.append(chat.generation_prompt)
    return "".join(parts)


PROBE_TURNS = (Turn("user", "Hi"), Turn("model", "Hello"), Turn("user", "Bye"))


PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "edgekit_probe_tool",
        "description": "Says whether a template shows the model its tools.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def supports_tools(chat: ChatFormat) -> bool:
    """Whether the checkpoint's template shows the model the tools it is given (rendered with a
    probe tool, in transformers' `tools` format): what LiteRT-LM's `supports_function_calling`
    tells an app. The families' own turn formats have no tool turn."""
    if chat.template is None:
        return False
    from edgekit.core.chat_template import render_chat_template

    messages = [{"role": "user", "content": "Hi"}]
    try:
        text = render_chat_template(chat.template, messages, chat.start_token, chat.stop_tokens[0], tools=[PROBE_TOOL])
    except EdgekitError:  # a template that fails on tools does not support them
        return False
    return PROBE_TOOL["function"]["name"] in text


def fields_gap(chat: ChatFormat) -> str | None:
    """What a MediaPipe `.task`, which holds only prefixes and suffixes, will not reproduce of the
    checkpoint's own template, or None where the template renders what the fields give."""
    if chat.template is None:
        return None
    fields = replace(chat, template=None)
    for system in (None, "Be brief."):
        try:
            want = render(chat, PROBE_TURNS, system)
        except EdgekitError:  # the template refuses a system turn: so will the app
            continue
        got = render(fields, PROBE_TURNS, system)
        if want != got:
            at = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
            return (
                f"the checkpoint's chat template ({chat.template_source}) renders {want[at : at + 40]!r} where "
                f"the .task's prefixes and suffixes give {got[at : at + 40]!r}"
            )
    return None


_PROBE_TEXTS = ("EDGEKITPROBEA", "EDGEKITPROBEB", "EDGEKITPROBEC", "EDGEKITPROBES")


def fields_from_template(chat: ChatFormat) -> ChatFormat:
    """`chat` with the prefixes and suffixes its Jinja template reduces to, for runtimes that
    hold only those (a MediaPipe `.task`, LiteRT-LM's prompt templates); `chat` unchanged where
    the template does not reduce to them on the probes `fields_gap` checks (or fails to render:
    `convert` refuses that itself)."""
    if chat.template is None:
        return chat
    a, b, c, system = _PROBE_TEXTS
    try:
        single = render(chat, [Turn("user", a)], add_generation_prompt=False)
        three = render(chat, [Turn("user", a), Turn("model", b), Turn("user", c)])
        with_system = render(chat, [Turn("user", a)], system, add_generation_prompt=False)
    except EdgekitError:
        return chat
    user_prefix, _, user_suffix = single.partition(a)
    head, _, rest = three.partition(a)
    between_ab, _, rest = rest.partition(b)
    between_bc, _, tail = rest.partition(c)
    if head != user_prefix or not (
        between_ab.startswith(user_suffix) and between_bc.endswith(user_prefix) and tail.startswith(user_suffix)
    ):
        return chat
    model_prefix = between_ab[len(user_suffix) :]
    generation = tail[len(user_suffix) :]
    if not generation.startswith(model_prefix):
        return chat
    fields = replace(
        chat,
        user_prefix=user_prefix,
        user_suffix=user_suffix,
        model_prefix=model_prefix,
        model_suffix=between_bc[: len(between_bc) - len(user_prefix)],
        generation_suffix=generation[len(model_prefix) :],
    )
    candidates = [fields]
    if system in with_system:  # a template with a system turn of its own
        candidates.append(replace(fields, system_role=True, system_prefix=with_system.partition(system)[0]))
    return next((f for f in candidates if fields_gap(f) is None), chat)
