"""harness: evaluate prompts and models with YAML suites, Jinja prompts and any model through litellm.

The Python API mirrors the CLI::

    import harness
    run = harness.run_suite("suites/sentiment.yaml", models=["local"])
    df = harness.load_run(run.directory).to_dataframe()

Names are imported on first use so that ``import harness`` (and ``harness --help``) stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_suite": "harness.run",
    "resume_run": "harness.run",
    "RunOptions": "harness.run",
    "load_suite": "harness.suite",
    "Suite": "harness.spec",
    "Case": "harness.spec",
    "load_run": "harness.results",
    "Run": "harness.results",
    "TrialResult": "harness.records",
    "scorer": "harness.scorers",
    "Score": "harness.records",
    "Verdict": "harness.records",
    "provider": "harness.providers",
    "output": "harness.outputs",
    "Response": "harness.records",
    "HarnessError": "harness.errors",
    "assert_suite": "harness.pytest_plugin",
}

__all__ = sorted(_EXPORTS)


_SUBMODULES = {"testing", "stats", "compare"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"harness.{name}")
    raise AttributeError(f"module 'harness' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
