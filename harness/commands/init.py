"""``harness init``: ask what the suite is for (or take --yes with flags), write it (harness.scaffold), and run it
on the bundled local model, pointing at its report."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from harness.errors import HarnessError


def _ask(question: str, default: str = "") -> str:
    """One line from standard input (a terminal, or answers piped in); at its end, say how to go without."""
    click.echo(f"{question}{f' [{default}]' if default else ''}: ", nl=False)
    line = sys.stdin.readline()
    if not line:
        click.echo()
        raise HarnessError("no answer on standard input",
                           hint="run harness init in a terminal, or answer with flags: harness init --yes --name N "
                                "--kind K [--from FILE]")
    return line.strip() or default


def _questions(kind: str | None, name: str | None, data: Path | None) -> tuple[str, str, Path | None]:
    from harness.scaffold import KINDS, check_name, kind_named

    while kind is None:
        click.echo("What will the suite check?")
        for number, known in enumerate(KINDS.values(), start=1):
            click.echo(f"  {number}. {known.name}: {known.title}")
        answer = _ask("Choose a number or a name", "1")
        chosen = list(KINDS)[int(answer) - 1] if answer.isdigit() and 0 < int(answer) <= len(KINDS) else answer
        try:
            kind = kind_named(chosen).name
        except HarnessError as exc:
            click.echo(f"  {exc.message}")
    while name is None:
        suggested = re.sub(r"[^a-z0-9_-]+", "-", data.stem.lower()).strip("-")[:60] if data else ""
        answer = _ask("Name of the suite (lower-case letters, digits, - and _)", suggested or kind)
        try:
            name = check_name(answer)
        except HarnessError as exc:
            click.echo(f"  {exc.message}: {exc.hint}")
    while data is None:
        answer = _ask("A CSV or JSONL file of your own cases (Enter for sample cases)")
        if not answer:
            break
        if Path(answer).expanduser().is_file():
            data = Path(answer).expanduser()
        else:
            click.echo(f"  no file {answer}: give the path of a .csv or .jsonl file, or press Enter")
    return kind, name, data


@click.command()
@click.option("--kind", metavar="KIND",
              help="What the suite checks: classification, extraction, summarization or rag.")
@click.option("--name", help="The suite's name (suites/NAME.yaml, prompts/NAME/).")
@click.option("--from", "data", type=click.Path(path_type=Path), metavar="FILE",
              help="A CSV or JSONL file of your own cases: its columns become vars, its 'expected' column the "
              "answers.")
@click.option("--expected", "expected_column", metavar="COLUMN",
              help="The column of --from that holds the right answers, when it is not called 'expected'.")
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="The project folder to write into.")
@click.option("--yes", "-y", is_flag=True, help="Ask nothing: take the flags, and defaults for the rest.")
@click.option("--no-run", is_flag=True, help="Write the suite without running it.")
@click.option("--model", "-m", "model", default="local", show_default=True, metavar="MODEL",
              help="The model to run the new suite on (the bundled local model needs no API key).")
def init(kind: str | None, name: str | None, data: Path | None, expected_column: str | None, folder: Path,
         yes: bool, no_run: bool, model: str) -> None:
    """Start a suite of your own: a kind of task, a name and your cases; written, then run.

    Writes suites/NAME.yaml, its two prompt variants under prompts/NAME/ and its cases under suites/data/ (never
    over an existing file), then runs it and says where the report is. Exits as the run does (0 passed, 1
    failed), or 2 when something is wrong with what it was given.
    """
    from harness.scaffold import kind_named, plan_starter, write_starter

    if yes:
        kind, name = kind or "classification", name or kind or "classification"
    else:
        kind, name, data = _questions(kind, name, data)
    starter = plan_starter(kind_named(kind), name, folder, data, expected_column)
    for path in write_starter(starter):
        click.echo(f"wrote {path}")
    suite = starter.suite
    if no_run:
        click.echo(f"next: harness run {suite}")
        return
    _run(suite, model)


def _run(suite: Path, model: str) -> None:
    from harness import outputs
    from harness.outputs.console import RunConsole
    from harness.run import RunOptions, run_suite

    click.echo(f"running it on {model} (harness run {suite} -m {model})")
    with RunConsole() as console:
        result = run_suite(suite, RunOptions(models=[model], reports_dir=suite.parent.parent / "reports"),
                           observer=console)
    outputs.write("console", result, None)
    click.echo(f"next: open the report above, edit the prompts or the cases, then harness run {suite}")
    sys.exit(0 if result.manifest.verdict.passed else 1)
