"""JUnit XML, the format every CI system shows test results from.

One testcase per trial (classname ``suite.prompt.model``, name the case id), failed with the
scorers' explanations or errored with the provider's error; then one testcase per threshold
and per baseline gate, so a missed threshold shows up as a failed test, not only an exit code.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.outputs import output
from harness.records import ThresholdCheck, TrialResult
from harness.results import Run

# Characters XML 1.0 cannot hold; model output may contain them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@output("junit", description="JUnit XML: a testcase per trial, threshold and gate")
def write_junit(run: Run, path: Path) -> Path:
    suite_name = run.manifest.suite.name
    suite = ET.Element("testsuite", name=suite_name, timestamp=run.manifest.started_at)
    for result in run.results:
        suite.append(_trial_case(suite_name, result))
    for check in run.manifest.thresholds:
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.thresholds",
                             name=_threshold_name(check), time="0")
        if not check.passed:
            ET.SubElement(case, "failure", type="ThresholdMissed",
                          message=_clean(check.describe()))
    for gate in run.manifest.baseline.gates if run.manifest.baseline else []:
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.gates", name=gate.gate, time="0")
        if not gate.passed:
            ET.SubElement(case, "failure", type="GateFailed", message=_clean(gate.describe()))
    for element in suite.iter():  # ids and names come from the suite: no control characters in attributes
        element.attrib.update({k: _clean(v) for k, v in element.attrib.items()})
    cases = suite.findall("testcase")
    counts = {"tests": len(cases), "failures": sum(1 for c in cases if c.find("failure") is not None),
              "errors": sum(1 for c in cases if c.find("error") is not None), "skipped": 0}
    total_time = sum(float(c.get("time", 0)) for c in cases)
    suite.attrib.update({k: str(v) for k, v in counts.items()} | {"time": f"{total_time:.3f}"})
    root = ET.Element("testsuites", name="harness", **{k: str(v) for k, v in counts.items() if k != "skipped"},
                      time=f"{total_time:.3f}")
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _threshold_name(check: ThresholdCheck) -> str:
    where = "run" if check.prompt_id is None else f"{check.prompt_id} x {check.model_id}"
    return f"{where}: {check.metric} {check.bound}"


def _trial_case(suite_name: str, result: TrialResult) -> ET.Element:
    name = result.case_id + (f" [repeat {result.repeat}]" if result.repeat else "")
    case = ET.Element("testcase", classname=f"{suite_name}.{result.prompt_id}.{result.model_id}", name=name,
                      time=f"{result.response.latency_ms / 1000:.3f}")
    if result.response.error:
        element = ET.SubElement(case, "error", type="ProviderError", message=_clean(result.response.error))
        element.text = _clean(result.describe())
    elif not result.passed:
        element = ET.SubElement(case, "failure", type="ScoreFailure", message=_clean(result.verdict))
        element.text = _clean(result.describe())
    return case


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
