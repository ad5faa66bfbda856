"""GitHub: the pull-request comment (golden files), ::error annotations at the suite's lines, the step summary,
and posting the comment to a real HTTP server on 127.0.0.1 standing in for api.github.com (GITHUB_API_URL)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from aiohttp import web

from harness.metrics import check_thresholds, counts
from harness.outputs.comment import marker, pr_comment
from harness.results import load_run, write_manifest
from harness.testing import synthetic_run
from tests.conftest import run_cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("HARNESS_UPDATE_GOLDEN") == "1"  # rewrite the golden comments (then review the diff)


class GitHubStandIn:
    """The issue-comments API of api.github.com, in memory, served over real HTTP on loopback."""

    def __init__(self, token: str = "ghs-test-token", refuse: int | None = None):
        self.token, self.refuse = token, refuse
        self.comments: dict[int, dict] = {}
        self.requests: list[tuple[str, str]] = []

    def __enter__(self) -> GitHubStandIn:
        app = web.Application()
        app.router.add_route("*", "/repos/{owner}/{repo}/issues/{number}/comments", self._issue_comments)
        app.router.add_patch("/repos/{owner}/{repo}/issues/comments/{id}", self._edit)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.runner = web.AppRunner(app, access_log=None)
        asyncio.run_coroutine_threadsafe(self.runner.setup(), self.loop).result(10)
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        asyncio.run_coroutine_threadsafe(site.start(), self.loop).result(10)
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def _refused(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path_qs))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "Bad credentials"}, status=401)
        if self.refuse:
            return web.json_response({"message": "Resource not accessible by integration"}, status=self.refuse)
        return None

    async def _issue_comments(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            per_page, page = int(request.query.get("per_page", 30)), int(request.query.get("page", 1))
            return web.json_response(list(self.comments.values())[(page - 1) * per_page: page * per_page])
        number = len(self.comments) + 1
        body = (await request.json())["body"]
        self.comments[number] = {"id": number, "body": body, "html_url": f"https://github.test/pr#issuecomment-{number}"}
        return web.json_response(self.comments[number], status=201)

    async def _edit(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        comment = self.comments[int(request.match_info["id"])]
        comment["body"] = (await request.json())["body"]
        return web.json_response(comment)


def _golden_runs(tmp_path: Path) -> dict[str, Path]:
    for name in ("base", "run"):
        shutil.copytree(GOLDEN / "v1" / name, tmp_path / name)
    variants = (("terse", "mini"), ("critic", "mini"), ("role", "mini"))
    passing = synthetic_run(tmp_path / "passing", 30, variants=variants)
    manifest = passing.manifest
    manifest.thresholds = check_thresholds(manifest.variants, {"pass_rate": 0.6})
    manifest.counts = counts(passing.facts(), planned=90)
    write_manifest(passing.directory, manifest)
    return {"failing": tmp_path / "run", "base": tmp_path / "base", "passing": passing.directory}


@pytest.mark.parametrize("name", ["failing", "base", "passing"])
def test_the_pull_request_comment_is_what_the_golden_file_says(tmp_path, name):
    run = load_run(_golden_runs(tmp_path)[name])

    text = pr_comment(run, details_url="https://github.com/acme/shop/actions/runs/42" if name == "failing" else None)

    golden = GOLDEN / "comment" / f"{name}.md"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    assert text.startswith(marker(run.manifest.suite.name)) and len(text) < 65_536  # GitHub's limit for a comment


def _failing_project(project, server, tmp_path: Path) -> Path:
    suite = project()
    suite.write_text(suite.read_text().replace("pass_rate: 0.5", "pass_rate: 0.9") + "must_pass: true\n")
    return suite


def test_under_github_actions_failures_are_annotated_at_their_lines(project, server, tmp_path, monkeypatch, capsys):
    suite = _failing_project(project, server, tmp_path)
    summary = tmp_path / "step_summary.md"
    for key, value in {"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(tmp_path),
                       "GITHUB_STEP_SUMMARY": str(summary)}.items():
        monkeypatch.setenv(key, value)

    assert run_cli("run", suite, "--prompt", "terse") == 1

    out = capsys.readouterr().out.splitlines()
    errors = [line for line in out if line.startswith("::error ")]
    assert ("::error file=suites/sentiment.yaml,line=20,title=harness%3A threshold missed::pass_rate = 0.833 for "
            "terse × fake (needs ≥ 0.9)") in errors
    sarcasm = next(line for line in errors if "sarcasm" in line)  # a case of the data file: its row
    assert sarcasm.startswith("::error file=suites/data/reviews.csv,line=7,title=harness%3A sarcasm (terse × fake) "
                              "failed::label: predicted positive, expected negative%0A")
    assert len(errors) == 2 and summary.read_text().startswith("## sentiment: ❌ 1 threshold missed · 1 must-pass")


def test_annotations_escape_what_github_would_misread():
    from harness.outputs.github import command

    assert command("error", "50% done\nnext", title="a: b, c", place=("dir,x/s.yaml", 3)) == \
        "::error file=dir%2Cx/s.yaml,line=3,title=a%3A b%2C c::50%25 done%0Anext"


@pytest.fixture
def pull_request_env(tmp_path, monkeypatch):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_TOKEN": "ghs-test-token", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_the_comment_is_posted_once_and_then_updated(project, server, tmp_path, monkeypatch, capsys,
                                                     pull_request_env):
    assert run_cli("run", project(), "--out", tmp_path / "run") == 0
    with GitHubStandIn() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        github.comments[1] = {"id": 1, "body": "LGTM", "html_url": "https://github.test/pr#issuecomment-1"}
        assert run_cli("comment", tmp_path / "run") == 0
        assert run_cli("comment", tmp_path / "run") == 0

    assert [method for method, _ in github.requests] == ["GET", "POST", "GET", "PATCH"]
    assert github.requests[0][1] == "/repos/acme/shop/issues/7/comments?per_page=100&page=1"
    assert len(github.comments) == 2 and github.comments[1]["body"] == "LGTM"  # another's comment is left alone
    body = github.comments[2]["body"]
    assert body.startswith(marker("sentiment")) and "### sentiment: ✅ all thresholds and gates met" in body
    assert "[the full report](https://github.com/acme/shop/actions/runs/42)" in body
    assert capsys.readouterr().out.count("comment: https://github.test/pr#issuecomment-2") == 2


@pytest.mark.parametrize("missing, told", [
    ("GITHUB_TOKEN", "no GITHUB_TOKEN: give the action `github-token: ${{ secrets.GITHUB_TOKEN }}`"),
    ("GITHUB_EVENT_PATH", "this is not a pull request"),
])
def test_without_a_token_or_a_pull_request_it_says_what_is_missing_and_exits_0(
        project, server, tmp_path, monkeypatch, capsys, pull_request_env, missing, told):
    assert run_cli("run", _failing_project(project, server, tmp_path), "--out", tmp_path / "run") == 1
    monkeypatch.delenv(missing)
    capsys.readouterr()
    with GitHubStandIn() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        assert run_cli("comment", tmp_path / "run") == 0  # the run's own verdict (1) is not this step's to change

    out = capsys.readouterr().out
    assert out.startswith("::warning title=harness comment::the pull-request comment was not posted: ") and told in out
    assert github.requests == []


def test_when_github_refuses_it_says_what_the_token_needs(project, server, tmp_path, monkeypatch, capsys,
                                                         pull_request_env):
    assert run_cli("run", project(), "--out", tmp_path / "run") == 0
    with GitHubStandIn(refuse=403) as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        capsys.readouterr()
        assert run_cli("comment", tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "GitHub answered 403" in out and "Resource not accessible by integration" in out
    assert "permissions: pull-requests: write" in out


def test_with_many_comments_it_finds_its_own_on_a_later_page(project, server, tmp_path, monkeypatch,
                                                             pull_request_env):
    assert run_cli("run", project(), "--out", tmp_path / "run") == 0
    with GitHubStandIn() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        for i in range(1, 151):
            github.comments[i] = {"id": i, "body": f"comment {i}", "html_url": ""}
        github.comments[151] = {"id": 151, "body": marker("sentiment") + "\nold", "html_url": "u"}
        assert run_cli("comment", tmp_path / "run") == 0
    assert [m for m, _ in github.requests] == ["GET", "GET", "PATCH"] and len(github.comments) == 151
    assert github.comments[151]["body"] != marker("sentiment") + "\nold"


def test_dry_run_prints_the_comment(project, server, tmp_path, capsys):
    assert run_cli("run", project(), "--out", tmp_path / "run") == 0
    capsys.readouterr()
    assert run_cli("comment", tmp_path / "run", "--dry-run") == 0
    assert capsys.readouterr().out.startswith(marker("sentiment"))

