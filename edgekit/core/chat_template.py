"""A checkpoint's own Jinja chat template, rendered as untrusted code: only inside jinja2's
immutable sandbox, with the few helpers transformers gives templates (`raise_exception`,
`strftime_now`, a JSON `tojson`, a `namespace` that refuses underscore names), so that what
renders here is what `apply_chat_template` renders, and a hostile template can neither read
files nor run code: it is refused in one line.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from edgekit.core.errors import EdgekitError


def _environment():
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Namespace(jinja2.utils.Namespace):
        def __init__(*args: Any, **kwargs: Any) -> None:
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                _check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            _check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(f"underscore name {name!r} on a namespace")

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(
        value: Any,
        ensure_ascii: bool = False,
        indent: int | None = None,
        separators: Any = None,
        sort_keys: bool = False,
    ) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals.update(
        raise_exception=raise_exception, strftime_now=lambda f: datetime.now().strftime(f), namespace=Namespace
    )
    return env


def render_chat_template(
    template: str,
    messages: list[dict[str, Any]],
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
    where: str = "the chat template",
    tools: list[dict[str, Any]] | None = None,
) -> str:
    import jinja2

    try:
        compiled = _environment().from_string(template)
        return compiled.render(
            messages=messages,
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
            tools=tools,
        )
    except jinja2.exceptions.SecurityError as exc:
        raise EdgekitError(
            f"{where} tried an unsafe operation ({exc}); it is not rendered",
            "use the base model's template, or pass --chat-template FILE",
        ) from None
    except jinja2.exceptions.TemplateError as exc:
        raise EdgekitError(
            f"{where} does not render ({type(exc).__name__}: {str(exc)[:160]})",
            "fix the template, or pass --chat-template FILE",
        ) from None
