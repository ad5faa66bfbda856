"""JUnit XML, the format every CI system shows test results from.

One testcase per trial (classname ``suite.prompt.model``, name the case id), failed with the
scorers' explanations or errored with the provider's error; then one testcase per threshold
and per baseline gate, so a missed threshold shows up as a failed test, not only an exit code.
The file is written case by case: the counts come from the trials' compact facts, and only a
trial that did not pass is read in full (for its prompt and output), so a run of any size is
written in little memory.
"""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from harness.files import write_atomically
from harness.outputs import output
from harness.records import GateCheck, ThresholdCheck, TrialFacts, TrialResult
from harness.results import Run

# Characters XML 1.0 cannot hold; model output may contain them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@output("junit", description="JUnit XML: a testcase per trial, threshold and gate")
def write_junit(run: Run, path: Path) -> Path:
    suite_name = run.manifest.suite.name
    stored = run.index()
    checks = [_check_case(suite_name, check) for check in run.manifest.thresholds]
    checks += [_gate_case(suite_name, gate) for gate in (run.manifest.baseline.gates if run.manifest.baseline else [])]
    counts = {"tests": len(stored) + len(checks),
              "failures": sum(1 for s in stored if not s.facts.error and not s.facts.passed)
              + sum(1 for case in checks if case.find("failure") is not None),
              "errors": sum(1 for s in stored if s.facts.error), "skipped": 0}
    total_time = sum(float(_seconds(s.facts.latency_ms)) for s in stored)
    suite = ET.Element("testsuite", name=suite_name, timestamp=run.manifest.started_at)
    suite.attrib.update({k: str(v) for k, v in counts.items()} | {"time": f"{total_time:.3f}"})
    root = ET.Element("testsuites", name="harness", **{k: str(v) for k, v in counts.items() if k != "skipped"},
                      time=f"{total_time:.3f}")
    failed = run.read(s for s in stored if not s.facts.passed)
    trials = (_trial_case(suite_name, s.facts, None if s.facts.passed else next(failed)) for s in stored)
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


def _trial_case(suite_name: str, facts: TrialFacts, result: TrialResult | None) -> ET.Element:
    """A trial's testcase; ``result``, the whole trial, is given (and needed) only when it did not pass."""
    name = facts.case_id + (f" [repeat {facts.repeat}]" if facts.repeat else "")
    case = ET.Element("testcase", classname=f"{suite_name}.{facts.prompt_id}.{facts.model_id}", name=name,
                      time=_seconds(facts.latency_ms))
    if result is not None and facts.error:
        element = ET.SubElement(case, "error", type="ProviderError", message=_clean(facts.error))
        element.text = _clean(result.describe())
    elif result is not None:
        element = ET.SubElement(case, "failure", type="ScoreFailure", message=_clean(result.verdict))
        element.text = _clean(result.describe())
    return case


def _seconds(latency_ms: float) -> str:
    return f"{latency_ms / 1000:.3f}"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
