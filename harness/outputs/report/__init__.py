"""The HTML report: one self-contained file (no network), rendered from stored runs.

The summary, thresholds, comparisons and charts are rendered here, so they read with scripts
off. The case matrix (10,000 rows and more) is drawn in the browser from JSON embedded in the
page in chunks (harness.outputs.report.matrix, which also caps it for big runs), a page of rows
at a time. Everything from a model, a case or a prompt is untrusted: the template escapes it,
the JSON is escaped so it cannot close its script tag, the page's script builds the DOM with
textContent only, and a Content-Security-Policy lets no other script run (the JSON elements are
data, which a browser never runs).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from harness.files import cache_dir, write_atomically
from harness.formatting import num, p_value, pct, usd
from harness.history import runs_of, trend
from harness.metrics import summarize
from harness.outputs import output
from harness.outputs.report.charts import histogram, interval_chart
from harness.outputs.report.matrix import LIMITS, Limits, data_chunks, plan_matrix
from harness.records import ABComparison, TrialFacts, Variant, VariantMetrics
from harness.results import Run

HERE = Path(__file__).parent
OUTPUT_PREVIEW_CHARS = 600  # of an output shown in the baseline's regression table


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Compiling the template costs more than rendering it: keep the compiled form between runs.
    bytecode = jinja2.FileSystemBytecodeCache(str(cache_dir() / "templates"))
    (cache_dir() / "templates").mkdir(exist_ok=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE), autoescape=True, bytecode_cache=bytecode,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, num=num, usd=usd, pvalue=p_value)
    return env


def render_report(run: Run, limits: Limits = LIMITS) -> Iterator[str]:
    """The report's text, piece by piece: the case matrix is read from results.jsonl row by row as it is
    written, so a report of any size is rendered without holding the run."""
    manifest = run.manifest
    stored = run.index()
    facts = [s.facts for s in stored]
    # A run killed before its end has no metrics in run.json yet: derive them from what was stored.
    variants = run.metrics or summarize(facts)
    columns = [(v.prompt_id, v.model_id) for v in variants]
    history = trend(runs_of(manifest.suite.name, run.directory.parent))
    matrix = plan_matrix(stored, columns, manifest.baseline, limits)
    script = _asset("report.js")
    return _environment().get_template("report.html.j2").generate(
        run=manifest, verdict=manifest.verdict, allowed=manifest.verdict.allowed(facts),
        variants=variants, css=_asset("report.css"),
        tables={key: _tables(variants, key) for key in ("classification", "human_agreement")},
        ab=manifest.ab, baseline=manifest.baseline, best=_best(variants, manifest.ab),
        runs_model={m.id: m.model for m in manifest.config.models},
        trend=[{"variant": name, **_sparkline([v for _, v in points])} for name, points in history.items()
               if len(points) > 1],
        pass_chart=interval_chart([(f"{p} × {m}", v.pass_rate, *v.pass_rate_ci)
                                   for (p, m), v in zip(columns, variants, strict=True)]),
        histograms=_histograms(facts, columns), note=matrix.note(run.directory.name),
        chunks=data_chunks(matrix, run.read, limits, _thumbnails(manifest.suite.path)),
        script=script, script_hash=_sha256(script), preview=OUTPUT_PREVIEW_CHARS,
    )


THUMBNAIL_BYTES = 256 * 1024  # an image past this is named in the report, not embedded


def _thumbnails(suite_path: str | None) -> Callable[[dict[str, Any]], str | None]:
    """An image part's picture for the report: a data URL, from the project's file when it still holds the bytes the
    run sent (its digest matches); None for an image too large, moved, or on the web (the report loads nothing)."""
    directory = Path(suite_path).parent if suite_path else None

    def thumbnail(image: dict[str, Any]) -> str | None:
        url = image.get("url", "")
        if url.startswith("data:image/") and len(url) <= THUMBNAIL_BYTES * 4 // 3:
            return url
        if directory is None or "sha256" not in image:
            return None
        path = directory / url
        try:
            data = path.read_bytes() if path.stat().st_size <= THUMBNAIL_BYTES else b""
        except OSError:
            return None
        if not data or hashlib.sha256(data).hexdigest() != image["sha256"]:
            return None
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        return f"data:{mime};base64,{base64.b64encode(data).decode()}"

    return thumbnail


@output("report", filename="report.html", description="the self-contained HTML report")
def write_report(run: Run, path: Path, limits: Limits = LIMITS) -> Path:
    write_atomically(path, render_report(run, limits))
    return path


def _histograms(facts: list[TrialFacts], columns: list[tuple[str, str]]) -> list[Any]:
    def series(value) -> list[tuple[str, list[float]]]:
        return [(f"{p} × {m}", [v for r in facts if (r.prompt_id, r.model_id) == (p, m)
                                for v in value(r)]) for p, m in columns]

    charts = [histogram("Latency", "ms", series(lambda r: [r.latency_ms] if not r.error else []), lower=0)]
    names = dict.fromkeys(s.name for r in facts for s in r.scores)
    for name in names:
        values = series(lambda r, n=name: [s.value for s in r.scores if s.name == n])
        if any(v not in (0.0, 1.0) for _, vs in values for v in vs):  # a pass/fail score's histogram says nothing
            charts.append(histogram(f"{name} scores", "", values, bins=10, lower=0, upper=1))
    return [c for c in charts if c is not None]


def _best(variants: list[VariantMetrics], ab: ABComparison | None) -> dict[str, dict[str, Any]]:
    """Per metric (pass_rate, <scorer>.mean): the variant with the highest value, and whether its lead is real.

    "Real" is the A/B verdict: the paired test over the same cases, Holm-corrected.
    """
    values: dict[str, list[tuple[float, VariantMetrics]]] = {"pass_rate": []}
    for v in variants:
        if v.pass_rate is not None:
            values["pass_rate"].append((v.pass_rate, v))
        for name, scorer in v.scorers.items():
            if scorer.mean is not None:
                values.setdefault(f"{name}.mean", []).append((scorer.mean, v))
    verdicts = {m.metric: m for m in ab.metrics} if ab else {}
    best = {}
    for metric, pairs in values.items():
        ranked = sorted(pairs, key=lambda pair: pair[0], reverse=True)
        if len(ranked) < 2 or ranked[0][0] == ranked[1][0]:  # nothing to mark when the top is tied
            continue
        top = ranked[0][1]
        verdict = verdicts.get(metric) or verdicts.get("pass_rate" if metric.endswith(".mean") else metric)
        name = Variant(prompt_id=top.prompt_id, model_id=top.model_id)
        best[metric] = {**name.model_dump(), "significant": bool(verdict and verdict.winner == name),
                        "verdict": verdict.verdict if verdict else ""}
    return best


def _sparkline(values: list[float], width: int = 160, height: int = 28) -> dict[str, Any]:
    """Polyline points for an inline SVG of values in [0, 1] (numbers only: nothing from the data is markup)."""
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - v * height:.1f}" for i, v in enumerate(values))
    return {"points": points, "width": width, "height": height, "first": values[0], "last": values[-1],
            "runs": len(values)}


def _tables(variants: list[VariantMetrics], key: str) -> list[dict[str, Any]]:
    """One confusion table per variant and scorer that has ``key``: its classification (expected vs
    predicted), or its agreement with human labels (human vs judge)."""
    return [{"variant": variant, "scorer": name, **getattr(scorer, key).model_dump()}
            for variant in variants for name, scorer in variant.scorers.items() if getattr(scorer, key) is not None]


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@lru_cache(maxsize=4)
def _asset(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")
