"""The HTML report: one self-contained file (no network), rendered from a stored run.

Everything from a model, a case or a prompt is untrusted text: the template autoescapes it,
and nothing from the data is placed in attributes that execute (no event handlers, no URLs).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from harness.history import runs_of, trend
from harness.results import Run, TrialResult
from harness.stats import format_p

OUTPUT_PREVIEW_CHARS = 600


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("harness", "report"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v * 100:.1f}%"
    env.filters["num"] = lambda v, digits=0: "–" if v is None else f"{v:,.{digits}f}"
    env.filters["usd"] = lambda v: "–" if v is None else f"${v:.4f}"
    env.filters["pvalue"] = format_p
    return env


def render_report(run: Run) -> str:
    variants = run.metrics
    columns = [(v["prompt_id"], v["model_id"]) for v in variants]
    history = trend(runs_of(run.manifest["suite"]["name"], run.directory.parent))
    return _environment().get_template("report.html.j2").render(
        run=run.manifest, variants=variants, columns=columns, rows=_case_rows(run.results, columns),
        confusions=_confusions(variants), css=_css(), preview=OUTPUT_PREVIEW_CHARS,
        ab=run.manifest.get("ab"), baseline=run.manifest.get("baseline"),
        runs_model={m["id"]: m["model"] for m in run.manifest["config"]["models"]},
        trend=[{"variant": name, **_sparkline([v for _, v in points])} for name, points in history.items()
               if len(points) > 1],
    )


def _sparkline(values: list[float], width: int = 160, height: int = 28) -> dict[str, Any]:
    """Polyline points for an inline SVG of values in [0, 1] (numbers only: nothing from the data is markup)."""
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - v * height:.1f}" for i, v in enumerate(values))
    return {"points": points, "width": width, "height": height, "first": values[0], "last": values[-1],
            "runs": len(values)}


def write_report(run: Run, path: Path) -> Path:
    path.write_text(render_report(run), encoding="utf-8")
    return path


def _case_rows(results: list[TrialResult], columns: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One row per (case, repeat), one cell per variant, in the stored order."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for result in results:
        key = (result.case_id, result.repeat)
        row = rows.setdefault(key, {"case_id": result.case_id, "repeat": result.repeat, "vars": result.vars,
                                    "expected": result.expected, "tags": result.tags, "cells": {}})
        row["cells"][(result.prompt_id, result.model_id)] = result
    return list(rows.values())


def _confusions(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    tables = []
    for variant in variants:
        for name, scorer in variant["scorers"].items():
            if "classification" in scorer:
                tables.append({"variant": variant, "scorer": name, **scorer["classification"]})
    return tables


@lru_cache(maxsize=1)
def _css() -> str:
    return (Path(__file__).parent / "report.css").read_text(encoding="utf-8")
