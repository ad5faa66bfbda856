"""The ``harness`` command: a thin layer over the Python API.

Exit codes: 0 every threshold met; 1 a threshold missed; 2 bad input (suite, template,
flags); 3 internal error; 128 + the signal when stopped by one (130 Ctrl-C, 143 SIGTERM, 129
SIGHUP: what finished is kept, and --resume completes the run). Heavy modules (litellm, pandas, rich) are
imported inside commands so ``harness --help`` starts instantly.
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from pathlib import Path

import click

from harness.commands.github import comment
from harness.commands.importing import import_
from harness.commands.init import init
from harness.commands.validate import validate
from harness.errors import HarnessError
from harness.interrupts import Interrupted, signals_as_ctrl_c

EXIT_OK, EXIT_THRESHOLD, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class Commands(click.Group):
    """A group whose command list gives each command's first sentence whole (click cuts it to fit with '...')."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, command.get_short_help_str(limit=10_000)) for name, command in commands
                if command is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def cli() -> None:
    """Evaluate prompts and models: YAML suites, Jinja prompts, any model through litellm.

    Exit codes: 0 every threshold and gate met; 1 a threshold, gate or must-pass case failed (or too many
    provider errors); 2 bad input; 3 internal error; 130, 143, 129 interrupted by Ctrl-C, SIGTERM or SIGHUP
    (--resume completes the run).
    """


@cli.command()
@click.argument("suite", type=click.Path(path_type=Path), required=False)
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), metavar="RUN_DIR",
              help="Complete an interrupted or killed run; trials it already recorded are not run again.")
@click.option("--model", "-m", "models", multiple=True, metavar="MODEL",
              help="A litellm model string (or 'local'); repeatable; replaces the suite's models. "
              "OLD=NEW runs NEW in the place of OLD, keeping OLD's id (to compare a model upgrade with a baseline).")
@click.option("--judge", metavar="MODEL",
              help="Model behind the judge scorers (overrides the suite's judge:).")
@click.option("--prompt", "-p", "prompt_ids", multiple=True, metavar="ID",
              help="Run only this prompt id (repeatable).")
@click.option("-j", "--concurrency", default=8, show_default=True, type=click.IntRange(1, 1024),
              help="Model calls in flight at once.")
@click.option("--batch", "use_batch", is_flag=True,
              help="Send the calls through the provider's batch API (half price, no rate limits, up to 24 h).")
@click.option("--batch-poll", default=30.0, show_default=True, type=click.FloatRange(min=0.01), metavar="SECONDS",
              help="How often to ask whether a batch is done.")
@click.option("--workers", type=click.IntRange(1), metavar="N",
              help="Worker processes for the model calls [default: one per core, for 100+ calls to remote models].")
@click.option("--repeat", "repeats", type=click.IntRange(1), help="Run each case K times (overrides the suite).")
@click.option("--limit", type=click.IntRange(1), metavar="N", help="Run only the first N cases (to iterate quickly).")
@click.option("--no-cache", is_flag=True, help="Call the model even when an identical request is cached.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Run folder (default reports/<suite>-<time>).")
@click.option("--baseline", type=click.Path(path_type=Path),
              help="A run folder or baseline file to compare with; the suite's gates decide the exit code.")
@click.option("--junit", "junit_file", type=click.Path(path_type=Path), help="Also write JUnit XML here (for CI).")
@click.option("--summary", "summary_file", type=click.Path(path_type=Path),
              help="Also write the Markdown summary here (it is appended to $GITHUB_STEP_SUMMARY when set).")
@click.option("--output", "output_specs", multiple=True, metavar="NAME=PATH",
              help="Also write output NAME (junit, summary, report, or a plugin's; see harness plugins) to PATH.")
@click.option("--fail-under", type=click.FloatRange(0, 1), metavar="RATE",
              help="Fail (exit 1) when any variant's pass rate is below RATE.")
@click.option("--max-regressions", type=click.IntRange(0), metavar="N",
              help="With --baseline: fail when more than N trials regressed.")
@click.option("--fail-on-error", is_flag=True, help="Fail when any model call ends in an error.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=1), help="Seconds per call.")
@click.option("--retries", default=4, show_default=True, type=click.IntRange(0), help="Retries on 429/5xx/timeouts.")
def run(suite: Path | None, resume_dir: Path | None, models: tuple[str, ...], judge: str | None,
        prompt_ids: tuple[str, ...], concurrency: int, use_batch: bool, batch_poll: float, workers: int | None,
        repeats: int | None, limit: int | None, no_cache: bool, out_dir: Path | None, baseline: Path | None,
        junit_file: Path | None, summary_file: Path | None, output_specs: tuple[str, ...], fail_under: float | None,
        max_regressions: int | None,
        fail_on_error: bool, timeout: float, retries: int) -> None:
    """Run SUITE and write results.jsonl, run.json, report.html and summary.md."""
    from harness import outputs
    from harness.outputs import github
    from harness.outputs.console import RunConsole
    from harness.providers.call import RetryPolicy
    from harness.run import RunOptions, resume_run, run_suite
    from harness.suite import load_suite, load_warnings

    retry = RetryPolicy(retries=retries, timeout_s=timeout)
    if resume_dir is not None:
        options = RunOptions(concurrency=concurrency, use_cache=not no_cache, retry=retry, workers=workers,
                             batch_poll_s=batch_poll)

        def start(observer: RunConsole):
            return resume_run(resume_dir, options, observer=observer)
    elif suite is None:
        raise HarnessError("give a SUITE to run, or --resume RUN_DIR")
    else:
        loaded = load_suite(suite)
        for warning in load_warnings(loaded):
            click.echo(f"harness: warning: {warning}", err=True)
        overrides: dict = {}
        if fail_under is not None:  # tightens the suite's pass_rate threshold, never loosens it
            current = loaded.thresholds.get("pass_rate")
            floor = current if isinstance(current, int | float) else getattr(current, "min", None)
            overrides["thresholds"] = {**loaded.thresholds, "pass_rate": max(fail_under, floor or 0.0)}
        if max_regressions is not None:
            overrides["gates"] = loaded.gates.model_copy(update={"max_regressions": max_regressions})
        if fail_on_error:
            overrides["max_error_rate"] = 0.0
        loaded = loaded.model_copy(update=overrides)
        options = RunOptions(models=models, prompts=prompt_ids, repeats=repeats, limit=limit,
                             concurrency=concurrency, use_cache=not no_cache, out_dir=out_dir, baseline=baseline,
                             retry=retry, judge=judge, workers=workers, batch=use_batch, batch_poll_s=batch_poll)

        def start(observer: RunConsole):
            return run_suite(loaded, options, observer=observer)

    requested = _requested_outputs(output_specs, junit_file, summary_file)
    with RunConsole() as console:
        result = start(console)
    outputs.write("console", result, None)
    for name, path in requested:
        outputs.write(name, result, path)
        click.echo(f"{name + ':':<8} {path}")
    for line in github.report_to_actions(result, loaded if resume_dir is None else _suite_of(result)):
        click.echo(line)
    sys.exit(EXIT_OK if result.manifest.verdict.passed else EXIT_THRESHOLD)


def _suite_of(run_):
    """The suite a resumed run ran (for the lines its annotations point at), if it still loads."""
    from harness.suite import load_suite

    try:
        return load_suite(run_.manifest.suite.path) if run_.manifest.suite.path else None
    except HarnessError:
        return None


def _requested_outputs(specs: tuple[str, ...], junit_file: Path | None,
                       summary_file: Path | None) -> list[tuple[str, Path]]:
    """--output NAME=PATH (and its short forms --junit, --summary), checked before the run starts."""
    from harness import outputs

    requested = [("junit", junit_file)] if junit_file else []
    requested += [("summary", summary_file)] if summary_file else []
    for spec in specs:
        name, equals, path = spec.partition("=")
        if not equals or not path:
            raise HarnessError(f"--output {spec}: give NAME=PATH, e.g. --output junit=reports/junit.xml")
        requested.append((name, Path(path)))
    for name, path in requested:
        outputs.get(name)
        if path.is_dir():
            raise HarnessError(f"--{'output ' + name + '=' if name not in ('junit', 'summary') else name} {path}: "
                               "is a folder; give a file name", hint=f"e.g. {path / (name + '.out')}")
    return requested


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="[BASELINE_RUN] RUN")
@click.option("--out", "out_file", type=click.Path(path_type=Path),
              help="Where to write (default RUN/report.html).")
def report(run_dirs: tuple[Path, ...], out_file: Path | None) -> None:
    """Re-render the HTML report of a saved RUN, without calling any model.

    Given two runs, the report shows the second compared with the first (regressions first).
    """
    from harness import outputs
    from harness.comparison import compare_to_baseline, outcomes
    from harness.results import REPORT_FILE, load_run
    from harness.spec import Gates

    if len(run_dirs) > 2:
        raise HarnessError("give one run, or a baseline run and then a run to compare with it")
    runs = [load_run(d) for d in run_dirs]
    run_ = runs[-1]
    if len(runs) == 2:
        comparison = compare_to_baseline(outcomes(runs[0].results), outcomes(run_.results),
                                         Gates(**run_.manifest.config.gates))
        comparison.source = str(run_dirs[0])
        run_.manifest.baseline = comparison
    path = outputs.write("report", run_, out_file or run_dirs[-1] / REPORT_FILE)
    click.echo(f"report: {path}")


def _load_dotenv() -> None:
    """Keys may live in ./.env (never committed); the real environment wins over it."""
    if Path(".env").is_file():
        from dotenv import load_dotenv

        try:
            load_dotenv(".env", override=False)
        except UnicodeDecodeError as exc:
            raise HarnessError(f"not UTF-8 text (byte {exc.start})", file=".env",
                               hint="save it as UTF-8, or remove it") from None


@cli.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--model", "model_map", multiple=True, metavar="OLD=NEW",
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
    from harness.baseline import compare as compare_runs
    from harness.baseline import run_gates
    from harness.outputs.console import print_comparison
    from harness.outputs.markdown import comparison_summary
    from harness.spec import Gates

    configured = run_gates(candidate)
    overrides = {k: v for k, v in (("max_regressions", max_regressions), ("max_regression_rate", max_regression_rate),
                                   ("max_drop", max_drop)) if v is not None}
    gates = Gates(**{**configured, **overrides})
    if any("=" not in pair for pair in model_map):
        raise HarnessError("--model takes OLD=NEW model ids, e.g. --model gpt-4o-mini=gpt-4.1-mini")
    mapping = dict(pair.split("=", 1) for pair in model_map)
    result = compare_runs(base, candidate, gates=gates, model_map=mapping)
    print_comparison(result, str(base), str(candidate))
    if summary_file:
        summary_file.write_text("\n".join(comparison_summary(result, str(base), str(candidate))) + "\n",
                                encoding="utf-8")
    sys.exit(EXIT_OK if result.passed else EXIT_THRESHOLD)


@cli.group(cls=Commands)
def cache() -> None:
    """The response cache (Redis at $HARNESS_CACHE_URL, else SQLite under $HARNESS_CACHE_DIR): stats and clear."""


@cache.command("stats")
def cache_stats() -> None:
    """How many responses are cached, and how much space they take."""
    from datetime import datetime

    from harness.cache import open_cache

    store = open_cache()
    stats = store.stats()
    store.close()
    def when(timestamp: float | None) -> str:
        return datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds") if timestamp else "–"

    click.echo(f"cache:   {stats['path']}\nentries: {stats['entries']}\nsize:    {stats['bytes'] / 1e6:.1f} MB\n"
               f"oldest:  {when(stats['oldest'])}\nnewest:  {when(stats['newest'])}")


@cache.command("clear")
def cache_clear() -> None:
    """Remove every cached response (the next runs call the models again)."""
    from harness.cache import open_cache

    store = open_cache()
    removed = store.clear()
    store.close()
    click.echo(f"removed {removed} cached responses from {store.path}")


@cli.group(cls=Commands)
def baseline() -> None:
    """Baselines committed to the repository, so CI compares against them without old runs."""


@baseline.command("save")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--to", "target", type=click.Path(path_type=Path), required=True,
              help="e.g. suites/baselines/<suite>.jsonl")
def baseline_save(run_dir: Path, target: Path) -> None:
    """Write RUN_DIR's outcomes as a compact, sorted, diff-friendly baseline file."""
    from harness.baseline import load_outcomes, save_baseline

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
    from harness.outputs.console import print_history
    from harness.suite import load_suite

    print_history(runs_of(load_suite(suite).name, reports_dir)[:last])


@cli.command("plugins")
def list_plugins() -> None:
    """List the scorers, providers and outputs installed, and the package each comes from."""
    from harness.outputs.console import print_plugins
    from harness.plugins import installed

    print_plugins(installed())


cli.add_command(comment)
cli.add_command(init)
cli.add_command(import_)
cli.add_command(validate)


def main(argv: list[str] | None = None) -> None:
    for stream in (sys.stdout, sys.stderr):  # a model's lone surrogate is shown as "?", never an encoding crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    try:
        _load_dotenv()
        with signals_as_ctrl_c():  # SIGTERM and SIGHUP stop a command as Ctrl-C does
            try:
                cli.main(args=argv, prog_name="harness", standalone_mode=False)
            except click.exceptions.Abort as exc:  # click wraps Ctrl-C in Abort; unwrapped, it says which signal came
                raise exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else KeyboardInterrupt() from None
    except HarnessError as exc:
        from harness.redaction import redact

        click.echo(f"harness: error: {redact(str(exc))}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except Interrupted as exc:
        kept = f"; what finished is kept: harness run --resume {exc.directory} completes it" if exc.directory else ""
        click.echo(f"harness: interrupted ({exc.signal_name}){kept}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exc()
        from harness.redaction import redact

        click.echo(f"harness: internal error: {type(exc).__name__}: {redact(str(exc))}\n"
                   "  set HARNESS_DEBUG=1 for the traceback, and please report it", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


def entry_point() -> None:
    """The ``harness`` command: main(), then exit without the interpreter's teardown.

    Everything is written and closed by then, and exit handlers (litellm's, a plugin's) still
    run; only tearing down litellm's thousands of modules is skipped, ~0.5 s at the end of
    every run.
    """
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
