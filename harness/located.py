"""Validation errors located: a schema error mapped to the file and line a person has to edit.

A suite is validated as typed records (harness.spec); pydantic says *what* is wrong and at which
key path, and the YAML node tree (or a data file's row number) says *where*. Did-you-mean hints
come from the keys of the record that owns the misspelt key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import HarnessError, did_you_mean


def validate(model: type[BaseModel], data: dict[str, Any], *, file: Path, node: yaml.Node | None = None,
             line: int | None = None) -> Any:
    """``data`` as a ``model``, or a HarnessError at the line of the YAML ``node`` the error is about (or at
    ``line``, for a data file's row). A validator may name a key below its field in its error's ctx["key"]."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # With unions (cases: list | path) pydantic reports every branch; the deepest is the real one.
        # A misspelt key shows up both as unknown and as missing: the unknown key is the one to fix.
        # A problem a validator explains (value_error) says more than "input should be a number" of another branch.
        error = max(exc.errors(), key=lambda e: (len(_data_loc(tuple(e["loc"]))), e["type"] == "extra_forbidden",
                                                 e["type"] == "value_error"))
        loc = _data_loc(error["loc"]) + ((error["ctx"]["key"],) if "key" in error.get("ctx", {}) else ())
        where = line_of(node, loc) if node is not None else line
        raise HarnessError(_error_message(error, loc, model), file=file, line=where) from None


def _data_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-branch tags ('list[Case]', 'str', 'function-after[...]') from a location."""
    branch_names = {"str", "float", "int", "bool", "Bound", "Message", "FewShot", "NamedTool"}
    return tuple(p for p in loc if isinstance(p, int) or (p not in branch_names and "[" not in str(p)))


def _error_message(error: dict[str, Any], loc: tuple, model: type[BaseModel]) -> str:
    dotted = ".".join(str(p) for p in loc) or model.__name__.lower()
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        owner = _owner_model(model, loc[:-1])
        return f"unknown key '{key}'{did_you_mean(key, owner.model_fields if owner else [])}"
    if error["type"] == "missing":
        return f"missing required key '{dotted}'"
    msg = error["msg"].removeprefix("Value error, ")
    return f"{dotted}: {msg}"


def _owner_model(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at ``loc`` (to list its keys for did-you-mean)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not isinstance(current, type) or not issubclass(current, BaseModel):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            continue
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _inner_model(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (mapping keys and list indexes), or its nearest parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
