"""Running a suite end to end: plan, execute, aggregate, and write the run folder.

``run_suite`` is the public entry point (the CLI and the pytest plugin are thin layers over
it); ``resume_run`` completes a run that was interrupted or killed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness import plugins
from harness.baseline import load_outcomes
from harness.comparison import Outcome
from harness.errors import HarnessError
from harness.files import LOCK_FILE, LinesRead, folder_lock
from harness.interrupts import signals_as_ctrl_c
from harness.results import ResultsWriter, Run, index_results, load_run, rewrite_results, write_manifest
from harness.run import manifest as run_manifest
from harness.run.engine import Observer, execute_run
from harness.run.plan import RunOptions, Trial, plan, resolve_models
from harness.spec import Suite
from harness.suite import load_suite

__all__ = ["Observer", "RunOptions", "resume_run", "run_suite"]


def run_suite(suite: Suite | str | Path, options: RunOptions | None = None, *,
              observer: Observer | None = None, **overrides: Any) -> Run:
    """Run a suite end to end and return the stored Run (results, metrics, report path).

    ``run_suite("suites/sentiment.yaml", models=["openai/gpt-4o-mini"], concurrency=16)``

    The run folder is locked while the run writes it (a second run on it is a HarnessError naming this one).
    SIGTERM and SIGHUP stop the run as Ctrl-C does: what finished is kept, run.json says "interrupted", and
    harness.interrupts.Interrupted (a KeyboardInterrupt) is raised.
    """
    started, started_at = time.monotonic(), run_manifest.now()  # the run's duration counts loading and planning
    options = options or RunOptions()
    if overrides:
        options = RunOptions(**{**options.__dict__, **overrides})
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    models, models_reason = resolve_models(suite, options.models)
    trials = plan(suite, models, options)
    baseline = _load_baseline(options.baseline, suite, trials) if options.baseline else None
    directory = _run_directory(options, suite)
    with signals_as_ctrl_c(directory), folder_lock(directory):
        # Checked only now, with the folder locked: two runs given one --out cannot both find it empty.
        pending, notes = _pending(trials, options, directory)
        if observer is not None:
            observer.planned(suite, models, models_reason, len(pending))
            for note in notes:
                observer.notice(note)
        manifest = run_manifest.start(suite, models, models_reason, options, len(trials), started_at)
        manifest.notes = notes
        write_manifest(directory, manifest)

        writer = ResultsWriter(directory)
        try:
            execute_run(suite, pending, options, writer, observer, manifest)
            manifest.status = "completed"
        except KeyboardInterrupt:
            manifest.status = "interrupted"
            raise
        except BaseException:
            manifest.status = "failed"
            raise
        finally:
            # Whatever happened, what completed is aggregated and reported.
            writer.close()
            run_manifest.finish(directory, manifest, suite, trials, baseline, started)
            run = load_run(directory)
            write_run_outputs(run)
    return run


def _run_directory(options: RunOptions, suite: Suite) -> Path:
    """The run folder, created: --out (a folder, or nothing yet), else a new one under the reports folder."""
    if options.out_dir is None:
        return run_manifest.new_run_directory(options.reports_dir, suite.name)
    if options.out_dir.exists() and not options.out_dir.is_dir():
        raise HarnessError(f"--out {options.out_dir} already exists and is not an empty folder",
                           hint="choose a new --out folder")
    options.out_dir.mkdir(parents=True, exist_ok=True)
    return options.out_dir


def _pending(trials: list[Trial], options: RunOptions, directory: Path) -> tuple[list[Trial], list[str]]:
    """The trials still to run in ``directory`` (all of them in a new run), and what resuming found to say."""
    if not options.resume:
        if any(path.name != LOCK_FILE for path in directory.iterdir()):
            raise HarnessError(f"--out {directory} already exists and is not an empty folder",
                               hint="choose a new --out folder, or --resume it")
        return trials, []
    seen = LinesRead()
    # Without the torn line and the duplicates: appending stays valid.
    recorded = rewrite_results(directory, index_results(directory, seen))
    done = {s.facts.key for s in recorded}
    pending = [t for t in trials if (t.case.id, t.prompt_id, t.model.id, t.repeat) not in done]
    return pending, _resume_notes(len(recorded), seen)


def resume_run(directory: str | Path, options: RunOptions | None = None, *, observer: Observer | None = None) -> Run:
    """Complete a run that was interrupted or killed: only the trials not yet in its results.jsonl are run."""
    directory = Path(directory)
    manifest = load_run(directory).manifest
    config, suite_path = manifest.config, manifest.suite.path
    if suite_path is None or config.plan is None:
        raise HarnessError("this run cannot be resumed (it records no suite file or plan)", file=directory)
    plan_ = config.plan
    options = RunOptions(**{**(options or RunOptions()).__dict__, "models": plan_.models,
                            "prompts": plan_.prompts, "repeats": plan_.repeats, "limit": plan_.limit,
                            "judge": plan_.judge, "batch": plan_.batch, "out_dir": directory, "resume": True,
                            "baseline": Path(config.baseline) if config.baseline else None})
    return run_suite(suite_path, options, observer=observer)


def _resume_notes(kept: int, seen: LinesRead) -> list[str]:
    notes = [f"resumed: {kept} trials were recorded and are not run again"]
    if seen.skipped:
        notes.append(f"resumed: {len(seen.skipped)} duplicated result lines dropped (e.g. {seen.skipped[0]})")
    if seen.torn:
        notes.append("resumed: the last result line was cut off by the interruption; its trial runs again")
    return notes


def _load_baseline(path: Path, suite: Suite, trials: list[Trial]) -> list[Outcome]:
    """The baseline's trials that this run could match: those --prompt, --model or --limit left out are not
    'removed' (a case no longer in the suite is)."""
    items, baseline_suite = load_outcomes(path)
    if baseline_suite and baseline_suite != suite.name:
        raise HarnessError(f"the baseline is of suite '{baseline_suite}', not '{suite.name}'", file=path,
                           hint="compare with a baseline of the same suite (harness compare works across suites)")
    planned = {(t.case.id, t.prompt_id, t.model.id) for t in trials}
    variants = {(prompt_id, model_id) for _, prompt_id, model_id in planned}
    suite_cases = {c.id for c in suite.cases}
    return [o for o in items if o.variant in variants
            and ((o.case_id, o.prompt_id, o.model_id) in planned or o.case_id not in suite_cases)]


def write_run_outputs(run: Run) -> None:
    """Every registered output that belongs in a run folder (the report, the summary) into this run's."""
    for entry in plugins.OUTPUTS.entries():
        if entry.item.filename:
            entry.item.write(run, run.directory / entry.item.filename)
