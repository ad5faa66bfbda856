"""Saved runs of an earlier format still load, and render exactly as they did (report, JUnit, summary)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import outputs
from harness.results import load_run

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["base", "run"])
@pytest.mark.parametrize("output, suffix", [("report", "report.html"), ("junit", "junit.xml"),
                                            ("summary", "summary.md")])
def test_a_version_1_run_loads_and_renders_as_it_did(tmp_path, name, output, suffix):
    for run in ("base", "run"):  # the report's trend reads the runs beside it
        shutil.copytree(GOLDEN / "v1" / run, tmp_path / run)
    run = load_run(tmp_path / name)

    written = outputs.write(output, run, tmp_path / f"out.{suffix}")

    assert written.read_text(encoding="utf-8") == (GOLDEN / "v1" / f"{name}.{suffix}").read_text(encoding="utf-8")
