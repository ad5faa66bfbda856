"""``harness import openai-evals``: an OpenAI evals registry file (``evals/registry/evals/NAME.yaml``) as a suite.

Each eval in the file (an entry whose ``id`` names a spec with ``class`` and ``args``) brings its samples
(``samples_jsonl``, found under the registry's ``data/``): a sample's ``input`` (chat messages, or text) is what the
model is sent and its ``ideal`` (one answer or several) the case's ``expected``; other fields are vars. Classes:

- ``Match``: the answer (stripped) starts with an ideal; ``Includes``: it contains one (``ignore_case`` kept);
  ``FuzzyMatch``: either contains the other once both are normalised as evals does (lower case, no punctuation,
  no articles, single spaces): python expressions over ``output`` and ``expected``;
- ``ModelBasedClassify``: its modelgraded spec (``registry/modelgraded/NAME.yaml``) as a judge: ``fact`` is
  harness's ``factuality``, ``closedqa`` a ``rubric`` per criterion, any other a ``rubric`` from the spec's prompt
  that passes on the best-scoring choices, or, with digit choices, rated on their scale.

A system message every sample shares becomes the prompt's; few-shot examples (``few_shot_jsonl``, ``num_few_shot``)
become a ``few_shot:`` entry before the last user message, read from a file written beside the suite.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.files import json_text, read_text
from harness.importers.common import Comment, Context, Imported, literal_text
from harness.importers.sources import Sources
from harness.yamlfile import load as load_yaml

CLASSES = {"Match": "match", "Includes": "includes", "FuzzyMatch": "fuzzy_match",
           "ModelBasedClassify": "model_graded"}
_IDEALS = "(expected if isinstance(expected, list) else [expected])"
_NORMALISE = ("(lambda s: ' '.join(re.sub(r'\\b(a|an|the)\\b', ' ', re.sub(r'[!-/:-@\\[-`{-~]', '', "
              "str(s).lower())).split()))")
EXPRESSIONS = {
    "match": f"any(output.strip().startswith(str(e)) for e in {_IDEALS})",
    "includes": f"any(str(e) in output for e in {_IDEALS})",
    "includes_ignore_case": f"any(str(e).lower() in output.lower() for e in {_IDEALS})",
    "fuzzy_match": f"any((lambda a, b: a == b if not a or not b else a in b or b in a)({_NORMALISE}(output), "
                   f"{_NORMALISE}(e)) for e in {_IDEALS})",
}


def import_registry(path: Path) -> Imported:
    """The evals of an OpenAI evals registry file as one harness suite (cases tagged with their eval's name)."""
    path = Path(path)
    if not path.is_file():
        raise HarnessError("no such file", file=path, hint="pass an evals/registry/evals/NAME.yaml")
    data, root = load_yaml(read_text(path), path, words_as_text=True)
    evals = _evals(data, path)
    registry = path.parent.parent if path.parent.name == "evals" else path.parent
    ctx = Context(path, root, Sources(path, base=registry))
    data_dir = registry / "data" if (registry / "data").is_dir() else path.parent
    suite: dict[Any, Any] = {"name": path.stem, "description": _description(data, evals)}
    found = []  # (eval name, its samples, its scorers)
    for name, key, spec in evals:
        args = spec.get("args") if isinstance(spec.get("args"), dict) else {}
        found.append((name, _samples(args, data_dir, ctx, name, ctx.line(key, "args", "samples_jsonl")),
                      _scorers(spec, args, registry, ctx, ctx.line(key, "args", "modelgraded_spec"))))
    # One prompt for every eval of the file: a system message they all share is its own, else each case has its own.
    first = evals[0][2].get("args") if isinstance(evals[0][2].get("args"), dict) else {}
    prompt = _prompt([s for _, samples, _ in found for s in samples], first, data_dir, ctx, evals[0][0])
    cases = [_case(sample, name, prompt, own if len(evals) > 1 else None) for name, samples, own in found
             for _, sample in samples]
    scorers = found[0][2] if len(evals) == 1 else []
    ctx.sources.check()
    suite["prompts"] = [prompt["spec"]]
    if scorers:
        suite["scorers"] = scorers
    suite["cases"] = cases
    if not cases:
        raise HarnessError("its evals have no samples", file=path)
    return Imported(path, "openai-evals", suite, ctx.tally, files=prompt.get("files", {}))


def _evals(data: Any, path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, spec's key, spec) for each eval of the file: an entry whose ``id`` names a spec with a ``class``."""
    if not isinstance(data, dict):
        raise HarnessError("not an OpenAI evals registry file (a mapping of evals)", file=path, line=1)
    found = [(name, entry["id"], data[entry["id"]]) for name, entry in data.items()
             if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(data.get(entry["id"]), dict)
             and "class" in data[entry["id"]]]
    found = found or [(name, name, entry) for name, entry in data.items()
                      if isinstance(entry, dict) and "class" in entry]
    if not found:
        raise HarnessError("not an OpenAI evals registry file (no eval with id: naming a spec with class:)",
                           file=path, line=1, hint="pass a file from evals/registry/evals/")
    return found


def _description(data: dict[str, Any], evals: list[tuple[str, str, dict[str, Any]]]) -> str:
    return next((str(entry["description"]) for name, _, _ in evals if isinstance(entry := data.get(name), dict)
                 and entry.get("description")), "")


def _samples(args: dict[str, Any], data_dir: Path, ctx: Context, name: str,
             line: int | None) -> list[tuple[int, dict[str, Any]]]:
    """(line, sample) for each sample of the eval, its fields renamed as ``samples_renamings`` says."""
    reference = args.get("samples_jsonl")
    renamed = args.get("samples_renamings") if isinstance(args.get("samples_renamings"), dict) else {}
    references = reference if isinstance(reference, list) else [reference]
    samples = []
    for item in references:
        if not isinstance(item, str):
            raise HarnessError(f"eval '{name}' has no samples_jsonl", file=ctx.file, line=line)
        path = ctx.sources.path(item, base=data_dir, line=line)
        for number, sample in ctx.sources.json_lines(path) if path else []:
            sample = {renamed.get(k, k): v for k, v in sample.items()} if isinstance(sample, dict) else sample
            if not isinstance(sample, dict) or "input" not in sample:
                raise HarnessError("a sample is a JSON object with input: (and ideal:)", file=path, line=number)
            samples.append((number, sample))
    return samples


def _case(sample: dict[str, Any], eval_name: str, prompt: dict[str, Any],
          scorers: list[Any] | None) -> dict[str, Any]:
    key = json.dumps(sample, sort_keys=True, ensure_ascii=False, default=str)
    case: dict[str, Any] = {"id": f"{eval_name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"}
    chat = sample["input"]
    rest = {k: v for k, v in sample.items() if k not in ("input", "ideal")}
    if isinstance(chat, list) and prompt["shared"] is not None:
        case["vars"] = {"input": chat[-1].get("content", ""), **rest}
    elif isinstance(chat, list):
        case["vars"] = {"input": "", **rest}
        case["messages"] = [{"role": m.get("role", "user"), "content": literal_text(str(m.get("content", "")))}
                            for m in chat if isinstance(m, dict)]
    else:
        case["vars"] = {"input": chat, **rest}
    if "ideal" in sample:
        case["expected"] = sample["ideal"]
    case["tags"] = [eval_name]
    if scorers:
        case["scorers"] = scorers
    return case


def _prompt(samples: list[tuple[int, dict[str, Any]]], args: dict[str, Any], data_dir: Path, ctx: Context,
            name: str) -> dict[str, Any]:
    """The prompt: the messages every sample shares before its last, few-shot examples, then the sample's last."""
    chats = [s["input"] for _, s in samples]
    if not chats or not all(isinstance(c, list) and c for c in chats):
        return {"spec": {"id": name, "text": "{{ input }}"}, "shared": None}
    prefixes = {json.dumps(c[:-1], sort_keys=True) for c in chats}
    shared = chats[0][:-1] if len(prefixes) == 1 and all(c[-1].get("role") == "user" for c in chats) else None
    messages: list[Any] = [{"role": m["role"], "content": literal_text(str(m["content"]))} for m in shared or []]
    files = {}
    if args.get("few_shot_jsonl") and args.get("num_few_shot"):
        file_name, text = _few_shot_file(args["few_shot_jsonl"], data_dir, ctx, name)
        if text is not None:
            files[file_name] = text
            messages.append({"few_shot": {"from": file_name, "k": int(args["num_few_shot"]), "user": "{{ user }}"}})
    messages.append({"role": "user", "content": "{{ input }}"})
    return {"spec": {"id": name, "messages": messages}, "shared": shared, "files": files}


def _few_shot_file(reference: str, data_dir: Path, ctx: Context, name: str) -> tuple[str, str | None]:
    """The examples as a cases file harness's few_shot reads: each line's user message, and its answer."""
    path = ctx.sources.path(reference, base=data_dir, line=ctx.line(name))
    lines = []
    for number, row in ctx.sources.json_lines(path) if path else []:
        sample = row.get("sample") if isinstance(row, dict) else None
        if not isinstance(sample, list) or len(sample) < 2:
            raise HarnessError("a few-shot line is {\"sample\": [question message, answer message]}", file=path,
                               line=number)
        lines.append(json_text({"id": f"shot-{len(lines) + 1}", "vars": {"user": str(sample[-2].get("content"))},
                                "expected": str(sample[-1].get("content"))}))
    return f"{name}.few_shot.jsonl", "\n".join(lines) + "\n" if lines else None


def _scorers(spec: dict[str, Any], args: dict[str, Any], registry: Path, ctx: Context,
             line: int | None) -> list[Any]:
    kind = CLASSES.get(str(spec.get("class", "")).rpartition(":")[2])
    ctx.tally.total[kind or str(spec.get("class"))] += 1
    if kind is None:
        ctx.tally.untranslated[f"class {spec.get('class')}"] += 1
        return [Comment.left_out(f"class {spec.get('class')}", spec, "harness has no scorer like it")]
    if kind == "model_graded":
        return _model_graded(args, registry, ctx, line)
    ctx.tally.translated[kind] += 1
    expression = EXPRESSIONS["includes_ignore_case" if kind == "includes" and args.get("ignore_case") else kind]
    return [{"type": "python", "expr": expression, "name": kind}]


def _model_graded(args: dict[str, Any], registry: Path, ctx: Context, line: int | None) -> list[Any]:
    """ModelBasedClassify: its modelgraded spec as a judge scorer."""
    name = args.get("modelgraded_spec", args.get("modelgraded_spec_file"))
    if isinstance(args.get("multicomp_n"), int) and args["multicomp_n"] > 1 or args.get("multicomp_n") == "from_models":
        ctx.tally.untranslated["model_graded (several completions compared)"] += 1
        return [Comment.left_out("model_graded", args, "it compares several completions of one sample")]
    path = ctx.sources.path(f"modelgraded/{name}.yaml", base=registry, line=line) if isinstance(name, str) else None
    spec = load_yaml(read_text(path), path, words_as_text=True)[0] if path else None
    if not isinstance(spec, dict):
        ctx.tally.untranslated["model_graded (no spec)"] += 1
        return []
    ctx.tally.translated["model_graded"] += 1
    note = Comment((f"modelgraded spec {name} (eval_type {args.get('eval_type') or spec.get('eval_type')}): the "
                    "harness judge gives its reasoning with its verdict",))
    if name == "fact":
        return [{"type": "factuality", "threshold": 0.5, note: None}]
    criteria = (args.get("modelgraded_spec_args") or {}).get("criteria") or (spec.get("args") or {}).get("criteria")
    if name and name.startswith("closedqa") and isinstance(criteria, dict):
        return [{"type": "rubric", "rubric": str(text), "name": str(key), note: None} for key, text in criteria.items()]
    return [_classify(spec, note, ctx)]


def _classify(spec: dict[str, Any], note: Comment, ctx: Context) -> dict[Any, Any]:
    """A rubric from a spec's prompt: rated on the choices' scale when they are digits, else passing on the best."""
    choices = [str(c) for c in spec.get("choice_strings", "")]
    scores = spec.get("choice_scores")
    prompt = str(spec.get("prompt", "")).replace("{input}", "(the input)").replace("{completion}", "(the output)")
    prompt = prompt.replace("{ideal}", "(the reference answer)")
    rubric = ("Judge the output by these instructions, but answer in the JSON form asked for below:\n" + prompt)
    if choices and all(c.isdigit() for c in choices) and scores in (None, "from_strings"):
        return {"type": "rubric", "rubric": rubric, "scale": [min(map(int, choices)), max(map(int, choices))],
                note: None}
    if isinstance(scores, dict) and scores:
        best = [c for c, s in scores.items() if s == max(scores.values())]
        return {"type": "rubric", "rubric": rubric + f"\nThe output passes when the answer is {' or '.join(best)}.",
                note: None}
    ctx.tally.translated["model_graded"] -= 1
    ctx.tally.untranslated["model_graded (choices without scores)"] += 1
    return Comment.left_out("model_graded", spec, "its choices have no scores: nothing passes or fails")
