"""Composing scorers: not, weights, named metrics, a per-case threshold on the weighted score, usage scorers."""

from __future__ import annotations

import json

from tests.conftest import run_cli

SUITE = """\
name: composed
prompts:
  - id: terse
    template: sentiment/terse.j2
models:
  - id: fake
    model: openai/fake-model
    params: {{api_base: {base}, api_key: sk-test-key-123456}}
threshold: 0.75
cases:
  - {{id: mochi, vars: {{review: "The mochi is excellent!"}}, expected: positive}}
  - {{id: cold-pasta, vars: {{review: "The pasta was cold."}}, expected: negative}}
  - {{id: lenient, vars: {{review: "The pasta was cold!"}}, expected: negative, threshold: 0.5}}
  - {{id: sarcasm, vars: {{review: "Oh great, cold fries again."}}, expected: negative}}
scorers:
  - {{type: label, labels: [positive, negative], weight: 3}}
  - {{type: contains, value: sentiment, not: true, name: no_preamble}}
  - {{type: tokens, max_tokens: 3}}
  - {{type: latency, max_ms: 60000, weight: 0}}
  - {{type: my_checks:is_short, name: short, weight: 0}}
thresholds:
  no_preamble.pass_rate: 0.5
"""


def test_not_weights_and_case_thresholds_decide_the_verdict_end_to_end(project, server, tmp_path, monkeypatch):
    (tmp_path / "my_checks.py").write_text("def is_short(output, case):\n    return len(output) < 12\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = project(SUITE.format(base=server.base_url))

    assert run_cli("run", suite) == 0  # two trials fail, but no threshold is missed

    run_dir = next((tmp_path / "reports").glob("composed-*"))
    rows = {r["case_id"]: r for r in map(json.loads, (run_dir / "results.jsonl").read_text().splitlines())}
    # "Positive": label 1 (weight 3), no "sentiment" 1, 1 token 1 -> 5/5.
    assert rows["mochi"]["score"] == 1.0 and rows["mochi"]["passed"]
    # "The sentiment is negative.": label 1 (x3), preamble present (negated: 0), 4 tokens > 3 (0) -> 3/5.
    cold = {s["name"]: s for s in rows["cold-pasta"]["scores"]}
    assert cold["no_preamble"]["value"] == 0.0 and cold["no_preamble"]["metadata"]["negated"]
    assert cold["no_preamble"]["explanation"] == "not: found 'sentiment'"
    assert cold["tokens"]["explanation"] == "4 completion tokens > 3"
    assert rows["cold-pasta"]["score"] == 0.6 and not rows["cold-pasta"]["passed"]
    # The same 3/5 passes where the case lowers its own mark to 0.5.
    assert rows["lenient"]["score"] == 0.6 and rows["lenient"]["passed"]
    # A weight-0 scorer is recorded but does not vote: "short" failed on cold-pasta, not counted in 0.6.
    assert cold["short"]["passed"] is False and cold["latency"]["passed"]
    # Wrong label: 0 + 1 + 1 over 5.
    assert rows["sarcasm"]["score"] == 0.4 and not rows["sarcasm"]["passed"]

    manifest = json.loads((run_dir / "run.json").read_text())
    variant = manifest["variants"][0]
    assert variant["pass_rate"] == 0.5
    assert variant["scorers"]["no_preamble"]["pass_rate"] == 0.5  # the named metric, thresholded by its name
    assert all(check["passed"] for check in manifest["thresholds"])
