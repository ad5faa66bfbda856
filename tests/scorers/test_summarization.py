"""Summary scorers on hand-checked strings, and against the reference libraries' own numbers."""

from __future__ import annotations

import textwrap

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from harness.run import run_suite
from harness.spec import Case
from harness.testing import FakeLLMServer, score_output

REFERENCE = "the cat sat on the mat"


def case(expected, **vars_) -> Case:
    return Case(vars=vars_, expected=expected)


def test_rouge_by_hand():
    # 3 of the reference's 6 unigrams, all 3 of the output's: P 1, R 0.5, F 2/3.
    assert score_output("rouge1", "the cat sat", case(REFERENCE)).value == pytest.approx(2 / 3)
    # bigrams: output {the cat, cat sat}, reference 5 bigrams, 2 shared: P 1, R 0.4, F 4/7.
    assert score_output("rouge2", "the cat sat", case(REFERENCE)).value == pytest.approx(4 / 7)
    assert score_output("rougeL", REFERENCE, case(REFERENCE)).value == 1.0
    # Stemming: "sitting cats" matches "cats sit" in stems (cat, sit).
    assert score_output("rouge1", "cats sitting", case("the cat sits")).value == pytest.approx(0.8)


def test_rouge_takes_the_closest_of_several_references_and_matches_rouge_score():
    output = "Harbridge council passed a 48 million pound budget for roads."
    refs = ["The council approved a budget of 48 million pounds.",
            "Harbridge passed a 48 million pound budget for road repairs and libraries."]
    library = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    best = max(library.score(r, output)["rougeL"].fmeasure for r in refs)
    score = score_output("rougeL", output, case(refs))
    assert score.value == pytest.approx(best) and "best of 2 references" in score.explanation
    assert best > library.score(refs[0], output)["rougeL"].fmeasure


def test_bleu_and_chrf_are_sacrebleus_sentence_scores_over_100():
    output, refs = "the cat is on the mat", ["the cat sat on the mat", "a cat is on the mat"]
    assert score_output("bleu", output, case(refs)).value == pytest.approx(
        sacrebleu.sentence_bleu(output, refs).score / 100)
    assert score_output("chrf", output, case(refs)).value == pytest.approx(
        sacrebleu.sentence_chrf(output, refs).score / 100)
    assert score_output("bleu", REFERENCE, case(REFERENCE)).value == pytest.approx(1.0)
    assert score_output("bleu", "dogs run fast", case(REFERENCE)).value == 0.0


def test_length_and_compression_bounds():
    ok = score_output({"type": "length", "min_words": 2, "max_words": 5}, "three short words", case(None))
    long = score_output({"type": "length", "max_words": 2, "max_chars": 10}, "three short words", case(None))
    assert ok.passed and ok.explanation == "3 words, 17 characters"
    assert not long.passed and long.explanation == "words 3 > 2; characters 17 > 10"
    article = " ".join(["word"] * 100)
    spec = {"type": "compression", "source": "article", "max_ratio": 0.25}
    assert score_output(spec, " ".join(["w"] * 20), case(None, article=article)).passed
    too_long = score_output(spec, " ".join(["w"] * 30), case(None, article=article))
    assert not too_long.passed and too_long.metadata["ratio"] == 0.3 and "≤ 0.25" in too_long.explanation


def test_similarity_through_a_litellm_embedding_model_over_http(tmp_path):
    """The similarity scorer end to end with an OpenAI-compatible embeddings endpoint (the test server's)."""
    (tmp_path / "summ.j2").write_text("Summarize: {{ article }}")
    with FakeLLMServer(lambda request: "the council passed the budget") as server:
        suite = tmp_path / "summ.yaml"
        suite.write_text(textwrap.dedent(f"""\
            name: summ
            prompts: [summ.j2]
            models:
              - {{id: fake, model: openai/m, params: {{api_base: {server.base_url}, api_key: sk-test-1234567}}}}
            cases:
              - id: close
                vars: {{article: "A long article."}}
                expected: ["the council passed the budget on tuesday", "weather was fine"]
              - id: far
                vars: {{article: "Another article."}}
                expected: "storms closed every road in the north"
            scorers:
              - {{type: similarity, model: openai/text-embedding-test, threshold: 0.8}}
            """))
        # litellm reads the embedding endpoint from the environment, as for any OpenAI-compatible server.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OPENAI_API_BASE", server.base_url)
            env.setenv("OPENAI_API_KEY", "sk-embed-test-123")
            run = run_suite(suite, reports_dir=tmp_path / "reports")
        embedded = [text for request in server.embedding_requests for text in request["input"]]
    scores = {r.case_id: r.scores[0] for r in run.results}
    assert scores["close"].value > 0.8 and scores["close"].passed and "best of 2" in scores["close"].explanation
    assert scores["far"].value < 0.5 and not scores["far"].passed
    assert server.embedding_requests[0]["model"] == "text-embedding-test"
    assert "the council passed the budget on tuesday" in embedded


def test_similarity_with_the_bundled_minilm_model():
    paraphrase = score_output("similarity", "The town council approved next year's budget.",
                              case("Councillors voted to pass the budget for next year."))
    unrelated = score_output("similarity", "The town council approved next year's budget.",
                             case("Heavy snow closed the mountain pass."))
    assert paraphrase.value > 0.7 > unrelated.value
    assert paraphrase.passed and not unrelated.passed
