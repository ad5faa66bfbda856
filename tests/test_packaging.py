"""harness as users install it: a real wheel, and a third-party plugin package adding a scorer, a provider and an
output through entry points, each in a fresh virtual environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from harness.testing import FakeLLMServer, last_user_message

ROOT = Path(__file__).resolve().parent.parent


def _venv(path: Path) -> Path:
    """A virtual environment that sees this interpreter's packages (harness's dependencies), and its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], check=True)
    return path / "bin" / "python"


def _pip_install(python: Path, *args: str) -> None:
    """Without PYTHONPATH: pip would take this checkout's harness.egg-info (left by the wheel build) for an
    installed harness and skip the wheel."""
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-build-isolation", *args], check=True, capture_output=True, text=True, env=_clean_env())


def _clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH into this checkout: the venv's own installation must be what runs."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, text=True)
    return next(out.glob("harness-*.whl"))


def test_the_wheel_holds_the_judge_templates_and_the_report_assets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "harness" / "templates").rglob("*.j2"):
        assert template.relative_to(ROOT).as_posix() in names
    for sample in (ROOT / "harness" / "templates" / "init").iterdir():  # harness init's sample cases
        assert sample.relative_to(ROOT).as_posix() in names
    for asset in ("report.html.j2", "report.css", "report.js"):
        assert f"harness/outputs/report/{asset}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[harness.scorers]" in text and "[harness.providers]" in text and "[harness.outputs]" in text


def judge_or_answer(request: dict) -> str:
    """The model under test answers plainly; as the judge it gives the verdict every judge template asks for."""
    prompt = last_user_message(request)
    if "<output>" in prompt:
        return json.dumps({"reasoning": "checked", "score": 4, "verdict": "pass",
                           "claims": [{"claim": "the answer", "verdict": "supported"}]})
    return "Positive. The context says so."


def test_an_installed_wheel_runs_every_example_suite_judges_included(wheel, tmp_path):
    python = _venv(tmp_path / "venv")
    _pip_install(python, str(wheel))
    project = tmp_path / "project"
    shutil.copytree(ROOT / "suites", project / "suites")
    shutil.copytree(ROOT / "prompts", project / "prompts")
    (project / "pyproject.toml").write_text("")
    with FakeLLMServer(judge_or_answer) as server:
        env = _clean_env(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test-key-123456",
                         HARNESS_CACHE_DIR=str(tmp_path / "cache"), LITELLM_LOCAL_MODEL_COST_MAP="True")
        for suite in sorted((project / "suites").glob("*.yaml")):
            if suite.stem == "summarization":  # its embedding scorer loads torch: covered by the editable tests
                continue
            done = subprocess.run([str(python.parent / "harness"), "run", str(suite), "--limit", "3",
                                   "--model", "openai/fake", "--judge", "openai/judge", "--out",
                                   str(tmp_path / suite.stem)], cwd=project, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode in (0, 1), done.stderr
            rows = [json.loads(line) for line in (tmp_path / suite.stem / "results.jsonl").read_text().splitlines()]
            assert rows and all(not s["error"] for r in rows for s in r["scores"]), suite.stem
    location = subprocess.run([str(python), "-c", "import harness; print(harness.__file__)"], env=_clean_env(),
                              cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert str(tmp_path / "venv") in location  # the wheel's copy ran, not this checkout


PLUGIN = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "harness-tiny"
        version = "1.2.3"

        [project.entry-points."harness.scorers"]
        tiny = "harness_tiny"
        [project.entry-points."harness.providers"]
        tiny = "harness_tiny"
        [project.entry-points."harness.outputs"]
        tiny = "harness_tiny"
        """,
    "harness_tiny.py": '''\
        """A third-party plugin: a scorer, a provider and an output."""
        import contextlib

        import harness
        from harness.providers import Endpoint


        @harness.scorer("shouting", threshold=1.0)
        def shouting(output, case):
            return harness.Verdict(float(output.isupper()), "all capitals" if output.isupper() else "not shouting")


        @harness.provider("tiny")
        @contextlib.asynccontextmanager
        async def tiny(spec):
            yield Endpoint(model="tiny", answer=lambda messages: messages[-1]["content"].upper())


        @harness.output("tiny", description="one line per trial: case and verdict")
        def write_tiny(run, path):
            path.write_text("".join(f"{r.case_id} {'pass' if r.passed else 'fail'}\\n" for r in run.results))
            return path
        ''',
}


def test_a_plugin_package_adds_a_scorer_a_provider_and_an_output(tmp_path):
    package = tmp_path / "harness-tiny"
    package.mkdir()
    for name, text in PLUGIN.items():
        (package / name).write_text(textwrap.dedent(text))
    python = _venv(tmp_path / "venv")
    _pip_install(python, str(package))
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent("""\
        name: tiny
        prompts: [{id: p, text: "{{ word }}"}]
        models: [tiny]
        cases:
          - {id: a, vars: {word: hello}}
          - {id: b, vars: {word: "123"}}
        scorers: [shouting]
        """))
    env = _clean_env(HARNESS_CACHE_DIR=str(tmp_path / "cache"))
    harness = [str(python), "-m", "harness"]  # harness itself as this interpreter has it; the plugin in the venv

    listed = subprocess.run([*harness, "plugins"], env=env, cwd=tmp_path, capture_output=True, text=True,
                            check=True).stdout
    for kind in ("scorer", "provider", "output"):
        assert any(line.split()[:2] == [kind, "tiny" if kind != "scorer" else "shouting"]
                   and "harness-tiny 1.2.3" in line for line in listed.splitlines()), listed
    done = subprocess.run([*harness, "run", str(suite), "--out", str(tmp_path / "run"),
                           "--output", f"tiny={tmp_path / 'tiny.txt'}"], env=env, cwd=tmp_path, capture_output=True,
                          text=True)

    assert done.returncode == 0, done.stderr  # no thresholds: one failing trial does not fail the run
    assert (tmp_path / "tiny.txt").read_text() == "a pass\nb fail\n"
