"""The ``harness`` command: a thin layer over the Python API.

Exit codes: 0 every threshold met; 1 a threshold missed; 2 bad input (suite, template,
flags); 3 internal error; 130 interrupted. Heavy modules (litellm, pandas, rich) are
imported inside commands so ``harness --help`` starts instantly.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from harness.errors import HarnessError

EXIT_OK, EXIT_THRESHOLD, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def cli() -> None:
    """Evaluate prompts and models: YAML suites, Jinja prompts, any model through litellm.

    \b
    Exit codes: 0 all thresholds met · 1 a threshold or gate missed · 2 bad input · 3 internal error
    · 130 interrupted
    """


@cli.command()
@click.argument("suite", type=click.Path(path_type=Path))
@click.option("--model", "-m", "models", multiple=True, metavar="MODEL",
              help="A litellm model string (or 'local'); repeatable; replaces the suite's models. "
              "ROLE=MODEL runs MODEL in the place of ROLE (to compare a model upgrade with a baseline).")
@click.option("--prompt", "-p", "prompt_ids", multiple=True, metavar="ID", help="Run only these prompt ids.")
@click.option("-j", "--concurrency", default=8, show_default=True, type=click.IntRange(1, 1024),
              help="Model calls in flight at once.")
@click.option("--repeat", "repeats", type=click.IntRange(1), help="Run each case K times (overrides the suite).")
@click.option("--limit", type=click.IntRange(1), metavar="N", help="Run only the first N cases (to iterate quickly).")
@click.option("--no-cache", is_flag=True, help="Call the model even when an identical request is cached.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Run folder (default reports/<suite>-<time>).")
@click.option("--baseline", type=click.Path(path_type=Path),
              help="A run folder or baseline file to compare with; the suite's gates decide the exit code.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=1), help="Seconds per call.")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(0), help="Retries on 429/5xx/timeouts.")
def run(suite: Path, models: tuple[str, ...], prompt_ids: tuple[str, ...], concurrency: int, repeats: int | None,
        limit: int | None, no_cache: bool, out_dir: Path | None, baseline: Path | None, timeout: float,
        retries: int) -> None:
    """Run SUITE and write results.jsonl, run.json and report.html."""
    from harness.models import RetryPolicy
    from harness.runner import RunOptions, run_suite
    from harness.ui import RunConsole

    options = RunOptions(models=models, prompts=prompt_ids, repeats=repeats, limit=limit, concurrency=concurrency,
                         use_cache=not no_cache, out_dir=out_dir, baseline=baseline,
                         retry=RetryPolicy(retries=retries, timeout_s=timeout))
    with RunConsole() as console:
        result = run_suite(suite, options, observer=console)
    console.summary(result)
    sys.exit(EXIT_OK if result.manifest.get("passed") else EXIT_THRESHOLD)


@cli.command()
@click.argument("suite", type=click.Path(path_type=Path))
def validate(suite: Path) -> None:
    """Check SUITE and render every prompt for every case, without calling any model."""
    from harness.runner import RunOptions, plan, resolve_models
    from harness.suite import load_suite

    loaded = load_suite(suite)
    specs, _ = resolve_models(loaded, ())
    trials = plan(loaded, specs, RunOptions())
    click.echo(f"{suite}: ok · {len(loaded.cases)} cases × {len(loaded.prompts)} prompts × {len(specs)} model(s)"
               f" × {loaded.repeats} repeat(s) = {len(trials)} trials")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Where to write (default RUN_DIR/report.html).")
def report(run_dir: Path, out_file: Path | None) -> None:
    """Re-render the HTML report of a saved run, without calling any model."""
    from harness.report import write_report
    from harness.results import REPORT_FILE, load_run

    run_ = load_run(run_dir)
    path = write_report(run_, out_file or run_dir / REPORT_FILE)
    click.echo(f"report: {path}")


@cli.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--model", "model_map", multiple=True, metavar="BASE=CANDIDATE",
              help="Line up a baseline model id with the candidate's (a model upgrade).")
@click.option("--max-regressions", type=click.IntRange(0), help="Gate: at most N regressed trials.")
@click.option("--max-regression-rate", type=click.FloatRange(0, 1), help="Gate: at most this share regressed.")
@click.option("--max-drop", type=click.FloatRange(0), help="Gate: no metric may fall significantly by more.")
@click.option("--summary", "summary_file", type=click.Path(path_type=Path), help="Also write the Markdown here.")
def compare(base: Path, candidate: Path, model_map: tuple[str, ...], max_regressions: int | None,
            max_regression_rate: float | None, max_drop: float | None, summary_file: Path | None) -> None:
    """Compare CANDIDATE with BASE (run folders or baseline files): regressions, deltas, gates.

    Gates come from the candidate run's suite, overridden by the flags. Exit 1 when a gate fails.
    """
    from harness.compare import compare_to_baseline, load_outcomes
    from harness.suite import Gates
    from harness.summary import comparison_summary

    base_outcomes, _ = load_outcomes(base)
    candidate_outcomes, _ = load_outcomes(candidate)
    configured = _run_gates(candidate)
    overrides = {k: v for k, v in (("max_regressions", max_regressions), ("max_regression_rate", max_regression_rate),
                                   ("max_drop", max_drop)) if v is not None}
    gates = Gates(**{**configured, **overrides})
    mapping = dict(pair.split("=", 1) for pair in model_map if "=" in pair)
    result = compare_to_baseline(base_outcomes, candidate_outcomes, gates, model_map=mapping)
    text = "\n".join(comparison_summary(result.to_dict(), str(base), str(candidate))) + "\n"
    click.echo(text)
    if summary_file:
        summary_file.write_text(text, encoding="utf-8")
    sys.exit(EXIT_OK if result.passed else EXIT_THRESHOLD)


def _run_gates(path: Path) -> dict:
    """The gates a run was configured with (empty for a baseline file)."""
    import json

    manifest = path / "run.json" if path.is_dir() else path
    if manifest.name != "run.json" or not manifest.is_file():
        return {}
    return json.loads(manifest.read_text(encoding="utf-8")).get("config", {}).get("gates") or {}


@cli.group()
def baseline() -> None:
    """Baselines committed to the repository, so CI compares against them without old runs."""


@baseline.command("save")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--to", "target", type=click.Path(path_type=Path), required=True,
              help="e.g. suites/baselines/<suite>.jsonl")
def baseline_save(run_dir: Path, target: Path) -> None:
    """Write RUN_DIR's outcomes as a compact, sorted, diff-friendly baseline file."""
    from harness.compare import load_outcomes, save_baseline

    items, suite_name = load_outcomes(run_dir)
    save_baseline(items, target, suite=suite_name)
    click.echo(f"baseline: {target} ({len(items)} trials)")


@cli.command()
@click.argument("suite", type=click.Path(path_type=Path))
@click.option("--reports", "reports_dir", default=Path("reports"), type=click.Path(path_type=Path),
              show_default=True, help="Where run folders are.")
@click.option("--last", default=20, show_default=True, type=click.IntRange(1), help="How many runs to list.")
def history(suite: Path, reports_dir: Path, last: int) -> None:
    """List SUITE's past runs with their headline metrics, newest first."""
    from harness.history import runs_of
    from harness.suite import load_suite
    from harness.ui import print_history

    print_history(runs_of(load_suite(suite).name, reports_dir)[:last])


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except HarnessError as exc:
        click.echo(f"harness: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except (KeyboardInterrupt, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        click.echo("harness: interrupted; results so far are kept in the run folder", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        from harness.models import redact

        click.echo(f"harness: internal error: {type(exc).__name__}: {redact(str(exc))}\n"
                   "  set HARNESS_DEBUG=1 for the traceback, and please report it", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)
