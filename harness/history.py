"""A suite's past runs, read from the run folders under reports/ (no database to keep in sync)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.records import RunManifest
from harness.results import MANIFEST_FILE, read_manifest


@dataclass(frozen=True)
class PastRun:
    directory: Path
    manifest: RunManifest


def runs_of(suite_name: str, reports_dir: Path) -> list[PastRun]:
    """The suite's finished runs under ``reports_dir``, newest first; folders that are not runs are passed over."""
    runs = []
    for path in reports_dir.glob(f"*/{MANIFEST_FILE}"):
        try:
            manifest = read_manifest(path)
        except (OSError, HarnessError):
            continue
        if manifest.suite.name == suite_name and manifest.variants is not None:
            runs.append(PastRun(path.parent, manifest))
    return sorted(runs, key=lambda run: (run.manifest.started_at, str(run.directory)), reverse=True)


def trend(runs: list[PastRun]) -> dict[str, list[tuple[str, float]]]:
    """Per variant ('prompt × model'), the pass rate over the runs, oldest first."""
    series: dict[str, list[tuple[str, float]]] = {}
    for run in reversed(runs):
        for variant in run.manifest.variants or []:
            if variant.pass_rate is not None:
                key = f"{variant.prompt_id} × {variant.model_id}"
                series.setdefault(key, []).append((run.manifest.started_at, variant.pass_rate))
    return series
