"""Gemma's chat format: rendering, the system fold, overrides, and what bundles state."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from edgekit.core.chat import Turn, fields_from_template, fields_gap, render, supports_tools
from edgekit.core.errors import EdgekitError
from edgekit.families import FAMILIES, GEMMA_CHAT
from tests.cli import edgekit
from tests.fixtures.chat_templates import CHATML


def test_system_instruction_is_folded_into_the_first_user_turn():
    text = render(GEMMA_CHAT, [Turn("user", "Hi"), Turn("model", "Hello"), Turn("user", "Sky?")], system="Be brief.")
    assert text == (
        "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
        "<start_of_turn>user\nSky?<end_of_turn>\n<start_of_turn>model\n"
    )


@pytest.mark.parametrize("parts", [False, True], ids=["string-content", "litert-lm-parts"])
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_jinja_template_renders_the_same_text(family, parts):
    """Whether each message's content is a string or, as LiteRT-LM's Conversation API sends it,
    a list of text parts (a template that printed the list once sent `[{'type': ...}]` as the
    prompt), with and without a system role."""
    jinja2 = pytest.importorskip("jinja2")
    turns = [Turn("user", "Hi"), Turn("model", "Hello"), Turn("user", "Sky?")]
    messages = [{"role": "system", "content": "Be brief."}] + [
        {"role": "assistant" if t.role == "model" else "user", "content": t.text} for t in turns
    ]
    if parts:
        messages = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    rendered = jinja2.Template(family.chat.jinja_template()).render(
        bos_token="<bos>", messages=messages, add_generation_prompt=True
    )
    assert rendered == "<bos>" + render(family.chat, turns, system="Be brief.")


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_every_family_format_ends_its_turns_with_a_stop_token(family):
    """A model answering in a family's format stops where its turn ends: the model suffix
    starts with a stop token, and every turn marker the rendering uses is one the tokenizer
    rebuild must keep whole."""
    chat = family.chat
    assert any(chat.model_suffix.startswith(stop) for stop in chat.stop_tokens)
    text = render(chat, [Turn("user", "Hi"), Turn("model", "Hello"), Turn("user", "Sky?")])
    used = [m for m in chat.turn_markers if m in text]
    assert used == list(chat.turn_markers) and text.endswith(chat.generation_prompt)
    assert chat.start_token not in text  # the runtimes add it


def test_chat_template_override_for_fine_tunes(tmp_path):
    override = tmp_path / "chat.json"
    override.write_text(json.dumps({"user_prefix": "<|user|>\n", "stop_tokens": ["<eos>", "<|end|>"]}))
    chat = GEMMA_CHAT.with_overrides(override)
    assert chat.user_prefix == "<|user|>\n" and chat.stop_tokens == ("<eos>", "<|end|>")
    assert chat.model_prefix == GEMMA_CHAT.model_prefix
    override.write_text(json.dumps({"no_such_field": 1}))
    with pytest.raises(EdgekitError, match="chat template override"):
        GEMMA_CHAT.with_overrides(override)


def test_a_jinja_chat_template_file_wins_and_renders_in_the_sandbox(tmp_path):
    template = tmp_path / "chat.jinja"
    template.write_text("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}")
    chat = GEMMA_CHAT.with_overrides(template)
    assert chat.template_source == "--chat-template chat.jinja"
    assert render(chat, [Turn("user", "Hi")]) == "<|user|>Hi"
    template.write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(EdgekitError, match="unsafe"):
        render(GEMMA_CHAT.with_overrides(template), [Turn("user", "Hi")])


def test_litertlm_metadata_resolves_tokens_through_the_bundle_tokenizer(tiny_hf):
    from litert_lm_builder.runtime.proto import llm_metadata_pb2

    from edgekit.converters.litert_package import ChatMetadata, llm_metadata_bytes

    proto = llm_metadata_pb2.LlmMetadata()
    proto.ParseFromString(
        llm_metadata_bytes(ChatMetadata(GEMMA_CHAT, "gemma3"), tiny_hf["gemma3"] / "tokenizer.model", 512)
    )
    assert list(proto.start_token.token_ids.ids) == [2]
    assert [list(s.token_ids.ids) for s in proto.stop_tokens] == [[1], [5]]
    assert proto.max_num_tokens == 512
    assert proto.prompt_templates.user.prefix == "<start_of_turn>user\n"
    assert proto.HasField("supports_function_calling") and not proto.supports_function_calling
    assert proto.HasField("supports_thinking") and not proto.supports_thinking


def test_only_a_template_that_shows_the_model_its_tools_supports_them():
    shows = (
        "{{ bos_token }}{% for t in tools or [] %}{{ t['function']['name'] }}\n{% endfor %}{{ messages[0]['content'] }}"
    )
    ignores = "{{ bos_token }}{{ messages[0]['content'] }}"
    misreads = "{{ bos_token }}{{ tools[0]['name'] }}"  # not transformers' tools format: renders nothing
    assert supports_tools(replace(GEMMA_CHAT, template=shows))
    assert not supports_tools(replace(GEMMA_CHAT, template=ignores))
    assert not supports_tools(replace(GEMMA_CHAT, template=misreads))
    assert not supports_tools(GEMMA_CHAT)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_a_template_that_reduces_to_the_fields_gives_no_task_warning(family):
    """A checkpoint template that renders what the prefixes and suffixes give (here the format's
    own, as Jinja) leaves nothing for the `.task` to miss."""
    assert fields_gap(family.chat) is None
    assert fields_gap(replace(family.chat, template=family.chat.jinja_template(), template_source="test")) is None


def test_a_template_the_task_cannot_reproduce_is_named():
    preamble = (
        "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
        "{% if loop.first %}You are Gemma, a fine-tune.\n{% endif %}{{ m['content'] }}<end_of_turn>\n{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    gap = fields_gap(replace(GEMMA_CHAT, template=preamble, template_source="chat_template.jinja"))
    assert gap and "chat_template.jinja" in gap and "You are Gemma" in gap


FRENCH = (
    "{{ bos_token }}{% for m in messages %}{{ '<start_of_turn>' ~ ('model' if m['role'] == 'assistant' else 'user') }}\n"
    "{{ 'Answer in French. ' if loop.first else '' }}{{ m['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_a_template_in_other_turns_gives_the_prefixes_and_suffixes_it_reduces_to():
    chat = fields_from_template(replace(GEMMA_CHAT, template=CHATML, template_source="chat_template.jinja"))
    assert (chat.user_prefix, chat.user_suffix) == ("<|im_start|>user\n", "<|im_end|>\n")
    assert (chat.model_prefix, chat.model_suffix) == ("<|im_start|>assistant\n", "<|im_end|>\n")
    assert chat.system_role and chat.system_prefix == "<|im_start|>system\n"
    assert fields_gap(chat) is None
    turns = [Turn("user", "Hi"), Turn("model", "Hello"), Turn("user", "Bye")]
    assert render(chat, turns, "Be brief.") == render(replace(chat, template=None), turns, "Be brief.")
    french = replace(GEMMA_CHAT, template=FRENCH, template_source="chat_template.jinja")
    assert fields_from_template(french) == french  # its first turn differs from the others: no fields do it


def test_convert_warns_once_that_the_task_drops_the_checkpoints_template(tiny_hf, tmp_path):
    """A template no prefixes and suffixes reproduce: the .task keeps the family's and says so
    once, and the conversion goes on (a reducible template's real conversion:
    tests/test_lora_adapter.py, whose fine-tune brings ChatML turns)."""
    from edgekit.formats.task_bundle import open_task

    checkpoint = tmp_path / "fine-tune"
    shutil.copytree(tiny_hf["gemma3"], checkpoint)
    (checkpoint / "chat_template.jinja").write_text(FRENCH)
    result = edgekit(
        "convert", checkpoint, "--target", "task", "--quant", "fp32", "--prefill", "32", "--out", tmp_path / "out"
    )
    assert result.code == 0, result.stderr[-2000:]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("edgekit: warning:")]
    assert len(warnings) == 1 and "Answer in French" in warnings[0] and "chat_template.jinja" in warnings[0]
    task = open_task(tmp_path / "out" / "fine-tune-fp32.task")
    assert task.metadata()["prompt_templates"]["user"]["prefix"] == GEMMA_CHAT.user_prefix
