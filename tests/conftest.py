"""Fixtures that build real projects in tmp_path and start a real OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.testing import FakeLLMServer, Reply, last_user_message

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

pytest_plugins = ["pytester"]

POSITIVE_WORDS = ("excellent", "best", "smile", "lovely", "great")


def sentiment_answer(request: dict) -> Reply | str:
    """A deterministic 'model': says positive when the review has a positive word, else negative."""
    text = last_user_message(request).lower()
    review = text.rsplit("review:", 1)[-1]
    return "Positive" if any(w in review for w in POSITIVE_WORDS) else "The sentiment is negative."


def embedded_data(report: str) -> dict:
    """The JSON the report's case matrix is drawn from, its chunks joined as the page's script joins them."""
    data: dict = {"rows": [], "strings": []}
    for block in re.findall(r'<script type="application/json" class="harness-data">(.*?)</script>', report, re.DOTALL):
        for key, value in json.loads(block).items():
            data[key] = data[key] + value if key in ("rows", "strings") else value
    return data


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own cache and no provider keys, so nothing depends on the developer's machine."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HARNESS_MODEL", "OPENAI_BASE_URL", "OPENAI_API_BASE",
                "HARNESS_CACHE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in os.environ if k.startswith("GITHUB_")] + ["GH_TOKEN"]:  # as if not under Actions
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def server():
    with FakeLLMServer(sentiment_answer) as fake:
        yield fake


REVIEWS = [
    ("mochi", "The mochi is excellent!", "positive"),
    ("dumplings", "Best soup dumplings I have ever eaten.", "positive"),
    ("reservation", "Not worth the 3 month wait for a reservation.", "negative"),
    ("tablecloths", "The colorful tablecloths made me smile!", "positive"),
    ("cold-pasta", "The pasta was cold.", "negative"),
    ("sarcasm", "Oh great, cold fries again.", "negative"),  # the fake model gets this one wrong
]


@pytest.fixture
def project(tmp_path: Path, server: FakeLLMServer):
    """A project folder with prompts/, suites/ (a sentiment suite whose model is the fake server)."""

    def make(suite_yaml: str | None = None, *, reviews=REVIEWS, base_url: str | None = None) -> Path:
        (tmp_path / "prompts" / "sentiment").mkdir(parents=True, exist_ok=True)
        (tmp_path / "prompts" / "sentiment" / "terse.j2").write_text(
            "Classify the sentiment as positive or negative.\nReview: {{ review }}\n")
        (tmp_path / "prompts" / "sentiment" / "critic.j2").write_text(
            "{% block system %}You are a restaurant critic.{% endblock %}\nReview: {{ review }}\nSentiment:")
        (tmp_path / "suites" / "data").mkdir(parents=True, exist_ok=True)
        rows = ["id,review,expected"] + [f'{i},"{r}",{e}' for i, r, e in reviews]
        (tmp_path / "suites" / "data" / "reviews.csv").write_text("\n".join(rows) + "\n")
        path = tmp_path / "suites" / "sentiment.yaml"
        path.write_text(textwrap.dedent(suite_yaml or f"""\
            name: sentiment
            prompts:
              - id: terse
                template: sentiment/terse.j2
              - id: critic
                template: sentiment/critic.j2
            models:
              - id: fake
                model: openai/fake-model
                params:
                  api_base: {base_url or server.base_url}
                  api_key: sk-test-key-123456
            params:
              temperature: 0
            cases: data/reviews.csv
            scorers:
              - type: label
                labels: [positive, negative]
            thresholds:
              pass_rate: 0.5
            """))
        return path

    return make


def plugin_suite(directory: Path, base_url: str, extra: str = "", *, tags: bool = False) -> Path:
    """A one-prompt sentiment suite in ``directory`` whose model is the server at ``base_url``; ``extra`` is more
    YAML (thresholds, gates); ``tags`` tags the mochi case 'classic' in the data file."""
    (directory / "prompts").mkdir(exist_ok=True)
    (directory / "prompts" / "terse.j2").write_text("Classify the sentiment.\nReview: {{ review }}")
    header = "id,review,expected" + (",tags" if tags else "")
    rows = [f'{i},"{r}",{e}' + ("," + ("classic" if i == "mochi" else "") if tags else "") for i, r, e in REVIEWS]
    (directory / "suites").mkdir(exist_ok=True)
    (directory / "suites" / "reviews.csv").write_text("\n".join([header, *rows]) + "\n")
    path = directory / "suites" / "sentiment.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: sentiment
        prompts: [terse.j2]
        models:
          - id: fake
            model: openai/fake-model
            params: {{api_base: "{base_url}", api_key: sk-plugin-test-1234}}
        cases: reviews.csv
        scorers: [{{type: label, labels: [positive, negative]}}]
        """) + extra)
    return path


def run_cli(*args: str) -> int:
    """Run the real CLI entry point in-process and return its exit code."""
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    return exited.value.code
