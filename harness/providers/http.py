"""``http:`` models: any JSON HTTP endpoint, its request a template and its answer found by JSONPath.

The URL and headers may name environment variables (``${MY_KEY}``): one that is unset stops the run
before its first call (``validate`` warns). The body is a sandboxed Jinja template over ``messages``,
``vars`` (the case's), ``params`` (the request parameters, tools among them) and ``prompt`` (the last
user message's text): JSON text, or a mapping whose strings are templates, sent as JSON. The response's
answer, usage and tool calls are read by JSONPath; a response that is not JSON, or a path that finds
nothing, is the trial's error with the response's body (clipped), so the path can be fixed.

Requests go through harness.providers.call like litellm's: the model's limits, retries on 429 and 5xx
after their Retry-After, an endpoint that cannot be reached stopping the run. Credentials (variables
and headers named like key, token or authorization) never enter the cache key or any message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

import jinja2

from harness import jsonpaths, prompts
from harness.errors import HarnessError
from harness.messages import last_user_text
from harness.providers import Endpoint, provider
from harness.providers.endpoint import HttpStatusError
from harness.providers.tool_calls import from_json
from harness.records import Response
from harness.redaction import SECRET_PARAM, mask_url, url_secrets
from harness.spec import HttpSpec, ModelSpec

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
CLIP = 500  # characters of a response body shown in an error
DEFAULT_TIMEOUT_S = 120.0


def _settings(spec: ModelSpec) -> HttpSpec:
    if spec.http is None:
        raise HarnessError(f"model '{spec.model}' needs its settings: write it as `http: {{url: ..., output: ...}}` "
                           "in the suite's models", hint="see docs/providers.md")
    return spec.http


def _written(http: HttpSpec) -> list[tuple[str | None, str]]:
    """(header name, or None for the URL; the text as written) of every place an environment variable may be."""
    return [(None, http.url), *http.headers.items()]


def missing_variables(http: HttpSpec) -> list[str]:
    """The environment variables the URL and headers name that are not set."""
    names = [name for _, text in _written(http) for name in ENV_REFERENCE.findall(text)]
    return [name for name in dict.fromkeys(names) if os.environ.get(name) is None]


def _secret(variable: str, header: str | None) -> bool:
    """A variable named like a credential, or anything in a header named like one, is a secret."""
    return bool(SECRET_PARAM.search(variable) or (header is not None and SECRET_PARAM.search(header)))


def _resolved(text: str, header: str | None, *, public: bool = False) -> str:
    """``text`` with its ``${VAR}`` references replaced from the environment (``public``: secrets left as written)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return match.group(0) if public and _secret(name, header) else os.environ.get(name, match.group(0))

    return ENV_REFERENCE.sub(value, text)


def _secrets(http: HttpSpec) -> tuple[str, ...]:
    """What no message may show: secret variables' values, credential headers' values (and their words: the token
    of "Bearer <token>"), and a password in the URL."""
    found = [os.environ.get(name, "") for header, text in _written(http) for name in ENV_REFERENCE.findall(text)
             if _secret(name, header)]
    for header, value in http.headers.items():
        if SECRET_PARAM.search(header):
            resolved = _resolved(value, header)
            found += [resolved, *resolved.split()]
    return tuple(s for s in dict.fromkeys([*found, *url_secrets(_resolved(http.url, None))]) if len(s) >= 8)


def identity(spec: ModelSpec) -> str:
    """The endpoint for the cache key: method, URL and the headers not named like credentials (secret variables
    left as written, so a rotated key keeps the cache), and the paths the answer is read by (a cached answer is
    the one they read)."""
    http = _settings(spec)
    headers = {k: _resolved(v, k, public=True) for k, v in sorted(http.headers.items())
               if not SECRET_PARAM.search(k)}
    read = [http.output, sorted(http.usage.items()), http.tool_calls]
    return "http:" + json.dumps([http.method, _resolved(http.url, None, public=True), headers, read],
                                ensure_ascii=False)


def check(spec: ModelSpec) -> list[str]:
    return [f"model '{spec.id}' needs {name} in the environment (named in its http: url or headers); harness run "
            "stops before the first call without it" for name in missing_variables(_settings(spec))]


# --- the request body -------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _compiled(source: str) -> prompts.Compiled:
    environment = prompts.Sandbox(undefined=jinja2.StrictUndefined, autoescape=False)
    return prompts.compile_template(environment, source, file="the http: body", name="body")


def _render(value: Any, context: dict[str, Any]) -> Any:
    """A body written as YAML: every string in it rendered (as text), the rest kept."""
    if isinstance(value, str):
        return prompts.render_text(_compiled(value), context, what="the http: body")
    if isinstance(value, dict):
        return {k: _render(v, context) for k, v in value.items()}
    return [_render(v, context) for v in value] if isinstance(value, list) else value


def _sends_json(http: HttpSpec) -> bool:
    given = next((v for k, v in http.headers.items() if k.lower() == "content-type"), None)
    return given is None or "json" in given.lower()


def render_body(spec: ModelSpec, messages: list[dict[str, Any]], params: dict[str, Any],
                variables: dict[str, Any]) -> str | None:
    """The request body for these messages (None for a GET without one); a HarnessError when its template fails,
    or renders what is not JSON for a JSON endpoint."""
    http = _settings(spec)
    if http.body is None:
        return None if http.method == "GET" else json.dumps({"messages": messages, **params}, ensure_ascii=False)
    context = {"messages": messages, "vars": variables, "params": params, "prompt": last_user_text(messages)}
    if not isinstance(http.body, str):
        return json.dumps(_render(http.body, context), ensure_ascii=False)
    body = prompts.render_text(_compiled(http.body), context, what="the http: body")
    if _sends_json(http):
        try:
            json.loads(body)
        except ValueError as exc:
            raise HarnessError(f"the http: body is not JSON ({exc}): {_clip(body)}",
                               hint="write strings into it with the tojson filter: {{ prompt | tojson }}") from None
    return body


# --- the answer ---------------------------------------------------------------------------------------------

def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= CLIP else flat[:CLIP] + "…"


def read_answer(http: HttpSpec, body: str) -> Response:
    """The answer in a response body: its text, usage and tool calls by their paths; what cannot be read is the
    Response's error, with the body (clipped)."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        return Response(text="", error=f"the response is not JSON ({exc}): {_clip(body) or '(empty)'}")
    found, value = jsonpaths.first(http.output, document)
    if not found:
        return Response(text="", error=f"output {http.output} found nothing in the response: {_clip(body)}")
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)
    usage = {name: jsonpaths.first(path, document)[1] for name, path in http.usage.items()}
    calls = from_json(jsonpaths.first(http.tool_calls, document)[1]) if http.tool_calls else []
    return Response(text=text, finish_reason="tool_calls" if calls else "stop", tool_calls=calls,
                    **{name: int(v) for name, v in usage.items() if isinstance(v, int | float) and v >= 0})


def request(spec: ModelSpec, messages: list[dict[str, Any]], params: dict[str, Any],
            variables: dict[str, Any]) -> str | None:
    """What the cache key adds: the rendered body (the method, URL and headers are the identity). A model without
    its settings has none (check says so)."""
    return render_body(spec, messages, params, variables) if spec.http is not None else None


@provider("http", identity=identity, check=check, request=request)
@contextlib.asynccontextmanager
async def open_http(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    """The endpoint, its environment variables read (an unset one stops the run here, before any call)."""
    http = _settings(spec)
    missing = missing_variables(http)
    if missing:
        raise HarnessError(f"model '{spec.id}' needs {' and '.join(missing)} in the environment (named in its http: "
                           "url or headers)", hint="set it (a .env file in the project is read too)")
    import httpx

    url, address = _resolved(http.url, None), mask_url(http.url)
    headers = {k: _resolved(v, k) for k, v in http.headers.items()}
    if http.body is not None or http.method != "GET":
        headers = {"Content-Type": "application/json", **headers} if _sends_json(http) else headers
    timeout = http.timeout_s or spec.params.get("timeout") or DEFAULT_TIMEOUT_S

    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
        async def send(messages: list[dict[str, Any]], params: dict[str, Any], variables: dict[str, Any]) -> Response:
            try:
                body = render_body(spec, messages, params, variables)
            except HarnessError as exc:
                return Response(text="", error=exc.message)
            reply = await client.request(http.method, url, headers=headers, content=body)
            if reply.status_code >= 400:
                raise HttpStatusError(reply.status_code, f"{http.method} {address} answered {reply.status_code}: "
                                      f"{_clip(reply.text)}", reply.headers)
            return read_answer(http, reply.text)

        yield Endpoint(model=spec.id, send=send, address=address, secrets=_secrets(http),
                       tool_calls_from_text=spec.tool_calls_from_text)
