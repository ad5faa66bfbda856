"""promptfoo's providers as harness models: provider ids as litellm model strings (``openai:gpt-4o-mini`` ->
``openai/gpt-4o-mini``), labels as model ids, config as request params, and an HTTP provider as an ``http:`` model.

A provider's ``tools``, ``tool_choice`` and ``response_format`` are the suite's in harness (they shape the request,
whoever answers it): they are returned apart for the suite. Credentials (``apiKey``) are not copied: litellm reads
them from the environment. Options harness does not know are listed in a comment on the model, never sent.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.importers.common import Comment, Context, unique, without_secrets
from harness.importers.javascript import translate
from harness.importers.promptfoo_suite import SUITE_LEVEL

# promptfoo's provider prefix -> litellm's.
PREFIXES = {
    "openai": "openai", "anthropic": "anthropic", "azure": "azure", "azureopenai": "azure", "bedrock": "bedrock",
    "vertex": "vertex_ai", "google": "gemini", "mistral": "mistral", "groq": "groq", "openrouter": "openrouter",
    "perplexity": "perplexity", "xai": "xai", "deepseek": "deepseek", "togetherai": "together_ai",
    "fireworks": "fireworks_ai", "cohere": "cohere_chat", "replicate": "replicate", "huggingface": "huggingface",
    "cerebras": "cerebras", "sagemaker": "sagemaker", "watsonx": "watsonx", "databricks": "databricks",
    "ollama": "ollama", "hyperbolic": "hyperbolic", "nscale": "nscale", "cometapi": "cometapi", "aimlapi": "aiml",
    "cloudflare-ai": "cloudflare", "voyage": "voyage", "deepinfra": "deepinfra", "github": "github",
    "llamafile": "llamafile", "lmstudio": "lm_studio", "vllm": "hosted_vllm",
}
# The API word after the prefix: dropped, or (for these) it picks litellm's provider.
API_WORDS = {"chat", "completion", "messages", "responses", "embedding", "embeddings", "text-generation", "converse"}
SPECIAL_APIS = {("openai", "completion"): "text-completion-openai", ("ollama", "chat"): "ollama_chat",
                ("bedrock", "converse"): "bedrock/converse"}
# APIs of a provider that are not chat models (assistants, speech, images, agents, knowledge bases, ...).
OTHER_APIS = {"assistant", "assistants", "realtime", "image", "images", "live", "agent", "agents", "kb", "video",
              "audio", "transcription", "moderation", "classification", "sentence-similarity", "feature-extraction",
              "nova-sonic", "tts", "speech", "token-classification"}
PARAMS = {"temperature", "top_p", "max_tokens", "max_completion_tokens", "seed", "stop", "presence_penalty",
          "frequency_penalty", "n", "reasoning_effort", "top_k", "thinking", "extra_body", "user", "logprobs",
          "top_logprobs", "parallel_tool_calls", "min_p", "repetition_penalty", "timeout"}
RENAMED = {"maxTokens": "max_tokens", "max_output_tokens": "max_tokens", "maxOutputTokens": "max_tokens",
           "max_new_tokens": "max_tokens", "max_gen_len": "max_tokens", "num_predict": "max_tokens",
           "topP": "top_p", "topK": "top_k", "region": "aws_region_name", "apiBaseUrl": "api_base",
           "baseUrl": "api_base", "apiHost": "api_base", "apiVersion": "api_version", "stopSequences": "stop",
           "stop_sequences": "stop"}
NESTED = ("generationConfig", "inferenceConfig")
CREDENTIALS = ("apiKey", "apiKeyEnvar", "accessKeyId", "secretAccessKey", "sessionToken", "api_key")
_ENV = re.compile(r"\{\{\s*env\.(\w+)\s*\}\}")
HTTP_KEYS = {"url", "method", "headers", "body", "transformResponse", "maxRetries", "timeout"}


def model_name(provider: str) -> str | None:
    """The litellm model string for a promptfoo provider id, or None when it is not a model litellm serves."""
    if provider == "echo":
        return "echo"
    prefix, _, rest = provider.partition(":")
    api, _, model = rest.partition(":")
    if prefix == "adaline":  # a gateway: adaline:openai:chat:gpt-4o is openai's gpt-4o
        return model_name(rest) if api != "adaline" else None
    if prefix == "litellm":
        return (model if api in API_WORDS else rest) or None
    if prefix not in PREFIXES or not rest or api in OTHER_APIS:
        return None
    if prefix == "sagemaker":  # sagemaker:[model type:]endpoint
        return f"sagemaker/{rest.rpartition(':')[2]}"
    if api in API_WORDS and model:
        return f"{SPECIAL_APIS.get((prefix, api), PREFIXES[prefix])}/{model}"
    return f"{PREFIXES[prefix]}/{rest}"


def providers(value: Any, ctx: Context) -> tuple[list[Any], dict[str, Any]]:
    """The models (dicts, or Comments for providers left out) and the suite-level request settings they carried."""
    if value is None:
        return [], {}
    if isinstance(value, str | dict) and not (isinstance(value, dict) and "id" in value):
        value = [value] if isinstance(value, str) else [{"id": k, **(v or {})} for k, v in value.items()]
    models: list[Any] = []
    suite_level: dict[str, Any] = {}
    taken: set[str] = set()
    for provider in value if isinstance(value, list) else [value]:
        models.append(_model(provider, ctx, taken, suite_level))
    return models, suite_level


def _model(provider: Any, ctx: Context, taken: set[str], suite_level: dict[str, Any]) -> Any:
    identifier = provider if isinstance(provider, str) else provider.get("id") if isinstance(provider, dict) else None
    if not isinstance(identifier, str):
        return ctx.left_out("provider", provider, "a provider is an id or a mapping with id:")
    options = provider if isinstance(provider, dict) else {}
    config = options.get("config") if isinstance(options.get("config"), dict) else {}
    label = options.get("label")
    if identifier in ("http", "https") or identifier.startswith(("http://", "https://")):
        return _http(identifier, label, config, ctx, taken, options)
    name = model_name(identifier)
    if name is None:  # its tools and response format still shape the requests of whichever model runs
        for key in SUITE_LEVEL.keys() & config.keys():
            suite_level.setdefault(key, []).append(config[key])
        kind = "provider " + (identifier.split(":")[0] if not identifier.startswith("file://") else
                              "file://" + identifier.rpartition(".")[2].split(":")[0])
        return ctx.left_out(kind, provider, "harness has no model like it")
    params, dropped = _params(config, ctx, suite_level)
    model: dict[str, Any] = {"id": unique(str(label or name), taken), "model": name}
    if params:
        model["params"] = params
    if dropped:
        ctx.tally.other["provider option"] += 1
        model[Comment((f"provider options not carried over: {', '.join(dropped)}",))] = None
    if model["id"] == name:
        del model["id"]
    return model if len(model) > 1 else name


def _params(config: dict[str, Any], ctx: Context, suite_level: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    params: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in config.items():
        if key in NESTED and isinstance(value, dict):
            inner, lost = _params(value, ctx, suite_level)
            params.update(inner)
            dropped += [f"{key}.{k}" for k in lost]
        elif key in SUITE_LEVEL:
            suite_level.setdefault(key, []).append(value)
        elif key in PARAMS or key in RENAMED:
            name = RENAMED.get(key, key)
            if key == "apiHost" and isinstance(value, str) and "://" not in value:
                value = f"https://{value}"  # promptfoo's apiHost is the host alone
            if name != "api_base" or (isinstance(value, str) and value.startswith(("http://", "https://"))):
                params[name] = value
            else:
                dropped.append(key)
        elif key not in CREDENTIALS:
            dropped.append(key)
    return params, dropped


def _http(identifier: str, label: Any, config: dict[str, Any], ctx: Context, taken: set[str],
          provider: dict[str, Any]) -> Any:
    """promptfoo's HTTP provider as an ``http:`` model: body as a Jinja template of JSON, the answer by JSONPath."""
    url = config.get("url") or (identifier if "://" in identifier else None)
    odd = sorted(set(config) - HTTP_KEYS)
    output = _json_path(config.get("transformResponse"))
    body = _body(config.get("body"))
    if not isinstance(url, str) or odd or body is None or (config.get("transformResponse") and output is None):
        reason = f"it uses {', '.join(odd)}" if odd else "its body or response transform is not a plain template"
        return ctx.left_out("provider http", provider, reason)
    http: dict[str, Any] = {"url": url, "method": str(config.get("method", "POST")).upper()}
    if isinstance(config.get("headers"), dict):
        http["headers"] = {k: _header(k, v) for k, v in config["headers"].items()}
    http["body"] = body
    if output:
        http["output"] = output
    return {"id": unique(str(label or "http"), taken), "http": http}


def _header(name: str, value: Any) -> str:
    """A header's value, environment references as harness writes them; a credential written out in the config is
    not copied: the header reads it from an environment variable named after it instead."""
    text = _ENV.sub(r"${\1}", str(value))
    if "${" not in text and without_secrets({name: text})[name] != text:
        return "${" + re.sub(r"\W", "_", name).upper() + "}"
    return text


def _json_path(transform: Any) -> str | None:
    """A transformResponse that only walks the JSON answer (``json.choices[0].message.content``) as a JSONPath."""
    if not isinstance(transform, str):
        return None
    text = re.sub(r"^\s*\(?\s*json\s*\)?\s*=>\s*", "", transform.strip())
    if not re.fullmatch(r"json(\.[A-Za-z_]\w*|\[\d+\]|\[(['\"])[^'\"]+\2\])*", text):
        return None
    return "$" + re.sub(r"\[(['\"])([^'\"]+)\1\]", r".\2", text[4:])


def _body(body: Any) -> str | None:
    """promptfoo's request body (JSON whose strings are Nunjucks templates) as one Jinja template of JSON text."""
    if isinstance(body, str):
        return _jinja_value(body) if "{{" in body else json.dumps(body)
    if isinstance(body, dict):
        items = [(json.dumps(k), _body(v)) for k, v in body.items()]
        return None if any(v is None for _, v in items) else "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(body, list):
        items = [_body(v) for v in body]
        return None if any(v is None for v in items) else "[" + ", ".join(items) + "]"
    return json.dumps(body) if body is not None else None


def _jinja_value(text: str) -> str | None:
    """A template string as one Jinja expression printing a JSON string: ``{{ ("a" ~ x) | tojson }}``."""
    pieces = []
    for part in re.split(r"(\{\{.*?\}\})", text):
        if not part.startswith("{{"):
            if part:
                pieces.append(json.dumps(part))
            continue
        found = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", part)
        if found is None or "{%" in text:
            return None
        name = found.group(1)
        pieces.append("messages[-1].content" if name == "prompt" else f"vars.{name}")
    return "{{ (" + " ~ ".join(pieces) + ") | tojson }}"


def transform_of(transform: Any) -> Any:
    """A promptfoo output transform (JavaScript over ``output``) as a harness transform, or None."""
    if not isinstance(transform, str) or transform.startswith("file://"):
        return None
    simple = {"JSON.parse(output)": "json", "output.trim()": "strip", "output.toLowerCase()": "lower"}
    if transform.strip().rstrip(";") in simple:
        return simple[transform.strip().rstrip(";")]
    found = translate(transform, value=True)
    return {"python": found.expr} if found.expr else None
