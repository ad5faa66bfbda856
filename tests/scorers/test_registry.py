"""User scorers: the @scorer decorator in a plugin file, and a plain function by path:function."""

from __future__ import annotations

import json

from tests.conftest import run_cli

PLUGIN = '''
from harness import scorer, Verdict

@scorer("short", threshold=0.5)
def short(output, case, *, max_words=3):
    words = len(output.split())
    return Verdict(1.0 if words <= max_words else 0.0, f"{words} words")

def shouts(output, case):
    return output.isupper()

def broken(output, case):
    raise RuntimeError("bug in my scorer")
'''


def test_plugin_and_path_scorers_run_end_to_end(project, server, tmp_path):
    suite = project()
    (suite.parent / "my_scorers.py").write_text(PLUGIN)
    text = suite.read_text().replace("scorers:\n", "plugins: [my_scorers.py]\nscorers:\n  - type: short\n"
                                     "    max_words: 1\n  - type: my_scorers.py:shouts\n"
                                     "  - type: my_scorers.py:broken\n")
    suite.write_text(text.replace("thresholds:\n  pass_rate: 0.5\n", ""))

    assert run_cli("run", suite, "--prompt", "terse") == 1  # no thresholds, and every trial failed

    rows = [json.loads(x) for x in next((tmp_path / "reports").glob("*/results.jsonl")).read_text().splitlines()]
    mochi = {s["name"]: s for s in next(r for r in rows if r["case_id"] == "mochi")["scores"]}
    assert mochi["short"]["passed"] and mochi["short"]["explanation"] == "1 words"
    assert mochi["short"]["threshold"] == 0.5
    assert mochi["my_scorers.py:shouts"]["value"] == 0.0
    assert mochi["my_scorers.py:broken"]["error"] == "RuntimeError: bug in my scorer"
    assert all(not r["passed"] for r in rows)  # the broken scorer fails every trial, loudly


def test_unknown_plugin_argument_is_caught_at_load(project, capsys):
    suite = project()
    (suite.parent / "my_scorers.py").write_text(PLUGIN)
    suite.write_text(suite.read_text().replace("scorers:\n", "plugins: [my_scorers.py]\nscorers:\n  - type: short\n"
                                               "    max_word: 1\n"))
    assert run_cli("validate", suite) == 2
    assert "scorer 'short' has no argument 'max_word' (did you mean 'max_words'?)" in capsys.readouterr().err
