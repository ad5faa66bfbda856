"""A model under test as a suite writes it: a litellm model string, the bundled model, an http: endpoint or
a python: function, with its params and limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from harness.spec._base import Strict, check_params, check_reference


def check_json_path(path: str) -> str:
    """``path`` if it is a JSONPath (jsonpath-ng's extended syntax), else a ValueError saying where it is not."""
    from harness.jsonpaths import compile_path

    compile_path(path)
    return path


HTTP_METHODS = ("POST", "PUT", "PATCH", "GET")


class HttpSpec(Strict):
    """Any JSON HTTP endpoint as a model: the request (``${ENV}`` references in the URL and headers, the body a
    sandboxed Jinja template over messages, vars, params and prompt) and JSONPaths to the answer in its response.
    Templates and paths are parsed here, so a syntax error fails at load at its own line."""

    url: str = Field(min_length=1)
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    # JSON text (a template), or a mapping/list whose strings are templates; None: {"messages": ..., **params}.
    body: str | dict[str, Any] | list[Any] | None = None
    output: str
    usage: dict[Literal["prompt_tokens", "completion_tokens"], str] = Field(default_factory=dict)
    tool_calls: str | None = None
    timeout_s: float | None = Field(default=None, gt=0)

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method.upper() not in HTTP_METHODS:
            raise ValueError(f"method is one of {', '.join(HTTP_METHODS)}, not {method!r}")
        return method.upper()

    @field_validator("url")
    @classmethod
    def _a_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://", "${")):
            raise ValueError(f"url must start with http:// or https://, not {url!r}")
        return url

    @field_validator("body")
    @classmethod
    def _templates_parse(cls, body: Any) -> Any:
        for text in _strings(body):
            check_template_syntax(text)
        return body

    @field_validator("output", "tool_calls")
    @classmethod
    def _a_path(cls, path: str | None) -> str | None:
        return path if path is None else check_json_path(path)

    @field_validator("usage")
    @classmethod
    def _paths(cls, usage: dict[str, str]) -> dict[str, str]:
        return {name: check_json_path(path) for name, path in usage.items()}


def _strings(value: Any) -> list[str]:
    """Every string in a YAML value (a body's templates)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return [s for v in value for s in _strings(v)] if isinstance(value, list) else []


def check_template_syntax(source: str) -> str:
    """``source`` if Jinja can parse it, else a ValueError naming the line of the template."""
    import jinja2

    try:
        jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"template syntax error (line {exc.lineno} of the template): {exc.message}") from None
    return source


class ModelSpec(Strict):
    """A model under test: any litellm model string, ``local`` for the bundled model, an ``http:`` endpoint or a
    ``python:`` function (``file.py:function`` or ``module:function``), which set ``model`` to ``http``/``python``."""

    id: str = ""
    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    http: HttpSpec | None = None
    python: str | None = None
    # Read tool calls the model writes as JSON in its text (small self-hosted models do; on for `local`).
    tool_calls_from_text: bool = False
    # Limits for this model: requests at once (else the run's -j), requests and tokens per minute.
    concurrency: int | None = Field(default=None, ge=1)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)

    # The python: model's function, once the suite has imported it (see harness.suite).
    _function: Any = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"model": data}
        if isinstance(data, dict) and "model" not in data:
            kinds = [kind for kind in ("http", "python") if data.get(kind) is not None]
            if len(kinds) > 1:
                raise ValueError("a model is http: or python:, not both")
            if kinds:
                return {**data, "model": kinds[0]}
        return data

    _params_types = field_validator("params")(classmethod(lambda cls, v: check_params(v)))
    _python_reference = field_validator("python")(classmethod(lambda cls, v: check_reference(v)))

    @model_validator(mode="after")
    def _default_id(self) -> ModelSpec:
        for kind in ("http", "python"):
            if getattr(self, kind) is not None and self.model != kind:
                raise ValueError(f"an {kind} model is written `{kind}: ...` alone, without model:")
        if not self.id:
            object.__setattr__(self, "id", self.python or self.model)
        return self


