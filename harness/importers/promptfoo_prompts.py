"""promptfoo's prompts as harness prompts: inline text, text files (several prompts split by ``---`` lines), chat
messages in JSON, YAML or JSONL files (or inline JSON), labels and a prompt's own config (tools, response_format).

promptfoo renders a chat prompt with Nunjucks and then parses it as JSON; harness keeps the messages as data and
renders each content as a Jinja template, so the JSON is parsed first with each ``{{ ... }}`` held aside. A value
that is a whole template (``"content": {{ question | dump }}``) becomes that template without ``dump``, which only
made it a JSON string. Nunjucks's ``dump`` filter is Jinja's ``tojson``. Prompt functions (.py, .js) are left as
comments: harness calls a prompt function differently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.importers.common import Comment, Context, unique
from harness.importers.promptfoo_suite import request_settings
from harness.importers.sources import is_reference

ROLES = ("system", "user", "assistant")
CODE_SUFFIXES = (".py", ".js", ".ts", ".mjs", ".cjs")
_DUMP = re.compile(r"\|\s*dump\b")
_DUMP_FILTER = re.compile(r"\s*\|\s*dump\b")
_WHOLE = re.compile(r"^@@(\d+)!@@$")
_HELD = re.compile(r"@@(\d+)@@")


def prompts(value: Any, ctx: Context) -> list[Any]:
    """The harness prompts (Comments for those that cannot be written), each with its own tools and response format."""
    if not value:
        raise HarnessError("the config has no prompts:", file=ctx.file, line=1,
                           hint="promptfoo configs list their prompts under prompts:")
    if isinstance(value, dict):  # the older form {file://prompt.txt: label, ...}
        value = [{"id": key, "label": label} for key, label in value.items()]
    specs: list[Any] = []
    taken: set[str] = set()
    for i, entry in enumerate(value if isinstance(value, list) else [value]):
        line = ctx.line("prompts", i) if isinstance(value, list) else ctx.line("prompts")
        raw, label, config = _entry(entry, ctx, line)
        for hint, found in _bodies(raw, label, ctx, line):
            if isinstance(found, Comment):
                specs.append(found)
                continue
            spec: dict[Any, Any] = {"id": unique(_slug(hint) or f"prompt-{len(specs) + 1}", taken), **found}
            spec.update(request_settings({k: [v] for k, v in config.items()}, ctx))
            specs.append(spec)
    return specs


def _entry(entry: Any, ctx: Context, line: int | None) -> tuple[str, str | None, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, None, {}
    if not isinstance(entry, dict):
        raise HarnessError("a prompt must be text or a mapping (raw:, label:)", file=ctx.file, line=line)
    raw = entry.get("raw") or entry.get("content") or entry.get("id")
    if not isinstance(raw, str):
        raise HarnessError("a prompt mapping needs raw: (the text) or id: (file://...)", file=ctx.file, line=line)
    label = entry.get("label") or (entry["id"] if isinstance(entry.get("id"), str) and raw != entry["id"] else None)
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    return raw, label, config


def _bodies(raw: str, label: str | None, ctx: Context, line: int | None) -> list[tuple[str, Any]]:
    """(id hint, harness prompt body, or a Comment) for each prompt a config entry stands for."""
    if not is_reference(raw):
        return [(label or "", body(raw, ctx))]
    reference = raw
    if re.search(r"\.(py|js|ts|mjs|cjs)(:[\w.]+)?$", reference):
        return [("", ctx.left_out("prompt function", reference, "harness calls prompt functions with (vars, case)"))]
    found = []
    paths = ctx.sources.paths(reference, file=ctx.file, line=line)
    for path in paths:
        stem = label if label and len(paths) == 1 else (f"{label}-{path.stem}" if label else path.stem)
        parts = _from_file(path, ctx)
        found += [(stem if len(parts) == 1 else f"{stem}-{n}", part) for n, part in enumerate(parts, start=1)]
    return found


def _from_file(path: Path, ctx: Context) -> list[Any]:
    if path.suffix in (".yaml", ".yml"):
        data, _ = ctx.sources.data(path)
        return [body(data, ctx)]
    if path.suffix == ".jsonl":
        return [body(line, ctx) for _, line in ctx.sources.json_lines(path)]
    text = ctx.sources.text(path)
    if path.suffix == ".json":
        return [body(text, ctx)]
    parts, buffer = [], []
    for line in [*text.splitlines(), "---"]:  # promptfoo's text files: prompts between lines of ---
        if line.strip() == "---":
            if "\n".join(buffer).strip():
                parts.append("\n".join(buffer).strip())
            buffer = []
        else:
            buffer.append(line)
    return [body(part, ctx) for part in parts]


def body(value: Any, ctx: Context) -> dict[str, Any] | Comment:
    """``{text: ...}`` or ``{messages: [...]}`` for a prompt's text or chat, or a Comment when it cannot be written."""
    if isinstance(value, str):
        chat = _chat(value)
        if chat is None and not (value.lstrip().startswith("[") and _looks_like_chat(value)):
            return {"text": jinja(value)}
        value = chat
    messages = messages_of(value)
    if messages is None:
        return ctx.left_out("prompt", value, "a chat harness cannot write as messages (template logic around the "
                                             "messages, or a role or content part it does not have)")
    return {"messages": messages}


def messages_of(value: Any) -> list[dict[str, Any]] | None:
    """OpenAI-style chat messages as harness messages (content templates, parts as {text}/{image}), or None."""
    if not isinstance(value, list) or not value:
        return None
    messages = []
    for message in value:
        if isinstance(message, dict) and message.get("type") == "message":  # OpenAI's Responses form
            message = {k: v for k, v in message.items() if k != "type"}
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return None
        content = message.get("content")
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": jinja(content)})
        elif isinstance(content, list) and (parts := _parts_of(content)) is not None:
            messages.append({"role": message["role"], "content": parts})
        else:
            return None
    return messages


def _parts_of(content: list[Any]) -> list[dict[str, str]] | None:
    """Content parts as harness's {text} and {image}, from OpenAI's chat and Responses forms, Anthropic's and
    Bedrock's (an image's base64 data becomes a data: URL); None when a part is of another kind (audio, files)."""
    parts = []
    for part in content:
        if not isinstance(part, dict):
            return None
        if part.get("type") in ("text", "input_text", None) and isinstance(part.get("text"), str):
            parts.append({"text": jinja(part["text"])})
            continue
        if part.get("modality") == "text" and isinstance(part.get("value"), str):  # Adaline's form
            parts.append({"text": jinja(part["value"])})
            continue
        image = _image(part)
        if image is None:
            return None
        parts.append({"image": jinja(image.removeprefix("file://"))})
    return parts


def _image(part: dict[str, Any]) -> str | None:
    kind = part.get("type")
    if part.get("modality") == "image" and isinstance(part.get("value"), dict):  # Adaline's form
        value = part["value"]
        return value.get("url") if value.get("type") == "url" else f"data:image/{value.get('media_type', 'jpeg')}" \
            f";base64,{value.get('base64')}" if value.get("type") == "base64" else None
    if kind in ("image_url", "input_image"):
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        return url if isinstance(url, str) else None
    bedrock = part.get("image") if isinstance(part.get("image"), dict) else {}
    source = part.get("source") if kind == "image" else bedrock.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return source["url"]
    data = source.get("data", source.get("bytes"))
    media = source.get("media_type") or f"image/{bedrock.get('format', 'jpeg')}"
    return f"data:{media};base64,{data}" if isinstance(data, str) else None


def jinja(template: str) -> str:
    """A Nunjucks template as Jinja: the ``dump`` filter is ``tojson``."""
    return _DUMP.sub("| tojson", template) if "dump" in template else template


def _looks_like_chat(text: str) -> bool:
    return bool(re.search(r'"role"\s*:', text))


def _chat(text: str) -> list[Any] | None:
    """A chat prompt written as JSON with templates in it, parsed with each ``{{ ... }}`` held aside, or None."""
    text = text.strip()
    if not text.startswith("[") or not _looks_like_chat(text):
        return None
    held: list[str] = []
    encoded = _hold(text, held)
    if encoded is None:
        return None
    try:
        data = json.loads(encoded)
    except ValueError:
        return None
    try:
        return _restore(data, held)
    except ValueError:
        return None


def _hold(text: str, held: list[str]) -> str | None:
    """``text`` with each template expression replaced by @@n@@ (inside a JSON string) or "@@n!@@" (a whole value);
    None when template logic ({% ... %}) stands outside the strings."""
    out, position, in_string = [], 0, False
    while position < len(text):
        if text.startswith(("{{", "{%"), position):
            end = text.find("}}" if text[position + 1] == "{" else "%}", position + 2)
            if end == -1 or (text[position + 1] == "%" and not in_string):
                return None
            held.append(text[position:end + 2])
            out.append(f"@@{len(held) - 1}@@" if in_string else f'"@@{len(held) - 1}!@@"')
            position = end + 2
            continue
        char = text[position]
        if char == "\\" and in_string:
            out.append(text[position:position + 2])
            position += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        position += 1
    return "".join(out)


def _restore(value: Any, held: list[str]) -> Any:
    if isinstance(value, list):
        return [_restore(item, held) for item in value]
    if isinstance(value, dict):
        return {key: _restore(item, held) for key, item in value.items()}
    if not isinstance(value, str):
        return value
    whole = _WHOLE.match(value)
    if whole:
        expression = held[int(whole.group(1))]
        if not _DUMP.search(expression):
            raise ValueError("a template that is not a JSON string")
        return _DUMP_FILTER.sub("", expression)
    return _HELD.sub(lambda m: held[int(m.group(1))], value)


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-")[:48]
