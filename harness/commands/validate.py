"""``harness validate``: a suite checked and every prompt rendered for every case, calling no model."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("suite", type=click.Path(path_type=Path))
def validate(suite: Path) -> None:
    """Check SUITE and render every prompt for every case, without calling any model."""
    click.echo(validated(suite))


def validated(suite: Path) -> str:
    """What ``harness validate`` says of a suite that passes (warnings go to stderr); HarnessError if it does not."""
    from harness.providers import describe
    from harness.run.plan import RunOptions, check_models, plan, resolve_models
    from harness.suite import load_suite, load_warnings

    loaded = load_suite(suite)
    specs, reason = resolve_models(loaded, ())
    trials = plan(loaded, specs, RunOptions())
    for warning in load_warnings(loaded) + check_models(loaded, specs, reason):
        click.echo(f"harness: warning: {warning}", err=True)
    return (f"{suite}: ok · {len(loaded.cases)} cases × {len(loaded.prompts)} prompts × {len(specs)} model(s)"
            f" × {loaded.repeats} repeat(s) = {len(trials)} trials\n"
            f"models ({reason}): {' · '.join(describe(spec) for spec in specs)}")
