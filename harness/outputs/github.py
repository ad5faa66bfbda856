"""GitHub Actions: the verdict where reviewers look.

Under GitHub Actions (``GITHUB_ACTIONS=true``) ``harness run`` appends its summary.md to the job's step
summary (``$GITHUB_STEP_SUMMARY``) and prints an ``::error`` annotation for each check and trial that fails
the run, at the line of the suite (or of its data file, for a case) where it was written, so the pull
request's diff shows it in place. ``harness comment RUN_DIR`` posts the run's pull-request comment
(harness.outputs.comment), or updates the one it posted before: one comment per suite, however often CI runs.
The composite action in ``.github/actions/harness/`` calls both.

Posting never changes the run's verdict: without a token, outside a pull request, or when GitHub refuses,
it says what is missing (a ``::warning``) and returns, and the job's result stays the run's.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records import ERRORED, FAILED, GateCheck, ThresholdCheck
from harness.results import SUMMARY_FILE, Run
from harness.spec import Suite

ANNOTATED_TRIALS = 10  # GitHub shows 10 error annotations a step: the checks come first, then this many trials
API_VERSION = "2022-11-28"


def under_actions(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("GITHUB_ACTIONS") == "true"


def report_to_actions(run: Run, suite: Suite | None, env: Mapping[str, str] = os.environ) -> list[str]:
    """The step summary appended (whenever $GITHUB_STEP_SUMMARY is set); under Actions, the annotations to print."""
    if env.get("GITHUB_STEP_SUMMARY"):
        summary = (run.directory / SUMMARY_FILE).read_text(encoding="utf-8")
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as step_summary:
            step_summary.write(summary + "\n")
    return annotations(run, suite, env) if under_actions(env) else []


def annotations(run: Run, suite: Suite | None, env: Mapping[str, str] = os.environ) -> list[str]:
    """``::error`` lines for what fails the run (checks first, then up to ANNOTATED_TRIALS trials), and a
    ``::notice`` for each variant's trials the thresholds allowed."""
    verdict = run.manifest.verdict
    root = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())

    def at(part: str, *fallbacks: str) -> tuple[str | None, int | None]:
        for key in (part, *fallbacks):
            file, line = suite.located(key) if suite is not None else (run.manifest.suite.path, None)
            if line is not None or suite is None:
                return _relative(file, root), line
        return _relative(str(suite.path), root), None

    lines = [] if verdict.status == "completed" else \
        [command("error", f"the run was {verdict.status} before it completed", title="harness: run incomplete",
                 place=at("name"))]
    for check in verdict.thresholds:
        if not check.passed:
            lines.append(command("error", check.describe(), title="harness: threshold missed",
                                 place=at(*_threshold_places(check))))
    baseline = run.manifest.baseline
    for gate in verdict.gates:
        if not gate.passed:
            message = "\n".join([gate.describe(), *(baseline.explain() if baseline else [])])
            lines.append(command("error", message, title="harness: gate failed", place=at(*_gate_places(gate))))
    failing = [s for s in run.index() if verdict.trial(s.facts).kind in (FAILED, ERRORED)]
    for result in run.read(failing[:ANNOTATED_TRIALS]):
        outcome = verdict.trial(result.facts())
        title = f"harness: {result.case_id} ({result.prompt_id} × {result.model_id}) {outcome.kind}"
        lines.append(command("error", f"{result.verdict}\n{outcome.reason}", title=title,
                             place=at(f"cases.{result.case_id}", "name")))
    if len(failing) > ANNOTATED_TRIALS:
        lines.append(command("error", f"… and {len(failing) - ANNOTATED_TRIALS} more failing trials: see the job's "
                                      "summary and the report", title="harness: more failures", place=at("name")))
    lines += [command("notice", line, title="harness: allowed") for line in verdict.allowed(run.facts())]
    return lines


def _threshold_places(check: ThresholdCheck) -> tuple[str, ...]:
    if check.metric == "error_rate":
        return ("max_error_rate", "name")
    return (f"thresholds.{check.metric}", "thresholds", "name")


def _gate_places(gate: GateCheck) -> tuple[str, ...]:
    return (f"gates.{gate.gate}", "gates", "name")


def _relative(file: str | None, root: Path) -> str | None:
    if file is None:
        return None
    path = Path(file)
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def command(kind: str, message: str, *, title: str, place: tuple[str | None, int | None] = (None, None)) -> str:
    """A workflow command (``::error file=…,line=…,title=…::message``), its values escaped as GitHub requires."""
    file, line = place
    properties = [("file", file), ("line", str(line) if line else None), ("title", title)]
    told = ",".join(f"{key}={_escape(value, True)}" for key, value in properties if value)
    return f"::{kind} {told}::{_escape(message, False)}"


def _escape(text: str, property_value: bool) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


# --- the pull-request comment -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PullRequest:
    """Where the comment goes, from the Actions environment (or given)."""

    api_url: str
    repository: str
    number: int
    token: str


def run_url(env: Mapping[str, str] = os.environ) -> str | None:
    """The workflow run's page (its artifacts hold the report), when running under Actions."""
    parts = [env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def pull_request(env: Mapping[str, str] = os.environ, *, number: int | None = None) -> PullRequest | str:
    """The pull request to comment on, or what is missing to know it (a sentence to tell the user)."""
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    if not token:
        return ("no GITHUB_TOKEN: give the action `github-token: ${{ secrets.GITHUB_TOKEN }}` and the job "
                "`permissions: pull-requests: write`")
    repository = env.get("GITHUB_REPOSITORY")
    if not repository:
        return "no GITHUB_REPOSITORY (owner/name): is this running under GitHub Actions?"
    if number is None:
        number = _event_number(env.get("GITHUB_EVENT_PATH"))
    if number is None:
        return "this is not a pull request (the workflow's event has no pull_request): there is nothing to comment on"
    return PullRequest(env.get("GITHUB_API_URL") or "https://api.github.com", repository, number, token)


def _event_number(path: str | None) -> int | None:
    if not path or not Path(path).is_file():
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def post_comment(body: str, marker: str, pr: PullRequest) -> str:
    """Create the comment, or update the one that carries ``marker``; its URL. Raises HarnessError when GitHub
    refuses (with what GitHub said)."""
    base = f"{pr.api_url.rstrip('/')}/repos/{pr.repository}"
    for page in range(1, 101):  # 100 comments a page: a pull request with 10,000 comments is not ours to search
        comments = _call("GET", f"{base}/issues/{pr.number}/comments?per_page=100&page={page}", pr.token)
        mine = next((c for c in comments if marker in (c.get("body") or "")), None)
        if mine is not None:
            return _call("PATCH", f"{base}/issues/comments/{mine['id']}", pr.token, {"body": body})["html_url"]
        if len(comments) < 100:
            break
    return _call("POST", f"{base}/issues/{pr.number}/comments", pr.token, {"body": body})["html_url"]


def _call(method: str, url: str, token: str, payload: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
               "X-GitHub-Api-Version": API_VERSION, "User-Agent": "harness", "Content-Type": "application/json"}
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the API's own URL)
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        said = exc.read().decode("utf-8", "replace")[:300]
        hint = "the token needs `permissions: pull-requests: write`" if exc.code in (401, 403, 404) else None
        raise HarnessError(f"GitHub answered {exc.code} to {method} {url}: {said}", hint=hint) from None
    except (urllib.error.URLError, OSError) as exc:
        raise HarnessError(f"cannot reach GitHub at {url}: {getattr(exc, 'reason', exc)}") from None
