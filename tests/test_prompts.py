from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.messages import compile_prompts
from harness.messages import render as render_for
from harness.spec import Case, Suite


def render(prompt, case):
    return render_for(prompt, case, Path.cwd(), [Path.cwd()])


def suite_with(tmp_path, template: str) -> Suite:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "p.j2").write_text(template)
    return Suite(name="s", prompts=[{"id": "p", "template": "p.j2"}], cases=[], path=tmp_path / "s.yaml")


def test_system_block_becomes_the_system_message_and_is_not_repeated(tmp_path):
    suite = suite_with(tmp_path, "{% block system %}\nYou are {{ role }}.\n{% endblock %}\nReview: {{ review }}\n")
    prompt = compile_prompts(suite)["p"]
    messages = render(prompt, Case(vars={"role": "a critic", "review": "Good."}))
    assert messages == [{"role": "system", "content": "You are a critic."},
                        {"role": "user", "content": "Review: Good."}]


def test_without_a_system_block_there_is_only_a_user_message(tmp_path):
    prompt = compile_prompts(suite_with(tmp_path, "Hi {{ name }}{% if expected %} ({{ expected }}){% endif %}"))["p"]
    assert render(prompt, Case(vars={"name": "Ann"}, expected="x")) == [{"role": "user", "content": "Hi Ann (x)"}]


def test_inline_text_prompts(tmp_path):
    suite = Suite(name="s", prompts=[{"id": "inline", "text": "Say {{ word }}"}], cases=[], path=tmp_path / "s.yaml")
    assert render(compile_prompts(suite)["inline"], Case(vars={"word": "hi"}))[0]["content"] == "Say hi"


def test_missing_variable_names_template_case_and_variable(tmp_path):
    prompt = compile_prompts(suite_with(tmp_path, "Review: {{ review }}"))["p"]
    with pytest.raises(HarnessError) as raised:
        render(prompt, Case(id="c1", vars={"text": "x"}))
    assert raised.value.file.endswith("p.j2")
    assert "case 'c1': template variable 'review' is undefined" in raised.value.message


def test_template_syntax_error_names_file_and_line(tmp_path):
    with pytest.raises(HarnessError) as raised:
        compile_prompts(suite_with(tmp_path, "line one\n{% if x %}\nno end"))
    assert raised.value.file.endswith("p.j2") and "syntax error" in raised.value.message


def test_an_empty_user_message_is_an_error(tmp_path):
    prompt = compile_prompts(suite_with(tmp_path, "{% block system %}only system{% endblock %}"))["p"]
    with pytest.raises(HarnessError, match="empty user message"):
        render(prompt, Case(vars={}))
