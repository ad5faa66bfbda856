"""A suite's past runs, read from the run folders under reports/ (no database to keep in sync)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.results import MANIFEST_FILE


def runs_of(suite_name: str, reports_dir: Path) -> list[dict[str, Any]]:
    """Manifests of the suite's runs, newest first, each with its folder under ``directory``."""
    runs = []
    for path in reports_dir.glob(f"*/{MANIFEST_FILE}"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if manifest.get("suite", {}).get("name") == suite_name and manifest.get("variants") is not None:
            runs.append({**manifest, "directory": str(path.parent)})
    return sorted(runs, key=lambda m: (m.get("started_at", ""), m["directory"]), reverse=True)


def trend(runs: list[dict[str, Any]], metric: str = "pass_rate") -> dict[str, list[tuple[str, float]]]:
    """Per variant ('prompt × model'), the metric over the runs, oldest first."""
    series: dict[str, list[tuple[str, float]]] = {}
    for run in reversed(runs):
        for variant in run["variants"]:
            if variant.get(metric) is not None:
                key = f"{variant['prompt_id']} × {variant['model_id']}"
                series.setdefault(key, []).append((run["started_at"], variant[metric]))
    return series
