"""JUnit XML from harness run, read back with junitparser (what CI tools parse)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from junitparser import Error, Failure, JUnitXml

from harness.testing import FakeLLMServer, Reply, last_user_message
from tests.conftest import run_cli, sentiment_answer


def answer(request):
    text = last_user_message(request)
    if "cold." in text:
        return Reply("nope", status=400)
    if "tablecloths" in text:
        return "Positive \x00\x07 with control characters"
    return sentiment_answer(request)


def test_junit_has_a_testcase_per_trial_and_per_threshold(project, tmp_path):
    with FakeLLMServer(answer) as server:
        suite = project(base_url=server.base_url)
        assert run_cli("run", suite, "--prompt", "terse", "--junit", tmp_path / "out" / "junit.xml") == 1

    xml = JUnitXml.fromfile(str(tmp_path / "out" / "junit.xml"))
    (testsuite,) = list(xml)
    cases = {case.name: case for case in testsuite}
    assert testsuite.name == "sentiment" and testsuite.tests == 8  # 6 trials + error_rate + pass_rate
    assert testsuite.failures == 2 and testsuite.errors == 1  # sarcasm, error_rate threshold; cold-pasta
    assert cases["mochi"].classname == "sentiment.terse.fake" and cases["mochi"].is_passed
    (failure,) = cases["sarcasm"].result
    assert isinstance(failure, Failure) and failure.message == "label: predicted positive, expected negative"
    assert "output: Positive" in failure.text and "[user]" in failure.text
    (error,) = cases["cold-pasta"].result
    assert isinstance(error, Error) and "BadRequestError (400)" in error.message
    threshold = cases["terse x fake: error_rate ≤ 0.1"]
    assert threshold.classname == "sentiment.thresholds" and not threshold.is_passed
    assert cases["tablecloths"].is_passed
    ET.parse(tmp_path / "out" / "junit.xml")  # well-formed despite the control characters in an output


def test_a_run_killed_before_any_trial_still_writes_valid_junit(tmp_path):
    from harness import outputs
    from harness.records import RunManifest, SuiteRef
    from harness.results import load_run, write_manifest

    write_manifest(tmp_path, RunManifest(suite=SuiteRef(name="s"), started_at="2026-01-01T00:00:00+00:00"))
    written = outputs.write("junit", load_run(tmp_path), tmp_path / "junit.xml")
    root = ET.parse(written).getroot()
    assert root.get("tests") == "0" and root.find("testsuite").get("failures") == "0"
    assert written.read_text().endswith('skipped="0" time="0.000" />\n</testsuites>')


def test_a_cached_run_says_it_took_no_model_time(project, server, tmp_path):
    suite = project()
    assert run_cli("run", suite, "--prompt", "terse", "--junit", tmp_path / "first.xml") == 0
    assert run_cli("run", suite, "--prompt", "terse", "--junit", tmp_path / "cached.xml",
                   "--out", tmp_path / "run") == 0

    first, cached = (next(iter(JUnitXml.fromfile(str(tmp_path / name)))) for name in ("first.xml", "cached.xml"))
    trials = [case for case in cached if case.classname == "sentiment.terse.fake"]
    assert len(trials) == 6 and all(case.time == 0 for case in trials)  # answered from the cache, not by the model
    assert any(case.time > 0 for case in first if case.classname == "sentiment.terse.fake")
    from harness.results import load_run
    assert cached.time == load_run(tmp_path / "run").manifest.duration_s  # the run's own wall time
    (skipped,) = [case for case in cached if case.name == "sarcasm"]  # allowed by pass_rate 0.5: not a failure
    assert cached.failures == 0 and cached.skipped == 1 and skipped.result[0]._tag == "skipped"
