"""echo end to end: it answers with the last user message as rendered (content parts as readable text), calling
nothing, for template, text and messages prompts alike."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def test_echo_answers_with_the_last_user_message_readably(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    suite = tmp_path / "suite.yaml"
    suite.write_text("""\
name: echo
prompts:
  - {id: text, text: "Review: {{ review }}"}
  - id: chat
    messages:
      - system: Label the review.
      - user: An example.
      - assistant: positive
      - user: [{text: "Review: {{ review }}"}, {image: cat.png}, {text: "Label?"}]
models: [echo]
cases: [{id: a, vars: {review: Lovely soup}}]
scorers: [{type: contains, value: Lovely soup}]
""")
    assert run_cli("run", suite, "--out", tmp_path / "out") == 0
    answers = {row["prompt_id"]: row["response"] for row in
               map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert answers["text"]["text"] == "Review: Lovely soup"
    assert answers["chat"]["text"] == "Review: Lovely soup\n[image: data:image/png]\nLabel?"  # sent as its bytes
    assert answers["chat"]["error"] is None and answers["chat"]["finish_reason"] == "stop"
