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
