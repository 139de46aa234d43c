"""Golden outputs on the user's own prompts and text (`convert --prompts FILE --text FILE`),
checked by `edgekit validate` from a torch-free install; the fine-tune's own template, which
shows the model its tools, renders the prompts and marks the bundle as function-calling."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from edgekit.core.digest import sha256_file
from edgekit.formats.tokenizer import folder_tokenizer
from tests.cli import assert_one_line_error, convert, edgekit, litert_lm

# Gemma 3's turns, as a fine-tune's chat_template.jinja that also lists the tools it is given.
TOOLS_TEMPLATE = (
    "{{ bos_token }}{% if tools %}<start_of_turn>user\nYou may call: {{ tools | tojson }}<end_of_turn>\n{% endif %}"
    "{% set ns = namespace(system='') %}{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] ~ '\n\n' %}"
    "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
    "{{ ns.system }}{{ m['content'] }}<end_of_turn>\n{% set ns.system = '' %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

PROMPTS = "\n".join(
    [
        "The sea is",
        "",
        '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color."}]',
        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},'
        ' {"role": "user", "content": "Count to three."}]}',
    ]
)
# Gemma 3 has no system role: the instruction heads the first user turn.
RENDERED = (
    "The sea is",
    "<start_of_turn>user\nBe brief.\n\nName a color.<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
    "<start_of_turn>user\nCount to three.<end_of_turn>\n<start_of_turn>model\n",
)
TEXT = "A ship left the harbour at dawn. The wind was from the west, and the sea was calm.\n" * 6


def _validate(venv, bundle, cwd) -> tuple[int, dict]:
    result = subprocess.run(
        [str(venv / "bin" / "edgekit"), "validate", str(bundle), "--json"], capture_output=True, text=True, cwd=cwd
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def user_bundle(tiny_hf, tmp_path_factory):
    folder = tmp_path_factory.mktemp("user-golden")
    fine_tune = shutil.copytree(tiny_hf["gemma3"], folder / "fine-tune")
    (fine_tune / "chat_template.jinja").write_text(TOOLS_TEMPLATE)
    (folder / "prompts.jsonl").write_text(PROMPTS)
    (folder / "domain.txt").write_text(TEXT)
    bundle = convert(
        fine_tune,
        "--target",
        "litertlm",
        "--quant",
        "int8",
        "--prefill",
        "32",
        "--prompts",
        folder / "prompts.jsonl",
        "--text",
        folder / "domain.txt",
        "--out",
        folder / "out",
    )["int8"]
    return folder, bundle


def test_your_prompts_and_text_are_recorded_and_validated_without_torch(user_bundle, tiny_hf, base_venv, tmp_path):
    folder, bundle = user_bundle
    manifest = json.loads(bundle.with_name(bundle.name + ".edgekit.json").read_text())
    user = manifest["golden"]["user"]
    assert tuple(p["prompt"] for p in user["prompts"]) == RENDERED
    assert user["prompts_sha256"] == sha256_file(folder / "prompts.jsonl")
    assert user["text_file"] == "domain.txt" and user["text_sha256"] == sha256_file(folder / "domain.txt")
    sp = folder_tokenizer(tiny_hf["gemma3"])
    assert user["reference"]["ids"][1:] == sp.encode(TEXT)[: len(user["reference"]["ids"]) - 1]

    code, report = _validate(base_venv, bundle, tmp_path)
    assert code == 0, report["checks"]
    assert [p["prompt"] for p in report["user_prompts"]] == list(RENDERED)
    names = [c["name"] for c in report["checks"]]
    assert any(n.startswith("first-token agreement on prompts.jsonl") for n in names), names
    assert "teacher-forced top-1 agreement over domain.txt" in names
    assert report["teacher_forced_text"]["file"] == "domain.txt"


def test_a_template_that_shows_tools_marks_the_bundle_as_function_calling(user_bundle, converted):
    assert "Supports Function Call: YES" in litert_lm("describe", user_bundle[1])
    assert "Supports Function Call: NO" in litert_lm("describe", converted["gemma3"][("int8", "litertlm")])


def test_validate_fails_when_the_bundle_does_not_answer_your_prompts_as_the_source_did(
    user_bundle, tiny_hf, base_venv, tmp_path
):
    """Golden outputs on the user's prompts that the bundle cannot reproduce fail validation,
    and only that check fails: the prompts are really run, not just carried."""
    _, bundle = user_bundle
    copy = tmp_path / bundle.name
    copy.write_bytes(bundle.read_bytes())
    manifest = json.loads(bundle.with_name(bundle.name + ".edgekit.json").read_text())
    sp = folder_tokenizer(tiny_hf["gemma3"])
    for prompt in manifest["golden"]["user"]["prompts"]:
        wrong = next(
            i
            for i in range(10, 1000)
            if sp.decode([i]).strip() and not prompt["continuation"].startswith(sp.decode([i]))
        )
        prompt["continuation_ids"][0] = wrong
        prompt["continuation"] = sp.decode(prompt["continuation_ids"])
        prompt["first_token_margin"] = 10.0  # no near-tie excuse
    copy.with_name(copy.name + ".edgekit.json").write_text(json.dumps(manifest))

    code, report = _validate(base_venv, copy, tmp_path)
    assert code == 1
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert len(failed) == 1 and failed[0].startswith("first-token agreement on prompts.jsonl"), failed


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('[{"role": "user", "content": "Hi"}', "line 1 is not valid JSON"),
        ('[{"role": "tool", "content": "42"}]', "role 'tool'"),
        ('[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]', "end with a user"),
        ("\n\n", "is empty"),
        ('{"messages": "Hi"}', "not a list of messages"),
    ],
    ids=["broken JSON", "unknown role", "ends with the model", "empty", "no message list"],
)
def test_a_bad_prompts_file_gets_one_line_and_nothing_written(tiny_hf, tmp_path, content, needle):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(content)
    out = tmp_path / "out"
    result = edgekit("convert", tiny_hf["gemma3"], "--target", "litertlm", "--prompts", prompts, "--out", out)
    assert_one_line_error(result, needle)
    assert not out.exists() or not any(out.iterdir())
