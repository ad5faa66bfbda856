"""harness: evaluate prompts and models with YAML suites, Jinja prompts and any model through litellm.

The public API; the CLI is a thin layer over it::

    import harness
    suite = harness.load_suite("suites/sentiment.yaml")
    run = harness.run_suite(suite, models=["openai/gpt-4o-mini"])
    run.metrics[0].pass_rate, run.to_dataframe()
    harness.compare("suites/baselines/sentiment.jsonl", run).regressions

Everything else may move between releases. Names are imported on first use, so ``import harness``
(and ``harness --help``) stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_suite": "harness.suite",
    "Suite": "harness.spec",
    "Case": "harness.spec",
    "run_suite": "harness.run",
    "resume_run": "harness.run",
    "RunOptions": "harness.run",
    "load_run": "harness.results",
    "Run": "harness.results",
    "compare": "harness.baseline",
    "TrialResult": "harness.records",
    "RunManifest": "harness.records",
    "Response": "harness.records",
    "Score": "harness.records",
    "Verdict": "harness.records",
    "scorer": "harness.scorers",
    "provider": "harness.providers",
    "output": "harness.outputs",
    "HarnessError": "harness.errors",
    "assert_suite": "harness.pytest_plugin",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'harness' has no attribute '{name}'")


def __dir__() -> list[str]:
    return __all__
