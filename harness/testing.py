"""Real HTTP servers on 127.0.0.1 with scripted answers, for tests and benchmarks: an OpenAI-compatible one
(FakeLLMServer) and a JSON API of any shape (JSONEndpointServer, for ``http:`` models).

Calls reach it through litellm over HTTP exactly as they would reach a hosted model, so a
test exercises the whole path. A responder decides each answer from the request and can
inject latency, rate limits (with Retry-After), server errors and malformed bodies; the
server records every request it receives, so tests can prove what was (not) called.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw_body: str | None = None  # sent as is: for malformed responses
    # Tool calls to answer with: {"name": ..., "arguments": {...} or a raw string, "id": optional}.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


Responder = Callable[[dict[str, Any]], "Reply | str"]


def last_user_message(request: dict[str, Any]) -> str:
    """The text of the request's last user message (its text parts joined, for content given as parts)."""
    content = next((m["content"] for m in reversed(request.get("messages", [])) if m.get("role") == "user"), "")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


class _ServerThread:
    """An aiohttp application served on a free 127.0.0.1 port by an event loop on a thread of its own."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self):
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True,
                                        name=f"{type(self).__name__}-thread")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the {type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()


class FakeLLMServer(_ServerThread):
    def __init__(self, responder: Responder | None = None, *, latency_s: float = 0.0):
        super().__init__()
        self.responder = responder or (lambda _request: "ok")
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []  # the Authorization header of each request, to prove a key was sent
        self.embedding_requests: list[dict[str, Any]] = []
        # Chat requests being answered now, and the most at once: counted until the reply is ready to send,
        # so a client sending its next request on a reply is never counted twice.
        self.in_flight = 0
        self.peak_in_flight = 0
        # The batch API: uploaded and produced files, batches (each finished batch_delay_s after creation).
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_requests: list[dict[str, Any]] = []
        self.batch_polls = 0
        self.batch_delay_s = 0.5
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> FakeLLMServer:
        return super().start()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{file_id}/content", self._file_content)
        app.router.add_post("/v1/batches", self._create_batch)
        app.router.add_get("/v1/batches/{batch_id}", self._batch)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.authorizations.append(request.headers.get("Authorization", ""))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            reply = self._reply(body)
            delay = self.latency_s + reply.delay_s
            if delay:
                await asyncio.sleep(delay)
            if reply.raw_body is not None:
                return web.Response(text=reply.raw_body, status=reply.status, headers=reply.headers,
                                    content_type="application/json")
            return web.json_response(self._completion(body, reply), status=reply.status, headers=reply.headers)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _reply(self, body: dict[str, Any]) -> Reply:
        reply = self.responder(body)
        return Reply(text=reply) if isinstance(reply, str) else reply

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The JSON body of a chat completion (or of its error) for ``reply``."""
        if reply.status != 200:
            return {"error": {"message": reply.text or f"injected status {reply.status}", "type": "injected"}}
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.tool_calls:
            message["content"] = reply.text or None
            message["tool_calls"] = [
                {"id": call.get("id", f"call-{len(self.requests)}-{i}"), "type": "function",
                 "function": {"name": call["name"], "arguments": call["arguments"] if isinstance(call["arguments"], str)
                              else json.dumps(call["arguments"])}} for i, call in enumerate(reply.tool_calls)]
        return {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(reply.text.split()),
                      "total_tokens": prompt_tokens + len(reply.text.split())},
        }

    # --- OpenAI's batch API: upload a JSONL file, create a batch, poll it, download the output ------------

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        content = upload.file.read() if hasattr(upload, "file") else bytes(upload)
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content
        return web.json_response({"id": file_id, "object": "file", "bytes": len(content),
                                  "created_at": int(time.time()), "purpose": form["purpose"], "status": "processed",
                                  "filename": getattr(upload, "filename", "batch.jsonl")})

    async def _create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            batch_id = f"batch-{len(self.batches) + 1}"
            self.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"],
                                      "input_file_id": body["input_file_id"], "completion_window": "24h",
                                      "status": "in_progress", "created_at": int(time.time()),
                                      "request_counts": {"total": 0, "completed": 0, "failed": 0}}
        self._loop.call_later(self.batch_delay_s, self._finish_batch, batch_id)
        return web.json_response(self.batches[batch_id])

    def _finish_batch(self, batch_id: str) -> None:
        """Answer every line of the batch's input file with the responder, as the provider would, later."""
        batch = self.batches[batch_id]
        outputs, errors = [], []
        for line in self.files[batch["input_file_id"]].decode().split("\n"):
            if not line.strip():
                continue
            item = json.loads(line)
            with self._lock:
                self.requests.append(item["body"])
                self.batch_requests.append(item["body"])
            reply = self._reply(item["body"])
            record = {"id": f"req-{len(outputs) + len(errors)}", "custom_id": item["custom_id"],
                      "response": {"status_code": reply.status, "body": self._completion(item["body"], reply)},
                      "error": None}
            (outputs if reply.status == 200 else errors).append(json.dumps(record))
        with self._lock:
            batch["output_file_id"] = f"file-{len(self.files) + 1}"
            self.files[batch["output_file_id"]] = ("\n".join(outputs) + "\n").encode()
            if errors:
                batch["error_file_id"] = f"file-{len(self.files) + 1}"
                self.files[batch["error_file_id"]] = ("\n".join(errors) + "\n").encode()
            batch.update(status="completed", completed_at=int(time.time()),
                         request_counts={"total": len(outputs) + len(errors), "completed": len(outputs),
                                         "failed": len(errors)})

    async def _batch(self, request: web.Request) -> web.Response:
        with self._lock:
            self.batch_polls += 1
        return web.json_response(self.batches[request.match_info["batch_id"]])

    async def _file_content(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["file_id"]], content_type="application/octet-stream")

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self.embedding_requests.append(body)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": bag_of_words_vector(t)} for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response({"object": "list", "data": data, "model": body.get("model", "fake"),
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@dataclass(frozen=True)
class HttpReply:
    """What a JSONEndpointServer answers: ``body`` as JSON (a str is sent as it is: for bodies that are not JSON)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class JSONEndpointServer(_ServerThread):
    """A JSON HTTP API of any shape on 127.0.0.1, for ``http:`` models: every request, at any path and with any
    method, is recorded ({method, path, headers, body, json}) and answered by ``responder(request)``, which returns
    an HttpReply or a JSON value to send with status 200."""

    def __init__(self, responder: Callable[[dict[str, Any]], Any]):
        super().__init__()
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> JSONEndpointServer:
        return super().start()

    def _routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        recorded = {"method": request.method, "path": request.path, "headers": dict(request.headers), "body": text,
                    "json": parsed}
        with self._lock:
            self.requests.append(recorded)
        reply = self.responder(recorded)
        reply = reply if isinstance(reply, HttpReply) else HttpReply(body=reply)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        return web.Response(text=body, status=reply.status, headers=reply.headers, content_type="application/json")


def bag_of_words_vector(text: str, dimensions: int = 64) -> list[float]:
    """A deterministic stand-in embedding: texts sharing words point the same way."""
    import hashlib
    import re

    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.casefold()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    return vector


def score_output(spec: Any, output: str, case: Any = None, *, response: Any = None, judge: Any = None,
                 directory: Any = None) -> Any:
    """Run one scorer on one output, outside any run: for testing a scorer (yours or ours) on hand-made inputs.

    ``spec`` is what a suite would write (``"contains"`` or ``{"type": "rouge1"}``); returns the Score, or None
    when the scorer does not apply to the case.
    """
    from pathlib import Path

    from harness.records import Response
    from harness.scorers import ScoringContext, apply
    from harness.spec import Case, ScorerSpec

    case = Case() if case is None else Case.model_validate(case) if isinstance(case, dict) else case
    context = ScoringContext(response=response or Response(text=output), directory=Path(directory or Path.cwd()),
                             messages=[{"role": "user", "content": "(test)"}], judge=judge)
    return asyncio.run(apply(ScorerSpec.model_validate(spec), output, case, context))


def synthetic_run(directory: Any, cases: int, variants: Sequence[tuple[str, str]] = (("a", "m"), ("b", "m")),
                  *, seed: int = 0, output_words: int = 30) -> Any:
    """A stored run of ``cases`` x ``variants`` made-up trials, for report and scale tests (no model is called)."""
    import random
    from pathlib import Path

    from harness.metrics import summarize
    from harness.records import ModelRef, Response, RunConfig, RunManifest, Score, SuiteRef, TrialResult
    from harness.results import ResultsWriter, load_run, write_manifest

    rng = random.Random(seed)
    words = ["good", "bad", "pasta", "service", "cold", "warm", "wait", "price", "table", "dessert"]
    directory = Path(directory)
    writer = ResultsWriter(directory)
    facts = []  # what the metrics need, not every result: a big synthetic run is made in little memory
    for i in range(cases):
        review = " ".join(rng.choice(words) for _ in range(12))
        for prompt_id, model_id in variants:
            passed = rng.random() < (0.7 if prompt_id == variants[0][0] else 0.8)
            text = " ".join(rng.choice(words) for _ in range(output_words))
            result = TrialResult(
                case_id=f"case-{i:05d}", prompt_id=prompt_id, model_id=model_id, repeat=0,
                messages=[{"role": "system", "content": "You label restaurant reviews."},
                          {"role": "user", "content": f"Review: {review}"}],
                vars={"review": review}, expected="positive", tags=["synthetic"] if i % 10 == 0 else [],
                response=Response(text=text, latency_ms=rng.uniform(200, 900), prompt_tokens=40, completion_tokens=30),
                scores=[Score(name="label", value=float(passed), passed=passed, threshold=1.0,
                              explanation="predicted positive" if passed else "predicted negative")])
            writer.write(result)
            facts.append(result.facts())
    writer.close()
    write_manifest(directory, RunManifest(
        harness_version="synthetic", status="completed", started_at="2026-01-01T00:00:00+00:00",
        suite=SuiteRef(name="synthetic"), passed=True, variants=summarize(facts),
        config=RunConfig(models=[ModelRef(id=m, model=m) for m in dict.fromkeys(m for _, m in variants)],
                         models_from="synthetic")))
    return load_run(directory)
