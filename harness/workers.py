"""Sharding a run across worker processes, past the one-core ceiling of a single process.

A model call is I/O, but litellm spends ~4 ms of CPU on each one (building the request,
logging, cost), so one process tops out near 250 calls a second whatever the concurrency.
Workers are forked, each with its own event loop, its own connections and its own cache
handle (SQLite in WAL mode takes concurrent writers); each runs its share of the trials
through the same code as a single-process run and sends every finished trial back as one
JSON line, which the parent writes to results.jsonl and the progress bar as it arrives.

Only trials that call a model are sharded, and only for models reached over the network
through litellm: a provider that starts a server in the process (``local``) would start one
per worker.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import queue as queue_module
import signal
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from harness.errors import HarnessError
from harness.results import TrialResult

# Fewer calls than this per worker do not pay for the worker's own litellm import (~2 s of CPU).
MIN_TRIALS_PER_WORKER = 100


def worker_count(requested: int | None, pending: int, shardable: bool) -> int:
    """How many processes to use: --workers, else one per core; never more than the work justifies."""
    if not shardable or pending == 0:
        return 1
    wanted = requested if requested is not None else (os.cpu_count() or 1)
    if requested is None:
        wanted = min(wanted, max(1, pending // MIN_TRIALS_PER_WORKER))
    return max(1, min(wanted, pending))


def shard(items: Sequence[Any], count: int) -> list[list[Any]]:
    """Round-robin shards: a suite's slow cases (often adjacent) spread over every worker."""
    return [list(items[i::count]) for i in range(count)]


def share(options: Any, count: int) -> Any:
    """A worker's part of the run's limits: concurrency and each model's rate limits divided by ``count``."""
    return replace(options, concurrency=max(1, math.ceil(options.concurrency / count)), rate_share=1 / count)


class _QueueWriter:
    """What a worker writes results to: the parent's queue, as JSON lines."""

    def __init__(self, queue: Any):
        self.queue = queue

    def write(self, result: TrialResult) -> None:
        self.queue.put(("result", result.to_json()))


def run_sharded(shards: list[list[Any]], work: Callable[[list[Any], Any], None], write: Callable[[TrialResult], None],
                *, poll_s: float = 0.2) -> None:
    """Fork one worker per shard running ``work(shard, writer)``; hand each result to ``write`` as it lands.

    A worker's HarnessError is raised here with its message; a worker that dies without a
    word (killed, out of memory) is an error too, after everything it sent is written. On
    Ctrl-C the workers (which got the same signal) stop, and what they finished is kept.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_work, args=(work, part, queue), daemon=True, name=f"harness-worker-{i}")
                 for i, part in enumerate(shards)]
    for process in processes:
        process.start()
    finished: set[int] = set()
    failure: HarnessError | None = None
    try:
        while len(finished) < len(processes):
            try:
                kind, payload = queue.get(timeout=poll_s)
            except queue_module.Empty:
                for i, process in enumerate(processes):
                    if i not in finished and not process.is_alive():
                        _drain(queue, write)
                        finished.add(i)
                        failure = failure or HarnessError(f"worker {i} died (exit code {process.exitcode})")
                continue
            if kind == "result":
                write(TrialResult.from_dict(json.loads(payload)))
            else:
                finished.add(payload["worker"])
                if kind == "error":
                    failure = failure or HarnessError(payload["message"], file=payload.get("file"),
                                                      line=payload.get("line"), hint=payload.get("hint"))
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches the workers too; a signal sent to this process alone is passed on.
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(5)
        _drain(queue, write)
        raise
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(5)
    if failure:
        raise failure


def _drain(queue: Any, write: Callable[[TrialResult], None]) -> None:
    """Write whatever results are still queued."""
    while True:
        try:
            kind, payload = queue.get(timeout=0.2)
        except (queue_module.Empty, OSError, ValueError):
            return
        if kind == "result":
            write(TrialResult.from_dict(json.loads(payload)))


def _work(work: Callable[[list[Any], Any], None], part: list[Any], queue: Any) -> None:
    index = int(multiprocessing.current_process().name.rsplit("-", 1)[1])
    try:
        work(part, _QueueWriter(queue))
        queue.put(("done", {"worker": index}))
    except HarnessError as exc:
        queue.put(("error", {"worker": index, "message": exc.message, "file": exc.file, "line": exc.line,
                             "hint": exc.hint}))
    except KeyboardInterrupt:
        queue.put(("done", {"worker": index}))
    except BaseException as exc:  # reported by the parent, which keeps what this worker finished
        queue.put(("error", {"worker": index, "message": f"worker {index}: {type(exc).__name__}: {exc}"}))
    finally:
        queue.close()
        queue.join_thread()
