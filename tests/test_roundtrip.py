"""Any text survives the whole path: a data file -> template -> litellm -> HTTP server -> results.jsonl -> an
interrupted run resumed -> baseline -> compare -> report, whatever characters the vars and the model's outputs
hold (every Unicode line separator, NUL, lone surrogates, right-to-left marks, a megabyte of text)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import embedded_data, run_cli

# What str.splitlines breaks at, NUL, lone surrogates, bidirectional controls, a BOM, a combining mark.
AWKWARD = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\x0b", "\x0c", "\r", "\n", "\r\n", "\x00", "\ud800",
           "\udfff", "\u200f", "\u202e", "\ufeff", "e\u0301", '"', "\\", "</script>", "{{ x }}"]
texts = st.lists(st.one_of(st.characters(), st.sampled_from(AWKWARD)), min_size=1, max_size=40).map("".join)


def _write_suite(root: Path, cases: list[tuple[str, str]], server: FakeLLMServer) -> Path:
    """A suite whose JSONL cases carry ``text`` vars; the server answers each case with its planned output."""
    (root / "pyproject.toml").write_text("")
    data = "".join(json.dumps({"id": f"c{i}", "vars": {"text": text, "n": i}}) + "\n" for i, (text, _) in
                   enumerate(cases))
    (root / "cases.jsonl").write_text(data, encoding="utf-8")
    suite = root / "suite.yaml"
    suite.write_text("name: roundtrip\nprompts: [{id: p, text: 'case {{ n }}: {{ text }}'}]\n"
                     f"models: [{{id: m, model: openai/fake, params: {{api_base: '{server.base_url}', "
                     "api_key: sk-test-key-123456}}]\n"
                     "cases: cases.jsonl\nscorers: [{type: length, max_chars: 1000000}]\n")
    return suite


def _answers(cases: list[tuple[str, str]]):
    def answer(request: dict) -> str:
        number = int(re.match(r"case (\d+):", last_user_message(request)).group(1))
        return cases[number][1]

    return answer


def _rows(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "results.jsonl").read_bytes().split(b"\n") if line.strip()]


def _check_roundtrip(tmp_path: Path, cases: list[tuple[str, str]]) -> None:
    with FakeLLMServer(_answers(cases)) as server:
        suite = _write_suite(tmp_path, cases, server)
        assert run_cli("run", suite, "--out", tmp_path / "base", "--no-cache") == 0
        rows = _rows(tmp_path / "base")
        assert len(rows) == len(cases)
        for row in rows:
            text, output = cases[row["vars"]["n"]]
            assert row["vars"]["text"] == text and row["response"]["text"] == output
            sent = f"case {row['vars']['n']}: {text}".strip()  # no request can carry a lone surrogate: U+FFFD
            assert row["messages"][-1]["content"] == re.sub("[\ud800-\udfff]", "\ufffd", sent)

        # An interrupted run: a few results recorded, one twice, and a line torn in the middle.
        assert run_cli("run", suite, "--out", tmp_path / "run", "--no-cache") == 0
        lines = (tmp_path / "run" / "results.jsonl").read_bytes().split(b"\n")
        kept = lines[: len(cases) // 2]
        (tmp_path / "run" / "results.jsonl").write_bytes(b"\n".join([*kept, *kept[:1], b""]) + lines[-2][:25])
        asked = server.count
        assert run_cli("run", "--resume", tmp_path / "run", "--no-cache") == 0
        assert server.count - asked == len(cases) - len(kept)  # recorded trials are not asked again
    resumed = _rows(tmp_path / "run")
    assert sorted(r["trial_id"] for r in resumed) == sorted(r["trial_id"] for r in rows)  # one row per trial
    assert {r["trial_id"]: r["response"]["text"] for r in resumed} == {r["trial_id"]: r["response"]["text"]
                                                                       for r in rows}

    assert run_cli("baseline", "save", tmp_path / "base", "--to", tmp_path / "base.jsonl") == 0
    assert run_cli("compare", tmp_path / "base.jsonl", tmp_path / "run") == 0  # the same answers: no regression
    shown = embedded_data((tmp_path / "run" / "report.html").read_text(encoding="utf-8"))
    outputs = {row["id"]: row["c"][0]["o"] for row in shown["rows"]}  # a lone surrogate shows as U+FFFD
    for i, (_, output) in enumerate(cases):
        assert outputs[f"c{i}"] == re.sub("[\ud800-\udfff]", "\ufffd", output)


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, texts), min_size=2, max_size=6))
def test_any_text_survives_run_resume_compare_and_report(tmp_path_factory, cases):
    _check_roundtrip(tmp_path_factory.mktemp("roundtrip"), cases)


def test_every_awkward_character_and_a_megabyte_survive(tmp_path):
    cases = [(char * 3, f"out{char}put") for char in AWKWARD] + [("big", "x\u2028" * 500_000)]
    _check_roundtrip(tmp_path, cases)
