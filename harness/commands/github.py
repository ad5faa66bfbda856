"""``harness comment``: a run's verdict as a pull-request comment (see harness.outputs.github)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import HarnessError


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--pr", "number", type=click.IntRange(1), metavar="N",
              help="The pull request to comment on [default: the one the workflow runs for].")
@click.option("--dry-run", is_flag=True, help="Print the comment's Markdown instead of posting it.")
def comment(run_dir: Path, number: int | None, dry_run: bool) -> None:
    """Post RUN_DIR's verdict as a pull-request comment, or update the one posted before.

    Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH and GITHUB_API_URL, as GitHub Actions sets them.
    When the comment cannot be posted it says why and exits 0: the run's own verdict stands.
    """
    from harness.outputs import github
    from harness.outputs.comment import marker, pr_comment
    from harness.results import load_run

    run_ = load_run(run_dir)
    body = pr_comment(run_, details_url=github.run_url())
    if dry_run:
        click.echo(body)
        return
    target = github.pull_request(number=number)
    try:
        if isinstance(target, str):
            raise HarnessError(target)
        click.echo(f"comment: {github.post_comment(body, marker(run_.manifest.suite.name), target)}")
    except HarnessError as exc:
        message = f"the pull-request comment was not posted: {exc}"
        click.echo(github.command("warning", message, title="harness comment") if github.under_actions()
                   else f"harness: warning: {message}", err=not github.under_actions())
