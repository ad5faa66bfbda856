"""Providers are a registry: a suite's plugin can add one for its own model prefix."""

from __future__ import annotations

import json

from tests.conftest import run_cli

PLUGIN = '''
import contextlib
from harness import provider
from harness.providers import Endpoint

@provider("viafake")
@contextlib.asynccontextmanager
async def viafake(spec):
    # "viafake/<name>" reaches the test server named in the model's params, as an OpenAI model.
    yield Endpoint(model="openai/" + spec.model.split("/", 1)[1],
                   kwargs={"api_base": spec.params["api_base"], "api_key": "sk-plugin-key-0000"})

@provider("explodes")
@contextlib.asynccontextmanager
async def explodes(spec):
    raise RuntimeError("provider start-up failed")
    yield
'''


def test_a_plugin_provider_serves_its_model_prefix(project, server, tmp_path):
    suite = project()
    (suite.parent / "providers.py").write_text(PLUGIN)
    suite.write_text(suite.read_text().replace("model: openai/fake-model", "model: viafake/mine")
                     .replace("scorers:\n", "plugins: [providers.py]\nscorers:\n"))

    assert run_cli("run", suite, "--prompt", "terse") == 0
    assert {r["model"] for r in server.requests} == {"mine"}
    results = next((tmp_path / "reports").glob("*/results.jsonl")).read_text()
    assert json.loads(results.splitlines()[0])["model_id"] == "fake" and "sk-plugin-key" not in results


def test_an_internal_failure_exits_3_with_a_message_not_a_traceback(project, server, capsys):
    suite = project()
    (suite.parent / "providers.py").write_text(PLUGIN)
    suite.write_text(suite.read_text().replace("model: openai/fake-model", "model: explodes/x")
                     .replace("scorers:\n", "plugins: [providers.py]\nscorers:\n"))

    assert run_cli("run", suite) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: provider start-up failed" in err and "Traceback" not in err
