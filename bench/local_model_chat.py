"""What the bundled local model does with structured output and tools, measured through harness's own call path.

    python bench/local_model_chat.py [--n 10]

For each of N requests: ``response_format: json_object`` (is the answer JSON?), a strict ``json_schema`` (does
it fit?), and a tool the question needs (how many answers carry native ``tool_calls``, how many write the call
as text that harness's opt-in parser reads, and how many of those name the right tool with the right id), with
``tool_choice`` auto and required. It starts the bundled llama.cpp server once (the ``[local]`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from harness.chat import Tool  # noqa: E402
from harness.providers import EndpointPool  # noqa: E402
from harness.providers.call import RetryPolicy, complete  # noqa: E402
from harness.spec import ModelSpec  # noqa: E402

ORDER = Tool(name="get_order", description="Look up an order by its id.",
             parameters={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]})
SCHEMA = {"type": "object", "properties": {"status": {"type": "string", "enum": ["shipped", "late"]},
                                           "days": {"type": "integer"}},
          "required": ["status", "days"], "additionalProperties": False}


async def measure(n: int) -> dict[str, str]:
    policy = RetryPolicy(retries=1, timeout_s=120)
    async with EndpointPool() as pool:
        endpoint = await pool.get(ModelSpec(model="local"))

        async def ask(text: str, params: dict) -> object:
            return await complete(endpoint, [{"role": "user", "content": text}], {"temperature": 0, **params}, policy)

        counts = {"json_object valid": 0, "json_schema fits": 0}
        for i in range(n):
            reply = await ask(f"Give a JSON object describing order {i} with a status and a day count.",
                              {"response_format": {"type": "json_object"}, "max_tokens": 80})
            counts["json_object valid"] += _is_json(reply.text)
            reply = await ask(f"Order {i} is late by {i + 2} days. Report it.",
                              {"response_format": {"type": "json_schema", "json_schema": {
                                  "name": "order", "strict": True, "schema": SCHEMA}}, "max_tokens": 80})
            counts["json_schema fits"] += _fits(reply.text)
        for choice in ("auto", "required"):
            native = text = right = 0
            for i in range(n):
                reply = await ask(f"Where is my order B-{i}? Look it up.",
                                  {"tools": [ORDER.openai()], "tool_choice": choice, "max_tokens": 80})
                native += bool(reply.tool_calls) and not reply.tool_calls_from_text
                text += reply.tool_calls_from_text
                right += any(c.name == "get_order" and (c.arguments or {}).get("id") == f"B-{i}"
                             for c in reply.tool_calls)
            counts[f"tools ({choice}): native tool_calls"] = native
            counts[f"tools ({choice}): calls read from text"] = text
            counts[f"tools ({choice}): right tool and id"] = right
    return {name: f"{value}/{n}" for name, value in counts.items()}


def _is_json(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _fits(text: str) -> bool:
    import jsonschema

    try:
        jsonschema.validate(json.loads(text), SCHEMA)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    for name, value in asyncio.run(measure(parser.parse_args().n)).items():
        print(f"{name:42} {value}")


if __name__ == "__main__":
    main()
