"""Credentials never reach anything harness writes or prints: one place that knows what a secret looks like.

Secrets come from the environment (``*_API_KEY``, ``*_TOKEN``, ...) and from a model's params
(``api_key``, headers): params are written down without them (public_params), and any text bound
for disk or a terminal passes through redact().
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

SECRET_PARAM = re.compile(r"key|token|secret|auth|header|credential|password", re.IGNORECASE)
SECRET_ENV_SUFFIXES = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """A model's params as they may be written down: nothing that could hold a credential (a base URL's
    password masked)."""
    return {k: mask_url(v) if isinstance(v, str) and "://" in v else v
            for k, v in params.items() if not SECRET_PARAM.search(k)}


def redact(text: str, *extra_secrets: str | None) -> str:
    """Mask every secret we know of (keys in the environment, the endpoint's key) in text bound for disk."""
    secrets = [v for k, v in os.environ.items() if k.upper().endswith(SECRET_ENV_SUFFIXES)]
    for secret in [*secrets, *extra_secrets]:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def mask_url(url: str) -> str:
    """url with its password (in the user info or a ``password=`` query parameter) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        # redis://secret@host is read as a user name, but people write passwords there: mask it too
        netloc = f"{user}:***@{hostport}" if colon else f"***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The password (or a user name standing for one) in a URL, as written and decoded."""
    parts = urlsplit(url)
    found = [parts.password, parts.username if parts.password is None else None]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    return [s for raw in found if raw for s in {raw, unquote(raw)}]
