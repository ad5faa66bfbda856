"""The suite features an imported suite may rely on that harness is still gaining (issues 16 and 17), and whether
this harness has each yet.

Importers write the suite syntax of SYNTAX-TARGET (messages, tools, the python scorer, transforms, ...) and record
each feature they used in ``Imported.needs``. ``available(name)`` asks the installed harness itself (its suite
schema and its scorer registry), so as each feature lands the imported suites that use it are validated too, by
``harness import`` and by the tests, without a list here to update.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Feature:
    issue: int
    what: str
    probe: Callable[[], bool]


def _field(model: str, name: str) -> Callable[[], bool]:
    def probe() -> bool:
        from harness import spec

        return name in getattr(spec, model).model_fields

    return probe


def _scorer(name: str) -> Callable[[], bool]:
    def probe() -> bool:
        from harness import plugins

        return name in plugins.SCORERS.names()

    return probe


_SHARED_METRIC = """
name: probe
prompts: [{id: p, text: x}]
cases: [{id: c}]
scorers: [{type: contains, value: a, metric: m}, {type: contains, value: b, metric: m}]
"""


@functools.cache
def _loads(suite: str) -> bool:
    """Whether this harness loads the suite ``suite`` (a probe of a feature only its behaviour shows)."""
    from harness.errors import HarnessError
    from harness.suite import load_suite

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "probe.yaml"
        path.write_text(suite, encoding="utf-8")
        try:
            load_suite(path)
        except HarnessError:
            return False
    return True


def _either(*probes: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: any(probe() for probe in probes)


FEATURES: dict[str, Feature] = {
    "messages": Feature(16, "prompts as chat messages (messages:)", _field("PromptSpec", "messages")),
    "few_shot": Feature(16, "few_shot: examples in a prompt's messages", _field("PromptSpec", "messages")),
    "case_messages": Feature(16, "a case's own messages:", _field("Case", "messages")),
    "tools": Feature(16, "tools: and tool_choice:", _field("Suite", "tools")),
    "response_format": Feature(16, "response_format:", _field("Suite", "response_format")),
    "tool_args_valid": Feature(16, "the tool_args_valid scorer", _scorer("tool_args_valid")),
    "tool_call": Feature(16, "the tool_call scorer (with its own name: and args:)",
                         lambda: _scorer("tool_call")() and not _field("ScorerSpec", "args")()),
    "python": Feature(17, "the python scorer ({expr: ...})", _scorer("python")),
    "contains_any": Feature(17, "the contains_any scorer", _scorer("contains_any")),
    "contains_all": Feature(17, "the contains_all scorer", _scorer("contains_all")),
    "starts_with": Feature(17, "the starts_with scorer", _scorer("starts_with")),
    "levenshtein": Feature(17, "the levenshtein scorer", _scorer("levenshtein")),
    "groups": Feature(17, "scorer groups ({all: [...]})", _either(_scorer("all"), _field("ScorerSpec", "all"))),
    "metric": Feature(17, "metric: on a scorer", _field("ScorerSpec", "metric")),
    "shared_metric": Feature(17, "several scorers under one metric:", lambda: _loads(_SHARED_METRIC)),
    "derived_metrics": Feature(17, "derived_metrics:", _field("Suite", "derived_metrics")),
    "transform": Feature(17, "transform: (suite, case, scorer)", _field("ScorerSpec", "transform")),
    "http_provider": Feature(17, "http: models", _field("ModelSpec", "http")),
    "case_scorers_add": Feature(17, "a case's scorers add to the suite's", _field("Case", "inherit_scorers")),
}


def available(name: str) -> bool:
    """Whether this harness has the feature (an unknown name never is)."""
    feature = FEATURES.get(name)
    return feature is not None and feature.probe()


def missing(needs: Iterable[str]) -> list[str]:
    """The needed features this harness does not have yet, in FEATURES' order."""
    wanted = set(needs)
    return [name for name in FEATURES if name in wanted and not available(name)] + sorted(wanted - set(FEATURES))


def waiting(needs: Iterable[str]) -> str | None:
    """What to say of a suite that needs features this harness does not have yet (None when it has them all)."""
    waited = missing(needs)
    return f"not validated yet: it needs harness features still being added: {describe(waited)}" if waited else None


def describe(names: Iterable[str]) -> str:
    return ", ".join(f"{FEATURES[n].what} (#{FEATURES[n].issue})" if n in FEATURES else n for n in names)
