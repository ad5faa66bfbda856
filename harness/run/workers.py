"""Sharding a run across worker processes, past the one-core ceiling of a single process.

A model call is I/O, but litellm spends ~4 ms of CPU on each one (building the request,
logging, cost), so one process tops out near 250 calls a second whatever the concurrency.
Workers are forked, each with its own event loop, its own connections and its own cache
handle (SQLite in WAL mode takes concurrent writers); each takes trials from a shared Dealer
as it has room, runs them through the same code as a single-process run and sends the
trials it finishes back as JSON lines, which the parent writes to results.jsonl and the
progress bar as they arrive.

Only trials that call a model are sharded, and only for models reached over the network
through litellm: a provider that starts a server in the process (``local``) would start one
per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from harness.errors import HarnessError
from harness.providers.limits import split
from harness.records import TrialResult

# Below this many calls per worker, a second process gains less than forking it and piping its results back cost.
MIN_TRIALS_PER_WORKER = 100
# A stopping worker has this long to send what it finished, and this long again to exit before it is killed.
STOP_GRACE_S = 2.0
PARENT_POLL_S = 0.2  # how often a worker checks that its parent is still there
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_count(requested: int | None, pending: int, shardable: bool) -> int:
    """How many processes to use: --workers, else one per core; never more than the work justifies."""
    if not shardable or pending == 0:
        return 1
    wanted = requested if requested is not None else (os.cpu_count() or 1)
    if requested is None:
        wanted = min(wanted, max(1, pending // MIN_TRIALS_PER_WORKER))
    return max(1, min(wanted, pending))


class Dealer:
    """A run's trials, handed out one at a time to whichever worker asks first (the workers inherit it).

    Fixed shards left a core idle while the slower worker finished its last ~0.15 s; taking the
    next trial when free, the workers finish together, and in plan order, near enough.
    """

    def __init__(self, items: Sequence[Any]):
        self.items = items
        self._next = multiprocessing.get_context("fork").Value("q", 0)

    def take(self) -> Any | None:
        """The next item nobody took yet, or None when all are taken."""
        with self._next.get_lock():
            index = self._next.value
            if index >= len(self.items):
                return None
            self._next.value = index + 1
        return self.items[index]


def share(options: Any, index: int, count: int) -> Any:
    """Worker ``index``'s options: its part of the run's concurrency, and its place to take its part of each
    model's limits (see harness.run.engine.Caller)."""
    return replace(options, concurrency=split(options.concurrency, index, count), worker=(index, count))


class _PipeWriter:
    """What a worker writes results to: its pipe to the parent, sent from the event loop's own thread (a
    multiprocessing.Queue's feeder thread would fight it for the GIL).

    The results finished in one turn of the loop go as one message (their JSON lines): a message each
    cost a worker ~5% of its CPU in pipe writes. A message is its kind, a newline, then its body.
    """

    def __init__(self, connection: Any):
        self.connection = connection
        self._lines: list[bytes] = []
        self._failure: BaseException | None = None  # of a flush run by the loop, raised by the next write

    def write(self, result: TrialResult) -> None:
        self._raise_failure()
        self._lines.append(result.to_json().encode())
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not inside a loop: nothing would flush later, so send it now
            self.flush()
            return
        if len(self._lines) == 1:
            loop.call_soon(self._flush_from_loop)

    def flush(self) -> None:
        if self._lines:
            with _ctrl_c_held():  # sent and forgotten together: a Ctrl-C in between would send them twice
                self.connection.send_bytes(b"results\n" + b"\n".join(self._lines))
                self._lines.clear()

    def send(self, kind: str, payload: Any) -> None:
        self.flush()
        with _ctrl_c_held():
            self.connection.send_bytes(kind.encode() + b"\n" + json.dumps(payload).encode())

    def _flush_from_loop(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # the loop would only log it: the worker's next write fails instead
            self._failure = exc

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Ctrl-C waits until the block is done: a message cut in two would garble the pipe for the parent.

    The signal's handler is swapped, not the signal masked: a mask is per thread, and the process's
    other threads (litellm's, the executor's) would take the signal instead. Python runs handlers on
    the main thread only, so elsewhere there is nothing to hold.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


async def first_ctrl_c_only(coroutine: Any) -> Any:
    """Await ``coroutine`` in a worker's event loop with every Ctrl-C after the first ignored.

    A worker gets Ctrl-C twice: the terminal's (it reaches the whole process group) and the one
    the parent passes on. asyncio.run takes the first to cancel the run, but a second it raises as a
    KeyboardInterrupt wherever the worker is: in the cleanup of the trials it cancelled, or in a
    garbage-collector callback, which prints a traceback. The worker is stopping after the first, so
    later ones are ignored, to the end of the process. SIGTERM and SIGHUP come to this same handler
    (see harness.interrupts), so this holds for any mix of the three.
    """
    stop = signal.getsignal(signal.SIGINT)  # asyncio.run's own, which cancels the run
    if threading.current_thread() is not threading.main_thread() or not callable(stop):
        return await coroutine

    def stop_once(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop(signum, frame)

    signal.signal(signal.SIGINT, stop_once)
    try:
        return await coroutine
    finally:
        if signal.getsignal(signal.SIGINT) is stop_once:  # no Ctrl-C came: asyncio.run finds its own and restores
            signal.signal(signal.SIGINT, stop)


def _receive(connection: Any, write: Callable[[TrialResult], None]) -> tuple[str, Any]:
    """Read one message and write the results it carries, as a whole; returns its kind and payload."""
    with _ctrl_c_held():
        kind, _, body = connection.recv_bytes().partition(b"\n")
        if kind == b"results":
            for line in body.split(b"\n"):
                write(TrialResult.from_dict(json.loads(line)))
            return "results", None
        return kind.decode(), json.loads(body)


def run_sharded(count: int, work: Callable[[int, Any], None], write: Callable[[TrialResult], None]) -> None:
    """Fork ``count`` workers, each running ``work(index, writer)``; hand each result to ``write`` as it lands.

    A worker's HarnessError is raised here with its message; a worker that dies without a
    word (killed, out of memory) is an error too, after everything it sent is written. On
    Ctrl-C (or SIGTERM, SIGHUP: see harness.interrupts) the workers stop, what they finished is
    kept, and one that has not exited STOP_GRACE_S later is killed. A worker whose parent is
    killed outright dies with it.
    """
    context = multiprocessing.get_context("fork")
    gc.freeze()  # keep the garbage collector from touching (and so copying) every inherited page in the workers
    processes: list[Any] = []
    pipes: dict[Any, int] = {}  # the parent keeps only the reading ends: EOF tells it a worker is gone
    try:
        for i in range(count):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(work, i, sender, os.getpid()), daemon=True,
                                      name=f"harness-worker-{i}")
            process.start()
            processes.append(process)
            sender.close()
            pipes[receiver] = i
        failure = _collect(pipes, processes, write)
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the workers too; a signal sent to this process alone is passed on.
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        _drain(list(pipes), write)
        raise
    finally:
        gc.unfreeze()
        _reap(processes)
    if failure:
        raise failure


def _collect(pipes: dict[Any, int], processes: list[Any], write: Callable[[TrialResult], None]) -> HarnessError | None:
    """Write the results as they land until every worker has closed its pipe; the first failure, if any."""
    failure: HarnessError | None = None
    done: set[int] = set()
    while pipes:
        for connection in multiprocessing.connection.wait(list(pipes)):
            try:
                kind, payload = _receive(connection, write)
            except EOFError:  # the worker closed its end: finished, or died before saying so
                index = pipes.pop(connection)
                if index not in done and failure is None:
                    processes[index].join(5)
                    failure = HarnessError(f"worker {index} stopped before finishing its trials "
                                           f"(exit code {processes[index].exitcode})")
                continue
            if kind == "done":
                done.add(pipes[connection])
            elif kind == "error" and failure is None:
                done.add(pipes[connection])
                failure = HarnessError(**payload)
    return failure


def _drain(connections: list[Any], write: Callable[[TrialResult], None]) -> None:
    """Write the results stopping workers still send, until each closes its pipe (or STOP_GRACE_S passes)."""
    deadline = time.monotonic() + STOP_GRACE_S
    while connections and (left := deadline - time.monotonic()) > 0:
        for connection in multiprocessing.connection.wait(connections, timeout=left):
            try:
                _receive(connection, write)
            except (EOFError, OSError):
                connections.remove(connection)


def _reap(processes: list[Any]) -> None:
    """Wait for the workers to exit; one still there STOP_GRACE_S later is stuck, and is killed."""
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(1)


def _die_with(parent: int) -> None:
    """End this worker as soon as its parent is gone (killed outright, it could not stop its workers): nobody would
    record what the worker finishes, so it must not go on calling the model. Linux sends it SIGKILL then
    (PR_SET_PDEATHSIG); a thread watching the parent's pid does it elsewhere, and if the parent went first."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="harness-parent-watch").start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os.kill(os.getpid(), signal.SIGKILL)


def _work(work: Callable[[int, Any], None], index: int, connection: Any, parent: int) -> None:
    _die_with(parent)
    writer = _PipeWriter(connection)
    try:
        work(index, writer)
        writer.send("done", None)
    except HarnessError as exc:
        writer.send("error", {"message": exc.message, "file": exc.file, "line": exc.line, "hint": exc.hint})
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopping already (the parent passes its Ctrl-C on too)
        writer.flush()  # what finished is sent; the parent is stopping too
    except BaseException as exc:  # reported by the parent, which keeps what this worker finished
        writer.send("error", {"message": f"{multiprocessing.current_process().name}: {type(exc).__name__}: {exc}"})
        raise SystemExit(1) from None
    finally:
        connection.close()
