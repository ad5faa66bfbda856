"""JUnit XML, the format every CI system shows test results from.

One testcase per trial (classname ``suite.prompt.model``, name the case id) as the run's verdict has it
(harness.records.verdict): a failure with the scorers' explanations, an error with the provider's error, or,
for a trial the suite's thresholds allow, ``<skipped type="harness.allowed">`` with why (what pytest writes
for an xfail): visible, and not a failure. Then one testcase per threshold, baseline gate and must-pass check,
so the file fails exactly when ``harness run`` does. A testcase's time is what this run spent on the trial (0
for an answer from the cache); the suite's is the run's duration. The file is written case by case: the
counts come from the trials' compact facts, and only a trial that did not pass is read in full (for its prompt
and output), so a run of any size is written in little memory.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from harness.files import write_atomically
from harness.outputs import output
from harness.records import (
    ALLOWED,
    ERRORED,
    FAILED,
    GateCheck,
    MustPassCheck,
    RunVerdict,
    ThresholdCheck,
    TrialFacts,
    TrialResult,
)
from harness.results import Run

# Characters XML 1.0 cannot hold; model output may contain them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@output("junit", description="JUnit XML: a testcase per trial, threshold, gate and must-pass check")
def write_junit(run: Run, path: Path) -> Path:
    suite_name = run.manifest.suite.name
    verdict = run.manifest.verdict
    stored = run.index()
    checks = [_check_case(suite_name, check) for check in run.manifest.thresholds]
    checks += [_gate_case(suite_name, gate) for gate in verdict.gates]
    checks += [_must_pass_case(suite_name, verdict.must_pass)] if verdict.must_pass else []
    kinds = verdict.tally(s.facts for s in stored)
    counts = {"tests": len(stored) + len(checks),
              "failures": kinds[FAILED] + sum(1 for case in checks if case.find("failure") is not None),
              "errors": kinds[ERRORED], "skipped": kinds[ALLOWED]}
    total_time = run.manifest.duration_s if run.manifest.duration_s is not None else \
        sum(float(_seconds(s.facts)) for s in stored)
    suite = ET.Element("testsuite", name=suite_name, timestamp=run.manifest.started_at)
    suite.attrib.update({k: str(v) for k, v in counts.items()} | {"time": f"{total_time:.3f}"})
    root = ET.Element("testsuites", name="harness", **{k: str(v) for k, v in counts.items() if k != "skipped"},
                      time=f"{total_time:.3f}")
    failed = run.read(s for s in stored if not s.facts.passed)
    trials = (_trial_case(suite_name, s.facts, verdict, None if s.facts.passed else next(failed)) for s in stored)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, _document(root, suite, itertools.chain(trials, checks)))
    return path


def _document(root: ET.Element, suite: ET.Element, cases: Iterator[ET.Element]) -> Iterator[str]:
    """The XML text, case by case, exactly as ElementTree writes the whole tree indented."""
    yield "<?xml version='1.0' encoding='utf-8'?>\n" + _start_tag(root) + "\n  "
    first = next(cases, None)
    if first is None:
        yield ET.tostring(_cleaned(suite), encoding="unicode") + "\n</testsuites>"
        return
    yield _start_tag(suite)
    for case in itertools.chain([first], cases):
        ET.indent(case, level=2)
        yield "\n    " + ET.tostring(_cleaned(case), encoding="unicode")
    yield "\n  </testsuite>\n</testsuites>"


def _start_tag(element: ET.Element) -> str:
    text = ET.tostring(_cleaned(element), encoding="unicode", short_empty_elements=False)
    return text[: -len(f"</{element.tag}>")]


def _cleaned(element: ET.Element) -> ET.Element:
    """Ids and names come from the suite: no control characters in attributes."""
    for node in element.iter():
        node.attrib.update({k: _clean(v) for k, v in node.attrib.items()})
    return element


def _check_case(suite_name: str, check: ThresholdCheck) -> ET.Element:
    where = "run" if check.prompt_id is None else f"{check.prompt_id} x {check.model_id}"
    case = ET.Element("testcase", classname=f"{suite_name}.thresholds", name=f"{where}: {check.metric} {check.bound}",
                      time="0")
    if not check.passed:
        ET.SubElement(case, "failure", type="ThresholdMissed", message=_clean(check.describe()))
    return case


def _gate_case(suite_name: str, gate: GateCheck) -> ET.Element:
    case = ET.Element("testcase", classname=f"{suite_name}.gates", name=gate.gate, time="0")
    if not gate.passed:
        ET.SubElement(case, "failure", type="GateFailed", message=_clean(gate.describe()))
    return case


def _must_pass_case(suite_name: str, check: MustPassCheck) -> ET.Element:
    case = ET.Element("testcase", classname=f"{suite_name}.must_pass", name="must_pass", time="0")
    if not check.passed:
        ET.SubElement(case, "failure", type="MustPassFailed", message=_clean(check.describe()))
    return case


def _trial_case(suite_name: str, facts: TrialFacts, verdict: RunVerdict, result: TrialResult | None) -> ET.Element:
    """A trial's testcase; ``result``, the whole trial, is given (and needed) only when it did not pass."""
    name = facts.case_id + (f" [repeat {facts.repeat}]" if facts.repeat else "")
    case = ET.Element("testcase", classname=f"{suite_name}.{facts.prompt_id}.{facts.model_id}", name=name,
                      time=_seconds(facts))
    if result is None:
        return case
    outcome = verdict.trial(facts)
    if outcome.kind == ALLOWED:
        element = ET.SubElement(case, "skipped", type="harness.allowed", message=_clean(outcome.reason))
    elif facts.error:
        element = ET.SubElement(case, "error", type="ProviderError", message=_clean(facts.error))
    else:
        element = ET.SubElement(case, "failure", type="ScoreFailure", message=_clean(result.verdict))
    element.text = _clean(result.describe() + ("" if outcome.kind == ALLOWED else f"\n\n{outcome.reason}"))
    return case


def _seconds(facts: TrialFacts) -> str:
    """What this run spent on the trial: an answer from the cache took no model time."""
    return "0.000" if facts.cached else f"{facts.latency_ms / 1000:.3f}"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
