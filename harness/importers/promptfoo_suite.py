"""The suite-wide parts of an imported promptfoo config: its name, the request settings its providers and prompts
carry (tools, tool_choice, response_format: the suite's in harness), and derived metrics.

Tools are written in harness's form ``{name, description, parameters}`` whether promptfoo had them in OpenAI's,
Anthropic's (``input_schema``) or Google's (``functionDeclarations``) shape; files they name are read in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.importers.common import Context
from harness.importers.sources import is_reference

CHOICES = ("auto", "none", "required")
SUITE_LEVEL = {"tools": "tools", "tool_choice": "tool_choice", "response_format": "response_format",
               "responseFormat": "response_format", "functions": "tools"}


def suite_name(path: Path, data: dict[str, Any]) -> str:
    """The config's folder name (and what its file name adds: promptfooconfig.claude.yaml -> <folder>-claude)."""
    name = path.stem
    if name.startswith("promptfooconfig"):
        extra = name.removeprefix("promptfooconfig").strip(".-_")
        name = path.resolve().parent.name + (f"-{extra}" if extra else "")
    return re.sub(r"[^\w.-]+", "-", name).strip("-") or "imported"


def request_settings(request: dict[str, list[Any]], ctx: Context) -> dict[Any, Any]:
    """tools, tool_choice and response_format (for the suite, or a prompt), when every provider giving one agrees."""
    found: dict[Any, Any] = {}
    request = {SUITE_LEVEL[k]: v for k, v in request.items() if k in SUITE_LEVEL}
    for key in ("tools", "tool_choice", "response_format"):
        values = [_load(v, ctx) for v in request.get(key, [])]
        if not values:
            continue
        if any(v != values[0] for v in values):
            found[ctx.left_out(f"{key} (differs between providers)", {key: values},
                               f"harness has one {key} a suite")] = None
            continue
        value = {"tools": _tools, "tool_choice": _choice, "response_format": _response_format}[key](values[0])
        if value is None:
            found[ctx.left_out(key, {key: values[0]}, "a form harness does not have")] = None
            continue
        found[key] = value
    return found


def _load(value: Any, ctx: Context) -> Any:
    """``value`` with each file:// it names replaced by the file's data."""
    if is_reference(value):
        path = ctx.sources.path(value, file=ctx.file)
        return ctx.sources.data(path)[0] if path else value
    if isinstance(value, dict):
        return {k: _load(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_load(v, ctx) for v in value]
    return value


def _response_format(value: Any) -> dict[str, Any] | None:
    """OpenAI's response_format, from its chat form, its Responses form ({type, name, schema}) or a bare schema."""
    if not isinstance(value, dict):
        return None
    if value.get("type") in ("text", "json_object") and set(value) == {"type"}:
        return value
    if value.get("type") == "json_schema":
        inner = value.get("json_schema") if isinstance(value.get("json_schema"), dict) else {
            k: v for k, v in value.items() if k in ("name", "schema", "strict", "description")}
        return {"type": "json_schema", "json_schema": inner} if isinstance(inner.get("schema"), dict) else None
    if value.get("type") == "object" and isinstance(value.get("properties"), dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    return None


def _tools(tools: Any) -> list[dict[str, Any]] | None:
    if not isinstance(tools, list):
        return None
    found: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            return None
        if isinstance(tool.get("functionDeclarations"), list):
            found += [_tool(t) for t in tool["functionDeclarations"]]
        elif tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            found.append(_tool(tool["function"]))
        elif isinstance(tool.get("definition"), dict):  # Adaline's form
            found.append(_tool(tool["definition"].get("schema")))
        elif "name" in tool and tool.get("type", "function") in ("function", "custom"):
            found.append(_tool(tool))
        else:
            return None
    return found if found and all(found) else None


def _tool(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return {}
    tool = {"name": spec["name"]}
    if spec.get("description"):
        tool["description"] = spec["description"]
    parameters = spec.get("parameters", spec.get("input_schema"))
    if isinstance(parameters, dict):
        tool["parameters"] = _lower_types(parameters)
    return tool


def _lower_types(schema: Any) -> Any:
    """Google's schemas name types in capitals (STRING, OBJECT): JSON Schema's are lower case."""
    if isinstance(schema, dict):
        return {k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _choice(choice: Any) -> Any:
    if choice in CHOICES:
        return choice
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else \
            choice.get("name")
        if isinstance(name, str):
            return {"name": name}
        if choice.get("type") in ("any", "auto"):
            return "required" if choice["type"] == "any" else "auto"
    return None


def derived_metrics(value: Any, ctx: Context) -> dict[Any, Any]:
    """promptfoo's derivedMetrics (mathjs expressions over named metrics) as harness's derived_metrics."""
    if not isinstance(value, list) or not value:
        return {}
    found: dict[str, str] = {}
    left = []
    for metric in value:
        expression = metric.get("value") if isinstance(metric, dict) else None
        if not isinstance(expression, str) or "function" in expression or "=>" in expression or not isinstance(
                metric.get("name"), str):
            left.append(ctx.left_out("derived metric (JavaScript)", metric, "harness takes Python expressions"))
            continue
        found[metric["name"]] = expression.replace("^", "**")
    result: dict[Any, Any] = {}
    if found:
        result["derived_metrics"] = found
    result.update({comment: None for comment in left})
    return result
