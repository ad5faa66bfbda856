"""One verdict everywhere: harness run's exit code, pytest's outcome and the JUnit file agree, suite by suite.

Each suite runs end to end (YAML -> template -> litellm -> the test HTTP server -> scorers) three ways: the CLI
with --junit, and pytest (the plugin) with its own --junitxml. The two JUnit files must count the same tests,
failures, errors and skips, and all three must say pass or fail alike.
"""

from __future__ import annotations

import textwrap

import numpy  # noqa: F401  (imported by a run's statistics; see below)
import pytest
from junitparser import JUnitXml

from harness.providers._litellm import litellm_module
from harness.testing import FakeLLMServer, Reply
from tests.conftest import plugin_suite, run_cli, sentiment_answer

# pytester's inner runs restore sys.modules after them: what a run imports first inside one (litellm, numpy, which
# cannot be loaded twice) is imported here, so every run of this process shares it (see test_pytest_plugin.py).
litellm_module()


def answer(request):
    """'fake-model' gets the sarcasm wrong; 'worse-model' calls everything positive; 'broken-model' fails."""
    if request["model"] == "broken-model":
        return Reply("upstream exploded", status=400)
    if request["model"] == "worse-model":
        return "positive"
    return sentiment_answer(request)


SCENARIOS = {
    # name: (extra suite YAML, CLI flags, pytest flags, expected exit code)
    "passes": ("thresholds: {pass_rate: 0.5}\n", [], [], 0),
    "fails by threshold": ("thresholds: {pass_rate: 0.9}\n", [], [], 1),
    "fails by regression": ("thresholds: {pass_rate: 0.5}\ngates: {max_regressions: 0}\n",
                            ["--model", "fake=openai/worse-model", "--baseline", "{base}"],
                            ["--harness-model", "fake=openai/worse-model", "--harness-baseline", "{base}"], 1),
    "errors out": ("thresholds: {pass_rate: 0.5}\n", ["--model", "fake=openai/broken-model"],
                   ["--harness-model", "fake=openai/broken-model"], 1),
    "a must-pass case fails": ("thresholds: {pass_rate: 0.5}\nmust_pass: true\n", [], [], 1),
    "no thresholds, one trial passes": ("", [], [], 0),
}


@pytest.fixture
def fake():
    with FakeLLMServer(answer) as server:
        yield server


def _suite(directory, fake, extra: str):
    return plugin_suite(directory, fake.base_url, extra)


def _counts(path) -> dict[str, int]:
    (suite,) = list(JUnitXml.fromfile(str(path)))
    return {"tests": suite.tests, "failures": suite.failures, "errors": suite.errors, "skipped": suite.skipped}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cli_pytest_and_junit_agree(pytester, fake, tmp_path, scenario):
    extra, cli_flags, pytest_flags, expected = SCENARIOS[scenario]
    suite = _suite(pytester.path, fake, extra)
    base = tmp_path / "base"
    if "{base}" in " ".join(cli_flags):
        good = suite.read_text()
        suite.write_text(good.replace("gates: {max_regressions: 0}\n", ""))
        assert run_cli("run", suite, "--out", base) == 0
        suite.write_text(good)

    code = run_cli("run", suite, "--junit", tmp_path / "cli.xml", *(f.format(base=base) for f in cli_flags))
    result = pytester.runpytest(str(suite), "--junitxml", str(tmp_path / "pytest.xml"), "-p", "no:cacheprovider",
                                "-rx", *(f.format(base=base) for f in pytest_flags))

    cli_junit, pytest_junit = _counts(tmp_path / "cli.xml"), _counts(tmp_path / "pytest.xml")
    assert code == expected
    assert (result.ret == 0) == (code == 0) == (cli_junit["failures"] + cli_junit["errors"] == 0)
    assert cli_junit == pytest_junit
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == cli_junit["failures"] and outcomes.get("errors", 0) == cli_junit["errors"]
    assert outcomes.get("xfailed", 0) == cli_junit["skipped"]


def test_a_trial_the_thresholds_allow_is_visible_but_not_a_failure(pytester, fake, tmp_path, capsys):
    suite = _suite(pytester.path, fake, "thresholds: {pass_rate: 0.5}\n")

    assert run_cli("run", suite, "--junit", tmp_path / "cli.xml") == 0
    out = capsys.readouterr().out
    assert ("allowed: 1 trial of terse × fake did not pass, allowed by the suite's thresholds: pass_rate = 0.833 "
            "for terse × fake (needs ≥ 0.5)") in out
    assert "verdict: ✓ passed: all thresholds and gates met" in out
    cases = {case.name: case for case in next(iter(JUnitXml.fromfile(str(tmp_path / "cli.xml"))))}
    (skipped,) = cases["sarcasm"].result
    assert skipped._tag == "skipped" and "pass_rate = 0.833" in skipped.message
    assert "output: Positive" in skipped.text  # the whole story, for whoever opens it

    result = pytester.runpytest(str(suite), "-p", "no:cacheprovider", "-rx")
    result.assert_outcomes(passed=7, xfailed=1)  # 5 trials and 2 thresholds (error_rate, pass_rate)
    result.stdout.fnmatch_lines(["*XFAIL*sarcasm*label: predicted positive, expected negative (allowed by the "
                                 "suite's thresholds: pass_rate = 0.833 for terse × fake (needs ≥ 0.5))*"])


def test_a_case_of_its_own_must_pass(pytester, fake, tmp_path):
    suite = _suite(pytester.path, fake, "thresholds: {pass_rate: 0.5}\n")
    suite.write_text(suite.read_text().replace("cases: reviews.csv", textwrap.dedent("""\
        cases:
          - {id: mochi, vars: {review: "The mochi is excellent!"}, expected: positive}
          - {id: sarcasm, vars: {review: "Oh great, cold fries again."}, expected: negative, must_pass: true}
          - {id: fries, vars: {review: "Great fries"}, expected: positive}""")))

    assert run_cli("run", suite, "--junit", tmp_path / "cli.xml", "--out", tmp_path / "run") == 1

    from harness.results import load_run
    verdict = load_run(tmp_path / "run").manifest.verdict
    assert verdict.problems() == ["must_pass: 1 of 1 trials that must pass did not (sarcasm|terse|fake|0)"]
    assert verdict.headline() == "1 must-pass trial failed"
    result = pytester.runpytest(str(suite), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=2)  # the sarcasm trial and the must_pass check


def test_an_allowed_trial_names_the_thresholds_on_what_it_failed(fake, tmp_path, capsys):
    suite = _suite(tmp_path, fake, "thresholds: {label.accuracy: 0.5, latency_p95_ms: {max: 100000}}\n")

    assert run_cli("run", suite) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("allowed: 1 trial of terse")]
    assert "label.accuracy = 0.833 for terse × fake (needs ≥ 0.5)" in line and "latency" not in line
