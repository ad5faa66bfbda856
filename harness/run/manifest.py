"""A run's manifest (run.json): what ran, with which versions and settings, and what came of it."""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import re
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.comparison import Outcome, compare_to_baseline, compare_variants, outcome
from harness.derived_metrics import derived_of
from harness.errors import HarnessError
from harness.metrics import check_thresholds, counts, something_passed, summarize
from harness.records import BaselineComparison, RunManifest, must_pass_check
from harness.redaction import public_params
from harness.results import Stored, index_results, results_at, rewrite_results, write_manifest
from harness.run.plan import RunOptions, Trial
from harness.scorers.judge import judge_models, resolve_judge
from harness.spec import Bound, ModelSpec, Suite


def finish(directory: Path, manifest: RunManifest, suite: Suite, trials: list[Trial],
           baseline: list[Outcome] | None, started: float) -> None:
    """Put results.jsonl in planned order (stable, diff-friendly), aggregate, and write the final run.json.

    Only each trial's compact facts are held, never its output or prompt, and the file is put in order by
    copying its lines' bytes: a run finishes in memory that grows with its trials, not with their text.
    """
    order = {(t.case.id, t.prompt_id, t.model.id, t.repeat): i for i, t in enumerate(trials)}
    planned = sorted(index_results(directory), key=lambda s: order.get(s.facts.key, len(order)))
    stored = rewrite_results(directory, planned)
    facts = [s.facts for s in stored]
    variants = summarize(facts, derived_of(suite))
    # Provider errors are kept out of the pass rate, so their rate gets its own limit.
    checks = check_thresholds(variants, {"error_rate": Bound(max=suite.max_error_rate), **suite.thresholds})
    if not suite.thresholds:
        checks.append(something_passed(facts))
    items = [outcome(f) for f in facts]
    comparison = compare_to_baseline(baseline, items, suite.gates) if baseline is not None else None
    ended = datetime.now(timezone.utc)
    manifest.ended_at = ended.isoformat(timespec="seconds")
    manifest.duration_s = round(time.monotonic() - started, 1)
    manifest.counts = counts(facts, len(trials))
    manifest.variants = variants
    manifest.thresholds = checks
    manifest.ab = compare_variants(items, alpha=suite.gates.alpha)
    if comparison is not None:
        comparison.source = manifest.config.baseline
        _candidate_outputs(directory, stored, comparison)
    manifest.baseline = comparison
    manifest.must_pass = must_pass_check(facts)
    manifest.passed = manifest.verdict.passed
    write_manifest(directory, manifest)


def _candidate_outputs(directory: Path, stored: list[Stored], comparison: BaselineComparison) -> None:
    """The outputs of the trials that changed against the baseline, read from results.jsonl for them alone."""
    changes = {(c.case_id, c.prompt_id, c.model_id, c.repeat): c
               for c in comparison.regressions + comparison.improvements}
    changed = [s for s in stored if s.facts.key in changes]
    for place, result in zip(changed, results_at(directory, changed), strict=True):
        changes[place.facts.key].candidate_output = result.response.text


def start(suite: Suite, models: Sequence[ModelSpec], models_reason: str, options: RunOptions,
          planned: int, started_at: str) -> RunManifest:
    return RunManifest.model_validate({
        "harness_version": _version("harness"),
        "status": "running",
        "started_at": started_at,
        "suite": {"name": suite.name, "description": suite.description,
                  "path": str(suite.path.resolve()) if suite.path else None},
        "config": {
            "prompts": [p.model_dump(exclude_none=True) for p in suite.prompts
                        if not options.prompts or p.id in options.prompts],
            "models": [{"id": m.id, "model": m.model, "params": public_params(m.params)} for m in models],
            "max_error_rate": suite.max_error_rate,
            "models_from": models_reason,
            "repeats": options.repeats or suite.repeats,
            "concurrency": options.concurrency,
            "cache": options.use_cache,
            "scorers": [s.model_dump() for s in suite.scorers],
            "thresholds": {k: v if isinstance(v, float | int) else v.model_dump() for k, v in suite.thresholds.items()},
            "gates": suite.gates.model_dump(),
            "baseline": str(options.baseline) if options.baseline else None,
            "judge": _judge_config(suite, options),
            "planned_trials": planned,
            # What --resume needs to plan the same trials again.
            "plan": {"models": list(options.models) or ([] if suite.models else [m.model for m in models]),
                     "prompts": list(options.prompts), "repeats": options.repeats, "limit": options.limit,
                     "judge": options.judge, "batch": options.batch},
        },
        "environment": {"python": platform.python_version(), "litellm": _version("litellm"),
                        "git_commit": _git_commit(suite.directory)},
    })


def _judge_config(suite: Suite, options: RunOptions) -> dict[str, Any] | None:
    """The judge as run.json records it, when any scorer of the suite may ask one."""
    if not judge_models(suite, options.judge):
        return None
    judge = resolve_judge(suite, options.judge)
    return {"model": judge.model, "params": public_params(judge.params)}


def new_run_directory(reports_dir: Path, suite_name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", suite_name.lower()).strip("-")[:60].strip("-") or "suite"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    reports_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = reports_dir / (f"{slug}-{stamp}" + (f"-{attempt}" if attempt > 1 else ""))
        with contextlib.suppress(FileExistsError):
            candidate.mkdir()
            return candidate
    raise HarnessError(f"cannot create a run folder in {reports_dir}")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit(directory: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
