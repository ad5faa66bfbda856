"""Property: whatever a suite turns into, `harness validate` ends in a verdict, never a crash.

Valid suites (the echo model, inline or JSONL cases, a template file or inline text) are mutated at
random, as text (characters inserted, lines deleted, duplicated or swapped, tabs, truncation) and as
a structure (a key deleted or added, a value of another type, odd Unicode in a string, a value nested
deep, a template mangled). For every mutant, `harness validate` run in-process must exit 0 (still
valid) or 2 (a located error), within a few seconds, and never print a traceback or "internal error".

Derandomized, so CI sees the same examples on every run; each family of mutations is its own test,
so one bug found does not hide the others.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.cli import main
from tests.corpus_driver import _Capture

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    # Generation only: a mutant is small enough to read as it is, and shrinking the deep ones
                    # (or explaining them) would take longer than the whole test.
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
SECONDS = 5  # a mutant that takes longer than this to validate is a failure

TEMPLATE = "{% block system %}You are terse.{% endblock %}\nReview: {{ review }}\nAnswer positive or negative.\n"

BASES: list[dict[str, Any]] = [
    {  # a template file, inline cases, two scorers, thresholds and gates
        "suite": {
            "name": "mutant", "description": "a suite to mutate",
            "prompts": [{"id": "terse", "template": "p.j2"}],
            "models": [{"id": "echo", "model": "echo", "params": {"temperature": 0}}],
            "cases": [{"id": "mochi", "vars": {"review": "The mochi is excellent"}, "expected": "positive",
                       "tags": ["classic"]},
                      {"id": "soup", "vars": {"review": "Cold soup"}, "expected": "negative"}],
            "scorers": [{"type": "label", "labels": ["positive", "negative"]},
                        {"type": "contains", "value": "Review", "name": "has_review", "weight": 0.5}],
            "thresholds": {"pass_rate": 0.5, "latency_p95_ms": {"max": 5000}},
            "gates": {"max_regressions": 0}, "repeats": 1, "tags": ["smoke"],
        },
        "files": {"prompts/p.j2": TEMPLATE},
    },
    {  # inline text prompts, the suite's params, a regex and a length scorer
        "suite": {
            "name": "inline",
            "prompts": [{"id": "a", "text": "Say: {{ word }}"}, {"id": "b", "text": "Repeat {{ word }} twice"}],
            "models": ["echo"],
            "params": {"temperature": 0.2, "max_tokens": 16},
            "cases": [{"vars": {"word": "hello"}}, {"id": "7", "vars": {"word": "bye"}, "threshold": 0.5}],
            "scorers": [{"type": "regex", "pattern": "h?ello|bye"}, {"type": "length", "max_words": 10}],
            "threshold": 0.5,
        },
        "files": {},
    },
    {  # cases from a JSONL file, an equals scorer per case
        "suite": {
            "name": "jsonl",
            "prompts": [{"id": "p", "template": "p.j2"}],
            "models": ["echo"],
            "cases": "cases.jsonl",
            "scorers": [{"type": "equals", "ignore_case": True}],
        },
        "files": {"prompts/p.j2": TEMPLATE,
                  "cases.jsonl": "\n".join(json.dumps(c) for c in [
                      {"id": "a", "vars": {"review": "Great"}, "expected": "Review: Great"},
                      {"id": "b", "vars": {"review": "Bad"}, "expected": "x", "tags": ["t"]}]) + "\n"},
    },
]

# Characters that break naive handling: line and paragraph separators, NEL, NUL, lone surrogates, a BOM,
# an escape, quotes and YAML/Jinja syntax. Written through yaml.safe_dump they arrive escaped.
WEIRD = ["\u2028", "\u2029", "\x85", "\x00", "\ud800", "\udfff", "\ufeff", "\x1b", "\t", "\n", "\r", '"', "'",
         ": ", "#", "- ", "{{", "}}", "{%", "%}", "&a", "*a", "!!", "é", "𝕏", "\u202e", "\\", "%", "@", "`"]
weird_text = st.lists(st.sampled_from(WEIRD) | st.text(max_size=3), max_size=6).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    weird_text, st.sampled_from(["", "yes", "no", "on", "off", "~", "null", "1e400", "0x1F", "NaN"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(weird_text, inner, max_size=3), max_leaves=6)


# --- mutations ---------------------------------------------------------------------------------------

def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path to a value inside the suite (mapping keys and list indexes)."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, path + (index,))
    return found


def _parent(root: Any, path: tuple) -> Any:
    for part in path[:-1]:
        root = root[part]
    return root


@st.composite
def structure_mutant(draw: st.DrawFn, base: dict) -> dict:
    """The base suite with one to three changes to its parsed structure."""
    suite = copy.deepcopy(base["suite"])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(suite)
        path = draw(st.sampled_from(paths))
        parent = _parent(suite, path)
        action = draw(st.sampled_from(["delete", "retype", "add-key", "unicode"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "retype":
            parent[path[-1]] = draw(values)
        elif action == "add-key":
            mappings = [p for p in [(), *paths] if isinstance(_parent(suite, p + ("x",)), dict)]
            target = _parent(suite, draw(st.sampled_from(mappings)) + ("x",))
            target[draw(weird_text | st.sampled_from(["scorrers", "expeted", "templte", "parms", "id", "type"]))] = \
                draw(values)
        else:
            strings = [p for p in paths if isinstance(_parent(suite, p)[p[-1]], str)]
            if strings:
                where = draw(st.sampled_from(strings))
                text = _parent(suite, where)[where[-1]]
                at = draw(st.integers(0, len(text)))
                _parent(suite, where)[where[-1]] = text[:at] + draw(weird_text) + text[at:]
    return suite


def dump(suite: Any, unicode: bool) -> str:
    return yaml.safe_dump(suite, allow_unicode=unicode, sort_keys=False, width=10**6)


@st.composite
def text_mutant(draw: st.DrawFn, text: str) -> str:
    """The YAML text with one to three edits that may break its syntax."""
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True) or [""]
        action = draw(st.sampled_from(["insert", "delete-line", "duplicate-line", "swap-lines", "tab", "truncate",
                                       "replace-char"]))
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        if action == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(weird_text) + text[at:]
            continue
        if action == "delete-line":
            del lines[i]
        elif action == "duplicate-line":  # a duplicate key, more often than not
            lines.insert(i, lines[i])
        elif action == "swap-lines":
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "tab":
            lines[i] = "\t" + lines[i].lstrip(" ")
        elif action == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
            continue
        else:
            at = draw(st.integers(0, max(0, len(text) - 1)))
            text = text[:at] + draw(st.sampled_from(WEIRD)) + text[at + 1:]
            continue
        text = "".join(lines)
    return text


FRAGMENTS = ["{{", "}}", "{%", "%}", "{{ review }}", "{{ nope }}", "{% if %}", "{{ 1 / 0 }}", "{# #}",
             "{% for x in review %}{{ x }}{% endfor %}", "{{ review.upper() }}", "{{ review|length }}",
             "{{ review[0] }}", "{{ review * 3 }}", "{% block system %}", "{% endblock %}", "{{ review.nope() }}",
             "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "{{ ''.__class__.__name__ }}", "{% raw %}",
             "{{ expected }}", "{{ case_id }}", "{% include 'x.j2' %}", "{% extends 'x.j2' %}",
             "{{ '%d'|format(review) }}",
             "\u2028", "\x00", "\ufeff", "é", ""]
# Fragments harmless on their own: the second fragment of a mangled template, so that each test's failure is its own.
BENIGN = ["{{ review }}", "{# #}", "{{ review.upper() }}", "{{ review|length }}", "{{ case_id }}", "é", "\u2028", ""]


# --- running validate ----------------------------------------------------------------------------------

class _TooSlow(BaseException):
    """Raised by the alarm; a BaseException, so that harness's own `except Exception` cannot swallow it."""


def _alarm(_signum: int, _frame: Any) -> None:
    raise _TooSlow()


CLI_RECURSION_HEADROOM = 1000 - 2  # the default limit, less the frames above main() in `harness` (script, entry_point)


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def validate(files: dict[str, str | bytes]) -> tuple[Any, str, str]:
    """Write the files into a fresh project and run `harness validate suite.yaml` in-process."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("")
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogatepass")
            path.write_bytes(content)
        out, err = _Capture(), _Capture("backslashreplace")  # as strict as the real streams
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        os.environ.update({"HARNESS_MODEL": "echo", "HARNESS_CACHE_DIR": str(root / "cache"), "NO_COLOR": "1"})
        os.chdir(root)
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, SECONDS)
        # The recursion headroom of the real command (pytest and Hypothesis are already deep in the stack,
        # and Hypothesis raises the limit), so that a deep suite fails here exactly when it fails there.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(_depth() + CLI_RECURSION_HEADROOM)
        code: Any = None
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # type: ignore[type-var]
                main(["validate", str(root / "suite.yaml")])
        except SystemExit as exc:
            code = exc.code
        except _TooSlow:
            code = f"still running after {SECONDS}s"
        finally:
            sys.setrecursionlimit(limit)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        return code, out.text(), err.text()


def check(files: dict[str, str | bytes]) -> None:
    code, out, err = validate(files)
    shown = {name: (content if len(content) < 3000 else content[:3000] + "...") for name, content in files.items()}
    assert code in (0, 2), f"exit {code!r}\nstderr: {err[-2000:]}\nfiles: {shown!r}"
    for marker in ("Traceback", "internal error"):
        assert marker not in err, f"stderr has {marker!r}:\n{err[-2000:]}\nfiles: {shown!r}"
    if code == 2:
        assert err.strip(), f"exit 2 without a message\nfiles: {shown!r}"


def files_for(base: dict, suite_text: str | bytes, template: str | None = None) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {**base["files"], "suite.yaml": suite_text}
    if template is not None:
        files["prompts/p.j2"] = template
    return files


# --- the properties ------------------------------------------------------------------------------------

@pytest.mark.parametrize("base", BASES, ids=["template", "inline", "jsonl"])
def test_bases_are_valid(base: dict) -> None:
    """The starting points validate (so a mutant's error comes from its mutation)."""
    code, out, err = validate(files_for(base, dump(base["suite"], unicode=True)))
    assert code == 0, err


@SETTINGS
@given(data=st.data())
def test_structure_mutations(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(BASES))
    suite = data.draw(structure_mutant(base))
    check(files_for(base, dump(suite, unicode=data.draw(st.booleans()))))


@SETTINGS
@given(data=st.data())
def test_text_mutations(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(BASES))
    check(files_for(base, data.draw(text_mutant(dump(base["suite"], unicode=True)))))


@settings(SETTINGS, max_examples=20)
@given(data=st.data())
def test_odd_unicode_everywhere(data: st.DataObject) -> None:
    """Separators, NEL, NUL, lone surrogates and the like in every kind of string, escaped in the YAML."""
    base = data.draw(st.sampled_from(BASES))
    suite = copy.deepcopy(base["suite"])
    strings = [p for p in _paths(suite) if isinstance(_parent(suite, p)[p[-1]], str)]
    for where in data.draw(st.lists(st.sampled_from(strings), min_size=1, max_size=4, unique=True)):
        odd = data.draw(st.lists(st.sampled_from(WEIRD), min_size=1, max_size=4).map("".join))
        _parent(suite, where)[where[-1]] += odd
    check(files_for(base, dump(suite, unicode=data.draw(st.booleans()))))


@pytest.mark.parametrize("kind", ["lists", "mappings"])
@pytest.mark.parametrize("depth", [50, 400, 1500, 5000])
@settings(SETTINGS, max_examples=2)
@given(data=st.data())
def test_deep_nesting(depth: int, kind: str, data: st.DataObject) -> None:
    """A value (wherever Hypothesis puts it) nested `depth` flow lists or mappings deep."""
    base = data.draw(st.sampled_from(BASES))
    suite = copy.deepcopy(base["suite"])
    where = data.draw(st.sampled_from(_paths(suite)))
    value = json.dumps(_parent(suite, where)[where[-1]])
    _parent(suite, where)[where[-1]] = "deepmarkerxyz"
    nested = ("{a: " * depth + value + "}" * depth) if kind == "mappings" else ("[" * depth + value + "]" * depth)
    check(files_for(base, dump(suite, unicode=True).replace("deepmarkerxyz", nested)))


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=[repr(f)[1:-1] or "empty" for f in FRAGMENTS])
@settings(SETTINGS, max_examples=2)
@given(data=st.data())
def test_mangled_templates(fragment: str, data: st.DataObject) -> None:
    """The template with `fragment` put at a random place, and maybe one more fragment elsewhere."""
    template = TEMPLATE
    for piece in [fragment, *data.draw(st.lists(st.sampled_from(BENIGN), max_size=1))]:
        at = data.draw(st.integers(0, len(template)))
        template = template[:at] + piece + template[at:]
    base = BASES[0]
    check(files_for(base, dump(base["suite"], unicode=True), template))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
