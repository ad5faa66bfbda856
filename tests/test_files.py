"""Folder locks: one holder at a time, named to whoever is refused, released however the holder ends."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from harness.errors import HarnessError
from harness.files import LOCK_FILE, folder_lock


def _hold_then_die(directory, connection) -> None:
    """Take the lock, fork a child that lives on (as a worker would), and die without releasing anything."""
    with folder_lock(directory):
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        connection.send((os.getpid(), child))
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_held_folder_is_refused_with_its_holder_and_free_again_once_released(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()

    def hold() -> None:
        with folder_lock(tmp_path):
            ready.set()
            release.wait(30)

    holder = context.Process(target=hold)
    holder.start()
    assert ready.wait(30)
    with pytest.raises(HarnessError) as refused:
        with folder_lock(tmp_path):
            pass
    release.set()
    holder.join(30)
    assert f"{tmp_path} is being written by pid {holder.pid} (" in str(refused.value)
    assert not (tmp_path / LOCK_FILE).exists()  # removed on release
    with folder_lock(tmp_path):
        assert f'"pid":{os.getpid()}' in (tmp_path / LOCK_FILE).read_text()


def test_a_killed_holders_lock_is_free_at_once_though_a_child_it_forked_lives_on(tmp_path):
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    holder = context.Process(target=_hold_then_die, args=(tmp_path, sender))
    holder.start()
    _, child = receiver.recv()
    holder.join()  # no timeout: the child keeps the pipe a timed join watches open (it waits for the pid instead)
    try:
        assert holder.exitcode == -signal.SIGKILL and (tmp_path / LOCK_FILE).exists()  # left behind, but not held
        with folder_lock(tmp_path):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
