"""Planning a run: which models run, with which params (-m replaces only the model)."""

from __future__ import annotations

import textwrap

from harness.run.plan import resolve_models
from harness.suite import load_suite
from harness.testing import FakeLLMServer
from tests.conftest import run_cli


def _suite(project, models: str):
    path = project()
    text = path.read_text()
    start, end = text.index("models:"), text.index("params:\n  temperature")
    path.write_text(text[:start] + textwrap.dedent(models) + text[end:])
    return load_suite(path)


def test_model_replaces_only_the_model_and_keeps_the_suites_params(project):
    suite = _suite(project, """\
        models:
          - id: mini
            model: openai/gpt-4o-mini
            params: {max_tokens: 8, seed: 7, top_p: 0.5, api_base: "http://gateway:8000/v1", api_key: sk-mini-000000}
            rpm: 500
          - id: haiku
            model: anthropic/claude-3-5-haiku-latest
            params: {max_tokens: 8, seed: 7, top_p: 0.9}
        """)

    (local,), _ = resolve_models(suite, ["local"])

    # The params both models share, with the suite's own params under them; not the gateway or its key.
    assert local.model == "local" and local.params == {"temperature": 0, "max_tokens": 8, "seed": 7}
    (mini,), _ = resolve_models(suite, ["mini"])  # a suite model's id: that model as configured
    assert mini.params["api_base"] == "http://gateway:8000/v1" and mini.rpm == 500
    (upgrade,), _ = resolve_models(suite, ["mini=openai/gpt-4.1-mini"])
    assert upgrade.id == "mini" and upgrade.params["top_p"] == 0.5


def test_a_run_with_another_model_sends_the_suites_params(project, tmp_path, monkeypatch):
    with FakeLLMServer(lambda _r: "positive") as other:
        _suite(project, """\
            models:
              - id: fake
                model: openai/fake-model
                params: {max_tokens: 5, api_base: "http://127.0.0.1:9/v1", api_key: sk-unused-000000}
            """)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0000-1111")
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url)
        run_cli("run", tmp_path / "suites" / "sentiment.yaml", "-m", "openai/other", "--prompt", "terse")
    assert other.count == 6 and {(r["model"], r["max_tokens"], r["temperature"]) for r in other.requests} == {
        ("other", 5, 0)}
