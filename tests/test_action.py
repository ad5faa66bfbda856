"""The composite action (.github/actions/harness/action.yml) and the example workflow that uses it.

Its shell steps run as a runner runs them (bash -eo pipefail, GITHUB_OUTPUT, `if: always()`, the inputs and
step outputs filled in), in a git checkout of a pull request whose base branch holds the baseline, against the
test LLM server and a stand-in for api.github.com on loopback; `uses:` steps (the artifact upload) are
GitHub's own and only checked for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import run_cli, sentiment_answer
from tests.outputs.test_github import GitHubStandIn

REPO = Path(__file__).resolve().parents[1]
ACTION = REPO / ".github" / "actions" / "harness" / "action.yml"


def _expand(text: str, context: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        return context.get(match.group(1).strip(), "")

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def run_action(inputs: dict[str, str], workspace: Path, env: dict[str, str]) -> tuple[bool, list[str], str]:
    """The action's steps in order, as a runner runs them: (the job passed, the steps that ran, their output)."""
    action = yaml.safe_load(ACTION.read_text())
    context = {f"inputs.{name}": str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    context.update({f"inputs.{k}": v for k, v in inputs.items()}, **{"github.base_ref": env["GITHUB_BASE_REF"]})
    failed, ran, log = False, [], ""
    for number, step in enumerate(action["runs"]["steps"]):
        if failed and step.get("if") != "always()":
            continue
        ran.append(step["name"])
        if "uses" in step:
            continue  # GitHub's own action (the artifact upload)
        output = workspace.parent / f"step-{number}.out"
        output.write_text("")
        step_env = {**env, **{k: _expand(str(v), context) for k, v in step.get("env", {}).items()},
                    "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(workspace.parent)}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _expand(step["run"], context)],
                              cwd=workspace, env=step_env, capture_output=True, text=True, timeout=300)
        log += done.stdout + done.stderr
        failed = failed or done.returncode != 0
        for line in output.read_text().splitlines():
            key, _, value = line.partition("=")
            context[f"steps.{step.get('id')}.outputs.{key}"] = value
    return not failed, ran, log


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


def _harness_on_path(directory: Path) -> str:
    """PATH with a `harness` command first that runs this interpreter's harness (this checkout's)."""
    (directory / "bin").mkdir()
    (directory / "bin" / "harness").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harness "$@"\n')
    (directory / "bin" / "harness").chmod(0o755)
    return f"{directory / 'bin'}:{os.environ['PATH']}"


def answer(request):
    """The pull request's prompt asks for one word: this model then says 'positive' to everything."""
    return "positive" if "one word" in last_user_message(request) else sentiment_answer(request)


def test_the_action_compares_with_the_base_branchs_baseline_comments_and_fails_with_the_run(project, tmp_path):
    origin, workspace = tmp_path / "origin.git", tmp_path
    with FakeLLMServer(answer) as server, GitHubStandIn() as github:
        suite = project(base_url=server.base_url)
        suite.write_text(suite.read_text() + "gates:\n  max_regressions: 0\n")
        assert run_cli("run", suite, "--out", tmp_path / "base-run") == 0
        assert run_cli("baseline", "save", tmp_path / "base-run", "--to", tmp_path / "suites/baselines/s.jsonl") == 0
        (tmp_path / ".gitignore").write_text("reports/\nbase-run/\ncache/\norigin.git/\n*.out\n")
        _git(tmp_path, "init", "-q", "-b", "main")
        _git(tmp_path, "add", ".")
        _git(tmp_path, "commit", "-q", "-m", "base")
        _git(tmp_path, "init", "-q", "--bare", str(origin))
        _git(tmp_path, "remote", "add", "origin", str(origin))
        _git(tmp_path, "push", "-q", "origin", "main")
        # The pull request: a prompt that makes the model worse, and a baseline overwritten to hide it.
        _git(tmp_path, "checkout", "-q", "-b", "change")
        (tmp_path / "prompts/sentiment/terse.j2").write_text("Answer in one word.\nReview: {{ review }}\n")
        (tmp_path / "suites/baselines/s.jsonl").write_text(
            (tmp_path / "suites/baselines/s.jsonl").read_text().replace('"passed": false', '"passed": true'))
        _git(tmp_path, "commit", "-qam", "change")

        event = tmp_path / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 3}}))
        env = {**os.environ, "PATH": _harness_on_path(tmp_path), "GITHUB_ACTIONS": "true",
               "GITHUB_BASE_REF": "main", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_EVENT_PATH": str(event),
               "GITHUB_API_URL": github.url, "GITHUB_WORKSPACE": str(workspace),
               "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}
        passed, ran, log = run_action({"suite": "suites/sentiment.yaml", "baseline": "suites/baselines/s.jsonl",
                                       "github-token": "ghs-test-token", "out": "reports/pr"}, workspace, env)

    assert not passed and ran == [step["name"] for step in yaml.safe_load(ACTION.read_text())["runs"]["steps"]]
    assert "baseline: suites/baselines/s.jsonl as on main" in log  # not the pull request's rewritten copy
    assert "::error file=suites/sentiment.yaml,line=" in log and "gate failed" in log
    (comment,) = github.comments.values()
    assert "### sentiment: ❌ 1 gate failed" in comment["body"] and "stopped by gate max_regressions" in comment["body"]
    manifest = json.loads((tmp_path / "reports/pr/run.json").read_text())
    assert manifest["passed"] is False and {c["case_id"] for c in manifest["baseline"]["regressions"]} == {
        "reservation", "cold-pasta"}  # the negatives the changed prompt now calls positive
    assert (tmp_path / "reports/pr/junit.xml").is_file()


def test_without_a_token_the_action_says_so_and_the_verdict_stands(project, server, tmp_path):
    project()
    _git(tmp_path, "init", "-q", "-b", "main")
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "", "GITHUB_REPOSITORY": "acme/shop",
           "PATH": _harness_on_path(tmp_path)}

    passed, _, log = run_action({"suite": "suites/sentiment.yaml"}, tmp_path, env)

    assert passed  # the suite passes; the comment that could not be posted does not change that
    assert "::warning title=harness comment::the pull-request comment was not posted: no GITHUB_TOKEN" in log


def test_the_example_workflow_uses_the_action_and_may_comment():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "eval.yml").read_text())
    assert workflow["permissions"]["pull-requests"] == "write"
    steps = workflow["jobs"]["eval"]["steps"]
    assert 'pip install -e ".[local]"' in " ".join(s.get("run", "") for s in steps)
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == ".harness-cache"
    assert workflow["jobs"]["eval"]["env"]["HARNESS_CACHE_DIR"].endswith("/.harness-cache")
    evaluate = next(s for s in steps if s.get("uses") == "./.github/actions/harness")
    assert evaluate["with"]["baseline"] == "suites/baselines/sentiment.jsonl"
    assert evaluate["with"]["github-token"] == "${{ secrets.GITHUB_TOKEN }}" and "continue-on-error" not in evaluate
    action = yaml.safe_load(ACTION.read_text())
    upload = next(s for s in action["runs"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ inputs.out }}"
    baseline = (REPO / "suites" / "baselines" / "sentiment.jsonl").read_text().splitlines()
    assert json.loads(baseline[0])["suite"] == "sentiment" and len(baseline) == 133  # header + 44 cases x 3 prompts
