"""A prompt rendered for a case into the chat messages sent to the model.

A prompt is a template file or inline text (the body the user message, an optional
``{% block system %}`` the system message), a list of messages whose every content is a
template, with few-shot examples drawn from a data file, or a prompt function (harness.prompt_functions).
A case's own ``messages`` take the place of the prompt's last user message; its ``turns`` are sent one by
one after the model's answers.
Images are files of the project (or URLs): a message records the file and its digest, and only the
request carries its bytes (see ``for_request``).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import prompts, yamlfile
from harness.cases import read_cases
from harness.chat import FewShot, FewShotItem, Message, MessageItem, ResponseFormat, Tool, ToolChoice, tool_choice_param
from harness.errors import HarnessError
from harness.files import confined, printable, read_text
from harness.located import validate
from harness.plugins import import_function
from harness.prompt_functions import build_messages, source_file
from harness.spec import Case, PromptSpec, Suite

MAX_IMAGE_BYTES = 20 * 1024 * 1024  # what the large providers accept for one image
URL_SCHEMES = ("http://", "https://", "data:")


@dataclass(frozen=True)
class Entry:
    """One message of a prompt, compiled: its content a template, or a list of (kind, template) parts."""

    role: str
    content: prompts.Compiled | list[tuple[str, prompts.Compiled]] | None
    extra: dict[str, Any] = field(default_factory=dict)  # name, tool_call_id, tool_calls, as written


@dataclass(frozen=True)
class Examples:
    """Few-shot examples: the rows of their data file and the two templates that make a row a pair of messages."""

    spec: FewShot
    rows: list[Case]
    user: prompts.Compiled
    assistant: prompts.Compiled
    source: str


@dataclass(frozen=True)
class ChatPrompt:
    """A prompt ready to render, with the tools and response format its requests carry, and what answers each
    tool: its result template, or its Python function (none: the model's calls are recorded, not answered)."""

    id: str
    file: str
    legacy: prompts.Compiled | None
    entries: list[Entry | Examples]
    tools: list[Tool]
    tool_choice: ToolChoice | None
    response_format: ResponseFormat | None
    max_tool_rounds: int
    answers: dict[str, prompts.Compiled | Callable[..., Any]] = field(default_factory=dict)
    # A prompt function (python:), which builds each case's messages; and the sandbox the case's own messages and
    # later turns render in.
    function: Callable[..., Any] | None = None
    env: prompts.Sandbox | None = None


def compile_prompts(suite: Suite) -> dict[str, ChatPrompt]:
    """Every prompt of the suite parsed once; errors name the template file (or the suite) and line."""
    env = prompts.environment(suite)
    return {spec.id: _compile(spec, suite, env) for spec in suite.prompts}


def _compile(spec: PromptSpec, suite: Suite, env: prompts.Sandbox) -> ChatPrompt:
    where = suite.where(f"prompts.{spec.id}")
    legacy, entries, file, function = None, [], str(suite.path), None
    if spec.python is not None:
        function = import_function(spec.python, base=suite.directory, file=suite.path, line=where,
                                   roots=prompts.allowed_roots(suite), what="prompt file")
        file = source_file(function) or file
    elif spec.messages is None:
        path = prompts.locate_template(spec, suite, line=where)
        file = str(path) if path else file
        offset = 0 if path else (suite.where(f"prompts.{spec.id}.text") or where or 1) - 1
        source = prompts.read_template(path) if path else spec.text or ""
        legacy = prompts.compile_template(env, source, file=file, line_offset=offset, name=spec.id)
    else:
        items, file = _message_items(spec, suite, where)
        entries = [_entry(item, env, suite, file, i, where) for i, item in enumerate(items)]
    tools = spec.tools if spec.tools is not None else suite.tools
    return ChatPrompt(id=spec.id, file=file, legacy=legacy, entries=entries, tools=tools,
                      tool_choice=spec.tool_choice or suite.tool_choice,
                      response_format=spec.response_format or suite.response_format,
                      max_tool_rounds=spec.max_tool_rounds or suite.max_tool_rounds,
                      answers=_tool_answers(tools, env, suite), function=function, env=env)


def _tool_answers(tools: list[Tool], env: prompts.Sandbox,
                  suite: Suite) -> dict[str, prompts.Compiled | Callable[..., Any]]:
    """What answers each tool, ready before the first call: a function that is not found fails at load."""
    answers: dict[str, prompts.Compiled | Callable[..., Any]] = {}
    line = suite.where("tools")
    for tool in tools:
        if tool.result is not None:
            answers[tool.name] = prompts.compile_template(env, tool.result, file=str(suite.path),
                                                          name=f"tool {tool.name}")
        elif tool.python is not None:
            answers[tool.name] = import_function(tool.python, base=suite.directory, file=suite.path, line=line,
                                                 roots=prompts.allowed_roots(suite), what="tool file")
    return answers


def _message_items(spec: PromptSpec, suite: Suite, line: int | None) -> tuple[list[MessageItem], str]:
    """The prompt's message list: written in the suite, or read from a YAML/JSON file found like a template."""
    if not isinstance(spec.messages, str):
        return list(spec.messages), str(suite.path)
    path = prompts.locate_template(spec.model_copy(update={"template": spec.messages}), suite, line=line,
                                   what="messages file")
    data, node = yamlfile.load(read_text(path), path)
    if not isinstance(data, list):
        raise HarnessError("a messages file holds a list of messages", file=path, line=1)
    from harness.spec import PromptSpec as _Holder  # validated as a prompt's messages, errors at the file's lines

    holder = validate(_Holder, {"id": spec.id, "messages": data}, file=path,
                      node=_wrapped(node) if node is not None else None)
    return list(holder.messages), str(path)


def _wrapped(node: Any) -> Any:
    """The file's list as the ``messages`` of a mapping, so an error's location finds its line."""
    import yaml

    key = yaml.ScalarNode("tag:yaml.org,2002:str", "messages", node.start_mark, node.start_mark)
    return yaml.MappingNode("tag:yaml.org,2002:map", [(key, node)], node.start_mark, node.end_mark)


def _entry(item: MessageItem, env: prompts.Sandbox, suite: Suite, file: str, index: int,
           line: int | None) -> Entry | Examples:
    what = f"message {index + 1}"
    if isinstance(item, FewShotItem):
        return _examples(item.few_shot, env, suite, file, line)
    extra = {k: v for k, v in (("name", item.name), ("tool_call_id", item.tool_call_id),
                               ("tool_calls", item.tool_calls)) if v is not None}
    return Entry(item.role, _compiled_content(item.content, env, file, what), extra)


def _compiled_content(content: Any, env: prompts.Sandbox, file: str,
                      what: str) -> prompts.Compiled | list[tuple[str, prompts.Compiled]] | None:
    if content is None:
        return None
    if isinstance(content, str):
        return prompts.compile_template(env, content, file=file, name=what)
    return [("text", prompts.compile_template(env, part.text, file=file, name=what)) if part.text is not None
            else ("image", prompts.compile_template(env, part.image, file=file, name=what)) for part in content]


def _examples(spec: FewShot, env: prompts.Sandbox, suite: Suite, file: str, line: int | None) -> Examples:
    path = suite.directory / spec.source
    if not path.is_file():
        raise HarnessError(f"few_shot data file not found: {path}", file=file, line=line,
                           hint="the path is relative to the suite file")
    path = confined(path, prompts.allowed_roots(suite), what=f"few_shot file '{spec.source}'", file=file, line=line)
    rows = [case for case, _ in read_cases(path, suite_file=file, line=line)]
    if spec.k is not None and spec.k > len(rows):
        raise HarnessError(f"few_shot.k is {spec.k}, but {spec.source} holds {len(rows)} examples", file=file,
                           line=line, hint=f"k: {len(rows)} or fewer (the case under test is never its own example)")
    return Examples(spec, rows, prompts.compile_template(env, spec.user, file=file, name="few_shot.user"),
                    prompts.compile_template(env, spec.assistant, file=file, name="few_shot.assistant"), spec.source)


# --- rendering ------------------------------------------------------------------------------------------

def variables_of(case: Case) -> dict[str, Any]:
    return {**case.vars, "expected": case.expected, "case_id": case.id}


def render(prompt: ChatPrompt, case: Case, directory: Path, roots: list[Path]) -> list[dict[str, Any]]:
    """The messages a case's first request sends; a conversation must end with a user (or tool) message."""
    what = f"case '{case.id}'"
    variables = variables_of(case)
    # A case's own messages take the place of the prompt's last user message, which is then not rendered.
    replaced = _last_user_entry(prompt) if case.messages else None
    if prompt.function is not None:
        messages = [_built(m, what, directory, roots) for m in build_messages(prompt.function, prompt.id, case)]
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        if case.messages and users:
            messages[users[-1]] = {"role": "user", "content": None}  # the case's messages go here
    elif prompt.legacy is not None:
        messages = prompts.render_messages(prompt.legacy, variables, what=what, system_only=bool(case.messages))
    else:
        messages = []
        for index, entry in enumerate(prompt.entries):
            if isinstance(entry, Examples):
                messages += _example_pairs(entry, case)
            elif index == replaced:
                messages.append({"role": "user", "content": None})  # the case's messages go here
            else:
                messages.append(_message(entry, variables, what, directory, roots))
    if case.messages:
        at = next((i for i, m in enumerate(messages) if m["role"] == "user" and m["content"] is None), len(messages))
        env = prompt.env
        own = [_message(Entry(m.role, _compiled_content(m.content, env, prompt.file, what), _extra(m)), variables,
                        what, directory, roots) for m in case.messages]
        messages = messages[:at] + own + messages[at + 1:]
    if not messages or messages[-1]["role"] not in ("user", "tool"):
        last = f"an {messages[-1]['role']!r} message" if messages else "no message at all"
        raise HarnessError(f"{what}: the conversation ends with {last}; the model answers a user (or tool) "
                           "message: end it with a user message", file=prompt.file)
    return messages


def _last_user_entry(prompt: ChatPrompt) -> int | None:
    users = [i for i, e in enumerate(prompt.entries) if isinstance(e, Entry) and e.role == "user"]
    return users[-1] if users else None


def _built(message: Message, what: str, directory: Path, roots: list[Path]) -> dict[str, Any]:
    """A message a prompt function built, as sent: its content is text already (an image part still a file of the
    project, or a URL)."""
    content: Any = message.content
    if isinstance(content, str):
        content = printable(content)
    elif content is not None:
        content = [{"type": "text", "text": printable(part.text)} if part.text is not None
                   else _image(part.image, what, directory, roots) for part in content]
    return {"role": message.role, "content": content, **_extra(message)}


def _extra(message: Message) -> dict[str, Any]:
    return {k: v for k, v in (("name", message.name), ("tool_call_id", message.tool_call_id),
                              ("tool_calls", message.tool_calls)) if v is not None}


def _message(entry: Entry, variables: dict, what: str, directory: Path, roots: list[Path]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": entry.role, **entry.extra}
    if isinstance(entry.content, prompts.Compiled):
        message["content"] = prompts.render_text(entry.content, variables, what=what)
    elif entry.content is not None:
        message["content"] = [{"type": "text", "text": prompts.render_text(compiled, variables, what=what)}
                              if kind == "text" else _image(prompts.render_text(compiled, variables, what=what),
                                                            what, directory, roots)
                              for kind, compiled in entry.content]
    return message


def _example_pairs(examples: Examples, case: Case) -> list[dict[str, Any]]:
    """The user/assistant pairs of the examples chosen for this case (never the case itself)."""
    rows = [row for row in examples.rows if row.id != case.id]
    k = examples.spec.k if examples.spec.k is not None else len(rows)
    if k > len(rows):
        raise HarnessError(f"case '{case.id}': few_shot.k is {k}, but {examples.source} holds only {len(rows)} "
                           "other examples", file=examples.user.file)
    chosen = random.Random(examples.spec.seed).sample(rows, k) if examples.spec.seed is not None else rows[:k]
    pairs = []
    for row in chosen:
        what = f"few-shot example '{row.id}'"
        pairs += [{"role": "user", "content": prompts.render_text(examples.user, variables_of(row), what=what)},
                  {"role": "assistant",
                   "content": prompts.render_text(examples.assistant, variables_of(row), what=what)}]
    return pairs


def _image(reference: str, what: str, directory: Path, roots: list[Path]) -> dict[str, Any]:
    """An image part: a URL as it is; a file of the project by its path and digest (the request reads its bytes)."""
    if reference.startswith(URL_SCHEMES):
        return {"type": "image_url", "image_url": {"url": reference}}
    path = directory / reference
    if not path.is_file():
        raise HarnessError(f"{what}: image {reference} not found", hint="the path is relative to the suite file")
    path = confined(path, roots, what=f"{what}: image")
    data = path.read_bytes()
    if len(data) > MAX_IMAGE_BYTES:
        raise HarnessError(f"{what}: image {reference} is {len(data) / 1e6:.1f} MB; providers take up to "
                           f"{MAX_IMAGE_BYTES / 1e6:.0f} MB", hint="send a smaller image")
    return {"type": "image_url", "image_url": {"url": reference, "sha256": hashlib.sha256(data).hexdigest()}}


def for_request(messages: list[dict[str, Any]], directory: Path) -> list[dict[str, Any]]:
    """The messages as a request carries them: an image file's bytes in a data URL (a recorded message keeps only
    its path and digest, so results stay small and the cache key still changes with the bytes)."""
    if not any(isinstance(m.get("content"), list) for m in messages):
        return messages
    return [{**m, "content": [_with_bytes(part, directory) for part in m["content"]]}
            if isinstance(m.get("content"), list) else m for m in messages]


def _with_bytes(part: dict[str, Any], directory: Path) -> dict[str, Any]:
    image = part.get("image_url")
    if part.get("type") != "image_url" or not isinstance(image, dict) or "sha256" not in image:
        return part
    path = directory / image["url"]
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return {"type": "image_url",
            "image_url": {"url": f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"}}


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message, content parts as readable text (an image as ``[image: path or URL]``,
    a data URL by its type alone); "" when there is none."""
    content = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    if not isinstance(content, list):
        return content or ""

    def readable(part: dict[str, Any]) -> str:
        if part.get("type") == "text":
            return part.get("text", "")
        url = str((part.get("image_url") or {}).get("url", ""))
        return f"[image: {url.split(';')[0] if url.startswith('data:') else url}]"

    return "\n".join(readable(part) for part in content)


def render_turn(text: str, case: Case, prompt: ChatPrompt, number: int) -> dict[str, Any]:
    """A later user turn of a case, rendered with its vars."""
    compiled = prompts.compile_template(prompt.env, text, file=prompt.file, name=f"turn {number}")
    return {"role": "user", "content": prompts.render_text(compiled, variables_of(case),
                                                          what=f"case '{case.id}', turn {number}")}


def tools_param(prompt: ChatPrompt) -> dict[str, Any]:
    """The request parameters the prompt's tools and response format add."""
    params: dict[str, Any] = {}
    if prompt.tools:
        params["tools"] = [tool.openai() for tool in prompt.tools]
    if prompt.tool_choice is not None:
        params["tool_choice"] = tool_choice_param(prompt.tool_choice)
    if prompt.response_format is not None:
        params["response_format"] = prompt.response_format.model_dump(exclude_none=True)
    return params

