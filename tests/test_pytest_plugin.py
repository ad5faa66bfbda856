"""The pytest plugin, run by pytest itself (pytester) against the test HTTP server."""

from __future__ import annotations

import pytest

from harness.providers._litellm import litellm_module
from harness.testing import FakeLLMServer, Reply, last_user_message
from tests.conftest import plugin_suite, sentiment_answer

# pytester runs pytest in this process and restores sys.modules after each run; a litellm first
# imported inside such a run leaves the next run unable to load any entry-point plugin. Imported
# here, it is part of the snapshot and every inner run shares it.
litellm_module()


def answer(request):
    if "cold." in last_user_message(request):
        return Reply("upstream exploded", status=400)
    return sentiment_answer(request)


@pytest.fixture
def fake():
    with FakeLLMServer(answer) as server:
        yield server


@pytest.fixture
def suite_file(pytester, fake):
    return plugin_suite(pytester.path, fake.base_url, "thresholds: {pass_rate: 0.9}\ntags: [sentiment]\n", tags=True)


def test_pytest_collects_a_suite_as_trials_and_thresholds(pytester, suite_file, fake):
    result = pytester.runpytest("suites/", "-v")

    # 6 trials: 4 right, sarcasm wrong (failed), cold-pasta a provider error; thresholds:
    # error_rate 1/6 > 0.1 and pass_rate 4/5 < 0.9 both fail.
    result.assert_outcomes(passed=4, failed=3, errors=1)
    result.stdout.fnmatch_lines([
        "*sentiment.yaml::terse::fake::mochi PASSED*",
        "*sentiment.yaml::terse::fake::sarcasm FAILED*",
        "*sentiment.yaml::threshold::terse::fake::pass_rate FAILED*",
    ])
    text = result.stdout.str()
    assert "[user] Classify the sentiment.\nReview: Oh great, cold fries again." in text
    assert "output: Positive" in text
    assert "FAIL label = 0.00 (threshold 1.0): predicted positive, expected negative" in text
    assert "provider error for cold-pasta|terse|fake|0: BadRequestError (400)" in text
    assert "threshold missed: pass_rate = 0.8 for terse × fake (needs ≥ 0.9)" in text
    assert "harness: sentiment report:" in text
    assert fake.count == 6  # every trial ran once, in one batch
    assert "sk-plugin-test-1234" not in text


def test_k_and_markers_select_what_runs(pytester, suite_file, fake):
    result = pytester.runpytest("suites/", "-k", "mochi or dumplings")
    result.assert_outcomes(passed=2)
    assert fake.count == 2  # deselected trials are not sent to the model

    result = pytester.runpytest("suites/", "-m", "classic")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("suites/", "-m", "sentiment", "--collect-only", "-q")
    assert "8 tests collected" in result.stdout.str()


def test_harness_options_pick_the_suite_and_the_model(pytester, suite_file, fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0000-1111")
    with FakeLLMServer(lambda _r: "negative") as other:
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url)
        result = pytester.runpytest("--harness-suite", str(suite_file), "--harness-model", "openai/other",
                                    "-k", "not threshold", "-p", "no:cacheprovider")
        assert other.count == 6 and fake.count == 0
    result.assert_outcomes(passed=3, failed=3)


def test_a_broken_suite_is_a_collection_error_with_the_located_message(pytester, suite_file):
    suite_file.write_text(suite_file.read_text().replace("scorers:", "scorrers:"))
    result = pytester.runpytest("suites/")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*sentiment.yaml:*: unknown key 'scorrers' (did you mean 'scorers'?)*"])


def test_other_yaml_files_are_not_collected(pytester):
    pytester.makefile(".yml", ci="on: push\njobs: {}\n")
    result = pytester.runpytest(".")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_assert_suite_from_a_hand_written_test(pytester, suite_file):
    pytester.makepyfile(test_quality="""
        import pytest
        from harness import assert_suite

        def test_good_enough():
            assert_suite("suites/sentiment.yaml", min_pass_rate=0.5, prompts=["terse"], limit=2)

        def test_not_good_enough():
            assert_suite("suites/sentiment.yaml", min_pass_rate=0.99)
    """)
    result = pytester.runpytest("test_quality.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*terse x fake: pass rate 0.8 < 0.99*", "*first failing trials*"])


def test_tags_never_become_pytests_own_markers_and_odd_ids_run(pytester, suite_file, fake):
    csv = suite_file.parent / "reviews.csv"
    csv.write_text(csv.read_text().replace("mochi,", "mo|chi,", 1).replace(",classic", ",xfail;-slow"))
    result = pytester.runpytest("suites/", "-k", "not threshold")
    result.assert_outcomes(passed=4, failed=1, errors=1)  # nothing xfailed, nothing skipped
    assert "was not run" not in result.stdout.str() and fake.count == 6


def test_harness_suite_alone_collects_only_that_suite(pytester, suite_file):
    pytester.makepyfile(test_other="def test_other(): pass")
    result = pytester.runpytest("--harness-suite", str(suite_file), "--collect-only", "-q")
    assert "test_other" not in result.stdout.str() and "8 tests collected" in result.stdout.str()
