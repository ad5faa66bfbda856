"""``harness import``: another tool's eval config written as a harness suite, then validated."""

from __future__ import annotations

from pathlib import Path

import click

from harness.commands.validate import validated
from harness.errors import HarnessError


@click.command("import")
@click.argument("tool", type=click.Choice(["promptfoo", "openai-evals"]))
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=click.Path(path_type=Path), metavar="SUITE.yaml",
              help="Where to write the suite [default: beside CONFIG, as <name>.harness.yaml].")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def import_(tool: str, config: Path, out_file: Path | None, force: bool) -> None:
    """Write TOOL's eval CONFIG (a promptfooconfig.yaml, an OpenAI evals registry file) as a harness suite."""
    from harness.importers import default_out, import_file, write
    from harness.outputs.console import print_import

    imported = import_file(tool, config)
    path = write(imported, out_file or default_out(imported), force=force)
    try:
        check = f"harness validate: {validated(path)}"
    except HarnessError as exc:
        check = f"harness validate fails: {exc}"
    print_import(imported, path, check)
