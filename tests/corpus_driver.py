"""Runs the broken-suite corpus (tests/corpus/) through the harness CLI, quickly and safely.

The parent side (used by tests/test_corpus.py) reads each case's ``expect.yaml`` and prepares a fresh
copy of the case folder per command. A fork server (``python -m tests.corpus_driver ...``) imports
harness and litellm once, then forks one process per command, a few at a time, each running
``harness.cli.main`` in-process with stdout and stderr captured and under a memory limit. A command
still running after its time limit (even stuck in C code: a regex, a huge allocation) has its stack
dumped by faulthandler into its log, is killed, and is reported as hung; the others go on. Each
finished command is one JSON line in the results file.

expect.yaml keys (placeholders {suite}, {dir}, {tmp}, {outside} work in args, env and file paths):

- ``about``: what is broken (one line).
- ``args``: one command to run instead of the default two (``[validate, "{suite}"]`` and
  ``[run, "{suite}", "--out", "{tmp}/out"]``).
- ``suite``: the suite's path inside the case folder (default ``suite.yaml``).
- ``env``: environment variables for the commands (null unsets one).
- ``exit``: the expected exit code, or a list of acceptable codes.
- ``contains``: words (case-insensitive) the output must contain: stderr when the expected exit is
  2 or more (an error message), stdout + stderr when it is 0 or 1 (a warning, a summary).
- ``matches``: regular expressions (case-insensitive) the same output must match.
- ``absent``: words that must appear nowhere: not in stdout, stderr, nor any file under {tmp}/out.
- ``validate:`` / ``run:`` (or the first word of ``args``): overrides of exit, contains, matches, args
  for that command.
- ``files_contain``: [{path, contains, matches, command}]: a file the command must have written.
- ``outside``: {name: text} files created in {outside}, a folder beside the copy (outside the project),
  reached from the copy as ../elsewhere/.
- ``symlink``: [{link, target}] symlinks created in the copy (git cannot be trusted with them).
- ``expand``: [{file, marker, text, times}]: marker in the copied file replaced by text * times
  (for files too big to commit).

In every copied file ``@@DIR@@`` and ``@@OUTSIDE@@`` become the copy's and the outside folder's
absolute paths. Each case runs with HARNESS_MODEL=echo, its own HARNESS_CACHE_DIR, NO_COLOR, no
provider keys, and the copy as working folder (it holds an empty pyproject.toml: the project root).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
DEFAULT_TIMEOUT = float(os.environ.get("CORPUS_CASE_TIMEOUT", "10"))
PROVIDER_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HARNESS_MODEL", "OPENAI_BASE_URL", "OPENAI_API_BASE",
                 "HARNESS_CACHE_URL", "AZURE_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY", "HARNESS_DEBUG")
FAILURE_MARKERS = ("Traceback", "internal error")


# --- cases ------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Command:
    """One command of one case: what to run and what must come of it."""

    case: str
    name: str  # validate, run, or the first word of `args`
    args: tuple[str, ...]
    exit: tuple[int, ...]
    contains: tuple[str, ...]
    matches: tuple[str, ...]
    absent: tuple[str, ...]
    files_contain: tuple[dict, ...]
    about: str

    @property
    def id(self) -> str:
        return f"{self.case}-{self.name}"


def load_expect(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "expect.yaml").read_text(encoding="utf-8")) or {}


def case_folders() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_dir() and (p / "expect.yaml").is_file())


def commands_of(folder: Path) -> list[Command]:
    expect = load_expect(folder)
    if expect.get("args"):
        plan = [(str(expect["args"][0]), list(expect["args"]))]
    else:
        plan = [("validate", ["validate", "{suite}"]), ("run", ["run", "{suite}", "--out", "{tmp}/out"])]
    commands = []
    for name, args in plan:
        own = {**expect, **(expect.get(name) or {})}
        codes = own.get("exit", 0)
        commands.append(Command(
            case=folder.name, name=name, args=tuple(str(a) for a in own.get("args") or args),
            exit=tuple(codes) if isinstance(codes, list) else (codes,),
            contains=tuple(str(w) for w in own.get("contains") or ()),
            matches=tuple(own.get("matches") or ()),
            absent=tuple(str(w) for w in expect.get("absent") or ()),
            files_contain=tuple(f for f in expect.get("files_contain") or () if f.get("command", name) == name),
            about=str(expect.get("about", ""))))
    return commands


def all_commands() -> list[Command]:
    return [c for folder in case_folders() for c in commands_of(folder)]


# --- preparing a copy -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Job:
    """A command ready to run: its argv with placeholders filled, its environment and folder."""

    id: str
    argv: list[str]
    env: dict[str, str | None]
    cwd: str
    tmp: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def prepare(command: Command, base: Path) -> Job:
    """A fresh copy of the case folder under base/<command id>/case, and the job that runs the command there."""
    source = CORPUS / command.case
    expect = load_expect(source)
    tmp = base / command.id
    if tmp.exists():
        shutil.rmtree(tmp)
    copy, outside = tmp / "case", tmp / "elsewhere"  # a name no expected word (such as "outside") can match
    shutil.copytree(source, copy, symlinks=True, ignore=shutil.ignore_patterns("expect.yaml"))
    outside.mkdir(parents=True)
    for name, text in (expect.get("outside") or {}).items():
        (outside / name).write_text(text, encoding="utf-8")

    def fill(value: str) -> str:
        return (value.replace("{suite}", str(copy / expect.get("suite", "suite.yaml"))).replace("{dir}", str(copy))
                .replace("{tmp}", str(tmp)).replace("{outside}", str(outside)))

    for item in expect.get("expand") or ():
        path = copy / item["file"]
        path.write_bytes(path.read_bytes().replace(item["marker"].encode(), (item["text"] * item["times"]).encode()))
    for path in copy.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if b"@@DIR@@" in data or b"@@OUTSIDE@@" in data:
                data = data.replace(b"@@DIR@@", str(copy).encode())
                path.write_bytes(data.replace(b"@@OUTSIDE@@", str(outside).encode()))
    for link in expect.get("symlink") or ():
        path = copy / link["link"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(fill(str(link["target"])))
    env: dict[str, str | None] = {k: None for k in PROVIDER_KEYS}
    env.update({"HARNESS_MODEL": "echo", "HARNESS_CACHE_DIR": str(tmp / "cache"), "NO_COLOR": "1",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "160"})
    env.update({k: None if v is None else fill(str(v)) for k, v in (expect.get("env") or {}).items()})
    return Job(id=command.id, argv=[fill(a) for a in command.args], env=env, cwd=str(copy), tmp=str(tmp))


# --- checking a result ----------------------------------------------------------------------------

def problems(command: Command, job: Job, result: dict[str, Any] | None) -> list[str]:
    """Everything wrong with how the command ended (empty when it did what expect.yaml says)."""
    if result is None:
        return ["no result (the driver lost it)"]
    if result.get("died"):
        return [f"hung or crashed the process: {result['died']}"]
    found = []
    code, out, err = result["code"], plain(result["stdout"], job), plain(result["stderr"], job)
    if code not in command.exit:
        found.append(f"exit code {code}, expected {' or '.join(map(str, command.exit))}")
    for marker in FAILURE_MARKERS:  # case-sensitive: "set HARNESS_DEBUG=1 for the traceback" is no traceback
        if marker in err:
            found.append(f"stderr contains {marker!r}")
    text = err if min(command.exit) >= 2 else out + "\n" + err
    where = "stderr" if min(command.exit) >= 2 else "the output"
    for word in command.contains:
        if fill_placeholders(word, job).lower() not in text.lower():
            found.append(f"{where} lacks {word!r}")
    for pattern in command.matches:
        if not re.search(pattern, text, re.IGNORECASE):
            found.append(f"{where} does not match /{pattern}/")
    out_dir = Path(job.tmp) / "out"
    written = [p for p in out_dir.rglob("*") if p.is_file()] if out_dir.is_dir() else []
    for word in command.absent:
        if word in result["stdout"] or word in result["stderr"]:
            found.append(f"the output reveals {word!r}")
        for path in written:
            if word in path.read_text(encoding="utf-8", errors="replace"):
                found.append(f"{path.relative_to(job.tmp)} reveals {word!r}")
    for item in command.files_contain:
        path = Path(fill_placeholders(item["path"], job))
        content = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
        if content is None:
            found.append(f"{item['path']} was not written")
            continue
        found += [f"{item['path']} lacks {w!r}" for w in item.get("contains") or () if w.lower() not in content.lower()]
        found += [f"{item['path']} does not match /{p}/" for p in item.get("matches") or ()
                  if not re.search(p, content, re.IGNORECASE)]
    return found


def plain(text: str, job: Job) -> str:
    """Output with the copy's paths replaced by <dir> and <tmp>: the words a case expects must come from the
    message itself, never from a folder name (a case named yaml-tab-indent must not pass by containing 'tab')."""
    for path, name in ((job.cwd, "<dir>"), (job.tmp, "<tmp>")):
        text = text.replace(path, name).replace(os.path.realpath(path), name)
    return text


def fill_placeholders(text: str, job: Job) -> str:
    return text.replace("{tmp}", job.tmp).replace("{dir}", job.cwd)


def describe(command: Command, job: Job, result: dict[str, Any] | None, found: list[str]) -> str:
    """A failure message that says what harness did and what was expected."""
    lines = [f"{command.id}: {command.about}", f"  command: harness {plain(' '.join(job.argv), job)}"]
    lines += [f"  problem: {p}" for p in found]
    if result and not result.get("died"):
        lines.append(f"  exit {result['code']} after {result['seconds']:.1f}s")
        for stream in ("stderr", "stdout"):
            text = plain(result[stream], job).strip()
            if text:
                shown = "\n".join("    " + line for line in text.splitlines()[:12])
                lines.append(f"  {stream}:\n{shown}")
    elif result and result.get("log"):
        lines.append("  where it was stuck:\n" + "\n".join("    " + line for line in result["log"].splitlines()[-25:]))
    return "\n".join(lines)


# --- running jobs: a fork server ------------------------------------------------------------------

def python_path() -> str:
    """PYTHONPATH with this checkout first, so the harness under test is this worktree's."""
    return os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def run_jobs(jobs: list[Job], workdir: Path, *, slots: int | None = None, timeout: float = DEFAULT_TIMEOUT,
             warm: bool = True) -> dict[str, dict]:
    """Run the jobs through a fork server (see _serve); returns a result per job id, hung ones included.

    ``warm=False`` skips importing litellm and the warm-up run (for a few jobs that need neither).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    slots = slots or DEFAULT_SLOTS
    jobs_file, results_file, log_file = workdir / "jobs.json", workdir / "results.jsonl", workdir / "server.log"
    jobs_file.write_text(json.dumps([j.to_dict() for j in jobs]), encoding="utf-8")
    results_file.write_text("", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": python_path()}
    with open(log_file, "ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.corpus_driver", str(jobs_file), str(results_file), str(workdir),
             str(timeout), str(slots), "warm" if warm else "cold"],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    results: dict[str, dict] = {}
    last_progress = time.monotonic()
    while True:
        finished = server.poll() is not None
        for line in results_file.read_text(encoding="utf-8").splitlines():
            if line.endswith("}"):
                record = json.loads(line)
                if record["id"] not in results:
                    results[record["id"]] = record
                    last_progress = time.monotonic()
        if finished:
            break
        if time.monotonic() - last_progress > timeout + 60:  # the server itself is stuck: never hang pytest
            os.killpg(server.pid, 9)
            server.wait()
            break
        time.sleep(0.05)
    server_log = log_file.read_text(encoding="utf-8", errors="replace")
    for job in jobs:
        results.setdefault(job.id, {"id": job.id, "died": "the corpus driver lost this command", "log": server_log})
    return results


DEFAULT_SLOTS = int(os.environ.get("CORPUS_SLOTS", "0")) or max(2, os.cpu_count() or 1)
MEMORY_LIMIT = int(os.environ.get("CORPUS_MEMORY_LIMIT", str(2 * 1024**3)))


class _Capture:
    """sys.stdout / sys.stderr of a job: everything written, as text.

    It fails where the real stream would: text it cannot encode (a lone surrogate, under Python's
    default error handler for stdout) raises UnicodeEncodeError, as it would in a terminal or a pipe.
    """

    encoding = "utf-8"

    def __init__(self, errors: str = "surrogateescape") -> None:
        self.errors = errors  # Python's own: surrogateescape (or strict) for stdout, backslashreplace for stderr
        self.parts: list[str] = []

    def write(self, text: str | bytes) -> int:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        else:
            text.encode("utf-8", self.errors)
        self.parts.append(text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def text(self) -> str:
        return "".join(self.parts)


def _clip(text: str, limit: int = 1_000_000) -> str:
    """Output as recorded: a runaway message is cut in the middle, keeping its start and end."""
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n[... cut by the corpus driver ...]\n" + text[-limit // 2:]


def _serve(jobs_path: str, results_path: str, workdir: str, timeout: float, slots: int, warm: bool = True) -> None:
    """The fork server: imports harness and litellm once (and warms them up), then forks one process per job.

    Each forked job runs harness.cli.main in-process with its stdout and stderr captured, under a memory
    limit (a runaway template or an alias bomb fails with MemoryError instead of taking the machine down).

    `slots` jobs run at once; one still running after SUSPECT_AFTER seconds may be stuck, and no longer
    takes a slot, so the hangs of the corpus wait out their time limit side by side, not one after another.
    A job still running after `timeout` seconds is hung (see _verdict for the one exception); then the
    server has faulthandler dump its stack into its log (SIGUSR1, which works even in C code, such as a
    regex) and kills it. A job that spins runs at a lower priority as it goes (NICE_AFTER), so the hangs
    take little of the CPU from the jobs that finish.
    """
    from harness import plugins
    from harness.cli import main  # noqa: F401  (imported once, inherited by every job)
    from harness.providers._litellm import litellm_module

    for registry in plugins.REGISTRIES:  # the built-in scorers, providers and outputs, loaded once
        registry.load()

    if warm:
        litellm_module()
        _warm_up(Path(workdir) / "warm-up")
    jobs = json.loads(Path(jobs_path).read_text(encoding="utf-8"))
    logs = Path(workdir) / "logs"
    logs.mkdir(exist_ok=True)
    results = open(results_path, "a", encoding="utf-8")  # noqa: SIM115
    running: dict[int, dict[str, Any]] = {}
    pending = list(jobs)
    begun = time.monotonic()
    while pending or running:
        while pending and sum(1 for r in running.values() if not r["suspect"]) < slots \
                and len(running) < MAX_PROCESSES:
            job = pending.pop(0)
            log, out = logs / f"{job['id']}.log", logs / f"{job['id']}.json"
            pid = os.fork()
            if pid == 0:  # the job
                try:
                    _job(job, log, out, timeout)
                finally:
                    os._exit(0)
            running[pid] = {"job": job, "started": time.monotonic(), "log": log, "out": out, "suspect": False}
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for pid, state in running.items():
                _watch(pid, state, now, timeout)
            time.sleep(0.005)
            continue
        state = running.pop(pid)
        job, log, out = state["job"], state["log"], state["out"]
        if out.is_file():
            record = json.loads(out.read_text(encoding="utf-8"))
        else:
            text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
            signal_ = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            if state.get("hung"):
                what = f"killed after the time limit ({state['hung']})"
            else:
                what = f"the process died ({f'signal {signal_}' if signal_ else f'exit {os.WEXITSTATUS(status)}'})"
            record = {"id": job["id"], "died": what, "log": text, "seconds": time.monotonic() - state["started"]}
        record["at"] = round(state["started"] - begun, 2)
        results.write(json.dumps(record) + "\n")
        results.flush()
    results.close()


SUSPECT_AFTER = 0.5  # seconds running: then the job no longer takes a slot
LIGHT = 1.5  # seconds of CPU: a job that has used less is light (see _verdict)
# (seconds of CPU used, niceness): the more a job still running has spun (a hang that burns CPU: a regex, an
# alias bomb), the more it gives way to the jobs that finish; a light one keeps its priority.
NICE_AFTER = ((LIGHT, 10), (3.0, 19))
MAX_PROCESSES = 16
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _watch(pid: int, state: dict[str, Any], now: float, timeout: float) -> None:
    """Nice a spinning job; have a hung one dump its stack, then kill it."""
    age = now - state["started"]
    state["suspect"] = age > SUSPECT_AFTER
    if not state["suspect"]:
        return
    if state.get("hung"):
        if now - state["dumped"] > 0.5:  # time enough for faulthandler to write the stack
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        return
    cpu, waited = _cpu_seconds(pid, age), _waited_seconds(pid)
    nice = max((n for spun, n in NICE_AFTER if cpu > spun), default=0)
    if nice > state.get("nice", 0):
        state["nice"] = nice
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, nice)
    hung = _verdict(age, cpu, waited, timeout)
    if hung:
        state.update(hung=hung, dumped=now)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGUSR1)  # faulthandler writes every thread's stack to the job's log


def _verdict(age: float, cpu: float, waited: float, timeout: float) -> str | None:
    """Why a job still running is hung, or None. The time limit is on the clock; only a light job (little CPU
    used) that spent part of it waiting for a CPU gets that waiting time back, up to a second time limit."""
    if age <= timeout:
        return None
    if cpu >= LIGHT or age - waited > timeout or age > 2 * timeout:
        return f"{age:.0f}s, {cpu:.1f}s of CPU" + (f", {waited:.0f}s waiting for one" if waited >= 1 else "")
    return None


def _cpu_seconds(pid: int, fallback: float) -> float:
    """CPU time a running child has used (Linux /proc), else `fallback`."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return fallback


def _waited_seconds(pid: int) -> float:
    """Time a running child has spent ready to run but waiting for a CPU (Linux schedstat), else 0."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _warm_up(folder: Path) -> None:
    """Validate and run a small suite once, so that every job forked afterwards finds what a run imports
    (the report, the statistics, rich) already imported, and pays only for its own work."""
    (folder / "prompts").mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("")
    (folder / "prompts" / "p.j2").write_text("{% block system %}Be brief.{% endblock %}\nReview: {{ review }}\n")
    (folder / "cases.csv").write_text("id,review,expected\na,good food,positive\nb,bad food,negative\n")
    (folder / "suite.yaml").write_text(
        "name: warm-up\nprompts: [{id: p, template: p.j2}, {id: q, text: 'Q: {{ review }}'}]\nmodels: [echo]\n"
        "cases: cases.csv\nscorers: [{type: label, labels: [positive, negative]}, {type: contains, value: food},"
        " {type: regex, pattern: 'f.od'}]\nthresholds: {pass_rate: 0.9}\n")
    saved = dict(os.environ), os.getcwd(), sys.stdout, sys.stderr
    os.environ.update({"HARNESS_MODEL": "echo", "HARNESS_CACHE_DIR": str(folder / "cache")})
    os.chdir(folder)
    sys.stdout, sys.stderr = _Capture(), _Capture("backslashreplace")  # type: ignore[assignment]
    from harness.cli import main

    try:
        for argv in (["validate", "suite.yaml"], ["run", "suite.yaml", "--out", str(folder / "out")],
                     ["validate", "missing.yaml"], ["report", str(folder / "out")]):
            with contextlib.suppress(SystemExit):
                main(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved[0])
        os.chdir(saved[1])
        sys.stdout, sys.stderr = saved[2], saved[3]


def _job(job: dict, log_path: Path, out_path: Path, timeout: float) -> None:
    """One command in this (forked) process; its result goes to out_path as JSON."""
    import faulthandler
    import resource

    from harness.cli import main

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115
    os.dup2(log.fileno(), 1)  # what bypasses sys.stdout / sys.stderr (a subprocess) goes to the log
    os.dup2(log.fileno(), 2)
    faulthandler.enable(file=log)
    out, err = _Capture(), _Capture("backslashreplace")
    sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
    for key, value in job["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    os.chdir(job["cwd"])
    faulthandler.register(signal.SIGUSR1, file=log, all_threads=True)  # the server's "where are you stuck?"
    faulthandler.dump_traceback_later(3 * timeout + 5, exit=True, file=log)  # in case the server cannot end it
    started = time.perf_counter()
    code: Any = 0
    try:
        main(job["argv"])
    except SystemExit as exc:
        code = exc.code
        if code is None:
            code = 0
        elif not isinstance(code, int):  # as the console script does: sys.exit("text") prints it, exits 1
            err.write(f"{code}\n")
            code = 1
    except BaseException as exc:  # noqa: BLE001  (main() must always exit: escaping it is a finding)
        import traceback

        err.write("corpus driver: main() raised instead of exiting:\n" + traceback.format_exc())
        code = f"none: main() raised {type(exc).__name__}"
    faulthandler.cancel_dump_traceback_later()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {"id": job["id"], "code": code, "stdout": _clip(out.text()), "stderr": _clip(err.text()),
              "seconds": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime}
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    tmp.rename(out_path)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "warm")
    os._exit(0)  # skip the teardown of litellm's thousands of modules
