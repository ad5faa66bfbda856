"""Chat as a suite writes it: messages and their content parts, few-shot examples, tools, the response format.

Typed, frozen records, each accepting the short form a person writes (``- user: "..."``) and the
OpenAI form a conversation copied from its docs already has (``{role: user, content: ...}``,
``{type: function, function: {...}}``), so either loads unchanged.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

ROLES = ("system", "user", "assistant", "tool")
Role = Literal["system", "user", "assistant", "tool"]
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI (and so most providers) accept


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` if it is a valid JSON Schema (draft 2020-12), else a ValueError saying where it is not."""
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
    return schema


class Part(_Strict):
    """A piece of a message's content: text, or an image (a file of the project, or a URL); both templates."""

    text: str | None = None
    image: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _openai_form(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"text": data}
        if isinstance(data, dict) and "type" in data:
            if data["type"] == "text":
                return {"text": data.get("text")}
            if data["type"] == "image_url":
                image = data.get("image_url")
                return {"image": image.get("url") if isinstance(image, dict) else image}
            raise ValueError(f"content part type '{data['type']}' is not one harness sends (text, image_url)")
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Part:
        if (self.text is None) == (self.image is None):
            raise ValueError("a content part is {text: ...} or {image: ...}")
        return self


Content = str | list[Part]


class Message(_Strict):
    """One message: ``{user: "..."}`` (or system, assistant, tool), or OpenAI's ``{role, content}``."""

    role: Role
    content: Content | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's calls, in a conversation copied as it was

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "role" not in data:
            roles = [key for key in data if key in ROLES]
            if len(roles) != 1:
                raise ValueError("a message is one of system:, user:, assistant:, tool: (or role: and content:)")
            role = roles[0]
            rest = {k: v for k, v in data.items() if k != role}
            return {"role": role, "content": data[role], **rest}
        return data

    @model_validator(mode="after")
    def _has_content(self) -> Message:
        if self.content is None and not self.tool_calls:
            raise ValueError(f"a {self.role} message needs content")
        return self


class FewShot(_Strict):
    """Worked examples from a data file (read like a cases file), each a user message and the assistant's answer.

    Each row's vars and expected are what the two templates see; the case under test (same id) is
    never one of its own examples. The first ``k`` rows, or with a ``seed`` a random ``k``.
    """

    source: str = Field(alias="from")
    user: str
    assistant: str = "{{ expected }}"
    k: int | None = Field(default=None, ge=1)
    seed: int | None = None


class FewShotItem(_Strict):
    few_shot: FewShot


def _message_kind(value: Any) -> str:
    few_shot = isinstance(value, FewShotItem) or (isinstance(value, dict) and "few_shot" in value)
    return "FewShot" if few_shot else "Message"


# A message, or few-shot examples standing for some: told apart by their key, so an error is about the one meant.
MessageItem = Annotated[Annotated[FewShotItem, Tag("FewShot")] | Annotated[Message, Tag("Message")],
                        Discriminator(_message_kind)]


class Tool(_Strict):
    """A function the model may call. ``result`` (a template over ``args`` and the case's vars) or ``python``
    (``module:function`` or ``file.py:function``, called with the parsed arguments) answers it, so the
    harness runs the tool loop; with neither, the model's calls are recorded and scored, not answered."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    result: str | None = None
    python: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _openai_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "function" and isinstance(data.get("function"), dict):
            return {**data["function"], **{k: v for k, v in data.items() if k not in ("type", "function")}}
        return data

    @field_validator("name")
    @classmethod
    def _a_name_providers_take(cls, name: str) -> str:
        if not TOOL_NAME.match(name):
            raise ValueError(f"a tool name is 1-64 letters, digits, _ or -, not {name!r}")
        return name

    @field_validator("parameters")
    @classmethod
    def _a_schema(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        return check_json_schema(parameters)

    @model_validator(mode="after")
    def _one_answer(self) -> Tool:
        if self.result is not None and self.python is not None:
            raise ValueError("give a tool result: or python:, not both")
        return self

    def openai(self) -> dict[str, Any]:
        """The tool as a request carries it."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


class NamedTool(_Strict):
    name: str


ToolChoice = Literal["auto", "none", "required"] | NamedTool


def tool_choice_param(choice: ToolChoice) -> Any:
    return choice if isinstance(choice, str) else {"type": "function", "function": {"name": choice.name}}


class ResponseFormat(_Strict):
    """What the answer must be: text, any JSON object, or JSON fitting a schema (inline, or ``schema_file``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_when_asked(self) -> ResponseFormat:
        if self.type == "json_schema":
            given = self.json_schema if isinstance(self.json_schema, dict) else {}
            if isinstance(given.get("schema"), dict):
                check_json_schema(given["schema"])
            elif not isinstance(given.get("schema_file"), str):  # read by harness.suite, then checked
                raise ValueError("type json_schema needs json_schema: {name: ..., schema: {...}} "
                                 "(or schema_file: a .json or .yaml file)")
        return self

    @property
    def schema(self) -> dict[str, Any] | None:
        return self.json_schema["schema"] if self.json_schema else None
