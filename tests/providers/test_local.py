"""The bundled local model, for real: the example suite through litellm to llama.cpp on 127.0.0.1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.providers import local as local_model
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
ORIGINAL_CACHE_DIR = os.environ.get("HARNESS_CACHE_DIR")

pytestmark = [pytest.mark.local_model, pytest.mark.usefixtures("users_model_cache")]


@pytest.fixture
def users_model_cache(monkeypatch):
    """The user's own cache, where the 491 MB model is assembled once for good (not once per test session).

    The tests below never read or write its response cache (--no-cache), so the model really runs.
    """
    if ORIGINAL_CACHE_DIR is None:
        monkeypatch.delenv("HARNESS_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("HARNESS_CACHE_DIR", ORIGINAL_CACHE_DIR)


def test_the_model_file_is_assembled_and_verified():
    path = local_model.model_path()
    assert path.stat().st_size == local_model.SIZE
    assert path.read_bytes()[:4] == b"GGUF"


def test_sentiment_suite_runs_on_the_local_model_by_default(tmp_path, capsys):
    code = run_cli("run", REPO / "suites" / "sentiment.yaml", "--limit", "5", "--no-cache", "--out", tmp_path / "run")

    assert code in (0, 1)  # whether the 5 classics clear the suite's threshold is the model's business
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["config"]["models"][0]["model"] == "local"
    assert "no provider key" in manifest["config"]["models_from"]
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 15 and all(r["response"]["error"] is None for r in rows)  # 5 cases x 3 prompts
    assert all(r["response"]["completion_tokens"] > 0 and r["response"]["text"].strip() for r in rows)
    predicted = [r["scores"][0]["metadata"]["predicted"] for r in rows]
    correct = sum(1 for r in rows if r["passed"])
    assert predicted.count(None) <= 3 and correct >= 9, [r["response"]["text"] for r in rows]
    assert (tmp_path / "run" / "report.html").stat().st_size > 1000
    assert "local" in capsys.readouterr().out


def _ran_cleanly(run_dir: Path, trials: int) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == trials and not any(r["response"]["error"] for r in rows)
    assert not any(s["error"] for r in rows for s in r["scores"]), "a judge verdict was unreadable"
    assert (run_dir / "report.html").is_file()
    return rows


def test_summarization_suite_on_the_local_model(tmp_path):
    code = run_cli("run", REPO / "suites" / "summarization.yaml", "--limit", "2", "--no-cache", "--out", tmp_path / "r")
    assert code in (0, 1)
    rows = _ran_cleanly(tmp_path / "r", 4)
    names = {s["name"] for s in rows[0]["scores"]}
    assert names == {"rougeL", "similarity", "consistency", "length", "rouge1", "rouge2", "bleu", "chrf",
                     "compression"}
    assert all(0 < r["score"] <= 1 for r in rows)  # the weighted score decides each trial
    variant = json.loads((tmp_path / "r" / "run.json").read_text())["variants"][0]
    assert variant["judge"]["judge_calls"] >= 2 and variant["judge"]["judge_completion_tokens"] > 0
    assert 0 < variant["scorers"]["similarity"]["mean"] <= 1


def test_hallucination_suite_on_the_local_model(tmp_path):
    code = run_cli("run", REPO / "suites" / "hallucination.yaml", "--limit", "3", "--no-cache", "--out", tmp_path / "r")
    assert code in (0, 1)
    rows = _ran_cleanly(tmp_path / "r", 6)
    by_case = {r["case_id"]: {s["name"] for s in r["scores"]} for r in rows}
    assert by_case["tolworth-library-opening-year"] == {"abstention", "grounded", "faithfulness"}
    # The second case is unanswerable: the model should say the context does not say.
    unanswerable = next(r for r in rows if r["case_id"] == "tolworth-library-opening-year")
    assert {s["name"]: s for s in unanswerable["scores"]}["abstention"]["metadata"]["expected"] == "abstain"
    abstention = json.loads((tmp_path / "r" / "run.json").read_text())["variants"][0]["scorers"]["abstention"]
    assert abstention["classification"]["labels"] and "macro_f1_ci" in abstention["classification"]


def test_judge_calibration_suite_on_the_local_model(tmp_path):
    code = run_cli("run", REPO / "suites" / "judge_calibration.yaml", "--limit", "4", "--no-cache",
                   "--out", tmp_path / "r")
    assert code in (0, 1)
    _ran_cleanly(tmp_path / "r", 4)
    faithfulness = json.loads((tmp_path / "r" / "run.json").read_text())["variants"][0]["scorers"]["faithfulness"]
    assert faithfulness["human_agreement"]["n"] == 4 and 0 <= faithfulness["agreement"] <= 1
