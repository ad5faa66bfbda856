"""What every part of the suite schema shares: strict frozen records, request params and their types, and
references to Python functions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)



# Request parameters whose type we know: a wrong one fails at load, not on every call.
KNOWN_PARAMS: dict[str, tuple[type, ...]] = {
    "temperature": (int, float), "top_p": (int, float), "max_tokens": (int,), "max_completion_tokens": (int,),
    "seed": (int,), "n": (int,), "presence_penalty": (int, float), "frequency_penalty": (int, float),
    "timeout": (int, float), "stop": (str, list), "api_base": (str,), "base_url": (str,), "api_key": (str,),
}
URL_PARAMS = ("api_base", "base_url")
# Params whose values are credentials: an error about one never shows its value.
SECRET_PARAMS = ("api_key",)
# Params that say where and how to reach one model's server: they never carry over to another model.
CONNECTION_PARAMS = (*URL_PARAMS, *SECRET_PARAMS, "api_version", "extra_headers")


def check_reference(target: str | None) -> str | None:
    """A Python function's reference, ``file.py:function`` or ``module:function`` (None passes)."""
    where, colon, name = (target or "").rpartition(":")
    if target is not None and not (colon and where.strip() and name.isidentifier()):
        raise ValueError(f"write the function as file.py:function or module:function, not {target!r}")
    return target


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Known params have their types (a number where a number belongs), base URLs are URLs; the error names the key."""
    for name, types in KNOWN_PARAMS.items():
        value = params.get(name)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            kinds = " or ".join("number" if t is float else {int: "integer", str: "text", list: "list"}[t]
                                for t in types if not (t is int and float in types))
            shown = "" if name in SECRET_PARAMS else f", not {value!r}"
            raise PydanticCustomError("param", "must be {kinds}{shown}", {"key": name, "kinds": kinds, "shown": shown})
    for name in URL_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and not value.startswith(("http://", "https://")):
            raise PydanticCustomError("param", "must be an http:// or https:// URL, not {value}",
                                      {"key": name, "value": repr(value)})
    return params


