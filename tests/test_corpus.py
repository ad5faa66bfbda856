"""The broken-suite corpus: every bad input ends in a clear, located error and exit 2.

One test per (case, command) under tests/corpus/ (see tests/corpus_driver.py for the expect.yaml
format). The commands run before the first test, in-process in processes forked from one that imported
harness once (so the whole corpus takes seconds, and a hang fails that one case within the driver's
time limit instead of hanging pytest); each test then checks its own command's result:

- the exit code is the expected one (2 for bad input; never 3, the internal-bug code);
- stderr holds no traceback and no "internal error";
- the message holds the expected words: the file and line, the offending key or value, a hint;
- secrets listed under ``absent`` appear nowhere.

A few cases also run through the real ``harness`` console script, to prove its exit codes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus_driver import Command, all_commands, describe, prepare, problems, python_path, run_jobs

COMMANDS = all_commands()


@pytest.fixture(scope="session")
def corpus_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Runs the commands of every selected corpus test at once; returns {command id: (job, result)}."""
    wanted = {item.callspec.params["command"].id for item in request.session.items
              if item.originalname == "test_corpus" and hasattr(item, "callspec")}
    base = tmp_path_factory.mktemp("corpus")
    jobs = {c.id: prepare(c, base / "copies") for c in COMMANDS if c.id in wanted}
    # The slowest commands of the last run first (a hang takes its whole time limit): they then wait out
    # their limits beside the quick ones instead of after them.
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    last = cache.get(DURATIONS, {}) if cache else {}
    order = sorted(jobs.values(), key=lambda job: -last.get(job.id, 0.0))
    results = run_jobs(order, base / "driver")
    if cache:
        cache.set(DURATIONS, {**last, **{i: round(r.get("seconds", 0.0), 2) for i, r in results.items()}})
    return {job_id: (job, results.get(job_id)) for job_id, job in jobs.items()}


DURATIONS = "corpus/durations"


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_corpus(command: Command, corpus_results) -> None:
    job, result = corpus_results[command.id]
    found = problems(command, job, result)
    assert not found, describe(command, job, result, found)


def test_corpus_is_large_and_well_formed() -> None:
    cases = {c.case for c in COMMANDS}
    assert len(cases) >= 110
    for command in COMMANDS:
        assert command.about, f"{command.case}: expect.yaml needs an 'about'"
        assert command.exit, f"{command.case}: expect.yaml needs an 'exit'"


# --- through the real console script ------------------------------------------------------------------

SCRIPT_CASES = ["runtime-valid-suite", "runtime-threshold-missed", "yaml-unclosed-flow-sequence",
                "flag-concurrency-zero"]


def _script_commands() -> list[Command]:
    chosen = []
    for wanted in SCRIPT_CASES:
        matching = [c for c in COMMANDS if c.case.split("-", 1)[1] == wanted]
        assert matching, f"no corpus case named *-{wanted}"
        chosen.append(matching[-1])  # the run command when there are two
    return chosen


@pytest.mark.parametrize("command", _script_commands(), ids=lambda c: c.id)
def test_console_script(command: Command, tmp_path: Path) -> None:
    """The installed `harness` command (its entry_point ends with os._exit) exits with the code main() chose."""
    script = shutil.which("harness") or pytest.skip("the harness console script is not on PATH")
    job = prepare(command, tmp_path)
    env = {k: v for k, v in os.environ.items()}
    env.update({k: v for k, v in job.env.items() if v is not None})
    for key in [k for k, v in job.env.items() if v is None]:
        env.pop(key, None)
    env["PYTHONPATH"] = python_path()
    started = subprocess.run([script, *job.argv], cwd=job.cwd, env=env, capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
    result = {"code": started.returncode, "stdout": started.stdout, "stderr": started.stderr, "seconds": 0.0}
    found = problems(command, job, result)
    assert not found, describe(command, job, result, found)


def test_driver_reports_a_hang_without_hanging(tmp_path: Path) -> None:
    """The driver itself: a command stuck in C code (a catastrophic regex) is reported as hung, and the
    commands after it in the same lane still run."""
    suite = tmp_path / "case"
    (suite / "prompts").mkdir(parents=True)
    (suite / "pyproject.toml").write_text("")
    (suite / "prompts" / "p.j2").write_text("{{ review }}\n")
    (suite / "suite.yaml").write_text(
        "name: stuck\nprompts: [{id: p, template: p.j2}]\nmodels: [echo]\n"
        f"cases: [{{id: a, vars: {{review: \"{'a' * 40}!\"}}}}]\n"
        "scorers: [{type: plugin.py:stuck}]\nplugins: []\n")
    (suite / "plugin.py").write_text("import re\n\ndef stuck(output, case):\n"
                                     "    return bool(re.match(r'^(a+)+$', output))\n")
    from tests.corpus_driver import Job

    env = {"HARNESS_MODEL": "echo", "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    jobs = [Job(id="stuck", argv=["run", str(suite / "suite.yaml"), "--out", str(tmp_path / "o1")], env=env,
                cwd=str(suite), tmp=str(tmp_path)),
            Job(id="after", argv=["validate", str(suite / "suite.yaml")], env=env, cwd=str(suite), tmp=str(tmp_path))]
    results = run_jobs(jobs, tmp_path / "driver", slots=1, timeout=2, warm=False)
    assert "time limit" in results["stuck"]["died"]
    assert "stuck" in results["stuck"]["log"]  # the stack where it was stuck names the plugin function
    assert results["after"]["code"] == 0, results["after"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_checker_judges_the_message_not_the_paths(tmp_path: Path) -> None:
    """The checks themselves: words must come from the message (not from a folder name in a path), a
    traceback fails any case, and a secret fails it wherever it shows up."""
    from tests.corpus_driver import Job

    command = Command(case="001-yaml-tab-indent", name="validate", args=("validate", "{suite}"), exit=(2,),
                      contains=("suite.yaml:3", "tab"), matches=(r"\b7\b",), absent=("sk-secret",),
                      files_contain=(), about="x")
    copy = tmp_path / "001-yaml-tab-indent-7" / "case"
    job = Job(id=command.id, argv=[], env={}, cwd=str(copy), tmp=str(copy.parent))
    stderr = f"harness: error: {copy}/suite.yaml:3: bad character\n"
    found = problems(command, job, {"code": 2, "stdout": "", "stderr": stderr, "seconds": 0})
    assert found == ["stderr lacks 'tab'", r"stderr does not match /\b7\b/"]
    good = f"harness: error: {copy}/suite.yaml:3: a tab (first at line 7)\n"
    assert problems(command, job, {"code": 2, "stdout": "", "stderr": good, "seconds": 0}) == []
    leaky = good + "Traceback (most recent call last):\n  key sk-secret\n"
    assert problems(command, job, {"code": 3, "stdout": "", "stderr": leaky, "seconds": 0}) == [
        "exit code 3, expected 2", "stderr contains 'Traceback'", "the output reveals 'sk-secret'"]
    assert problems(command, job, {"id": command.id, "died": "killed after the time limit (10s)"}) == [
        "hung or crashed the process: killed after the time limit (10s)"]
