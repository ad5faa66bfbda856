"""`harness init`: a first suite of one's own, from a kind and (optionally) one's own cases, run end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.results import load_run
from harness.scaffold import KINDS
from harness.suite import load_suite
from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import run_cli


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_writes_a_suite_that_validates(tmp_path, kind, capsys):
    assert run_cli("init", "--yes", "--kind", kind, "--name", f"my-{kind}", "--no-run") == 0

    data = "csv" if kind == "classification" else "jsonl"
    assert _files(tmp_path) == [f"prompts/my-{kind}/guided.j2", f"prompts/my-{kind}/plain.j2",
                                f"suites/data/my-{kind}.{data}", f"suites/my-{kind}.yaml"]
    assert f"next: harness run suites/my-{kind}.yaml" in capsys.readouterr().out
    assert run_cli("validate", tmp_path / "suites" / f"my-{kind}.yaml") == 0  # renders every prompt for every case
    suite = load_suite(tmp_path / "suites" / f"my-{kind}.yaml")
    assert len(suite.prompts) == 2 and suite.thresholds == {"pass_rate": KINDS[kind].pass_rate}
    assert len(suite.cases) >= 5


def test_it_runs_the_new_suite_and_points_at_the_report(tmp_path, monkeypatch, capsys):
    with FakeLLMServer(lambda request: "positive") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-init-test-0000")
        code = run_cli("init", "--yes", "--kind", "classification", "--name", "tickets", "-m", "openai/fake")

    out = capsys.readouterr().out
    assert server.count == 16  # 8 sample cases x 2 prompts, through litellm and HTTP
    assert code == 1 and "verdict: ✗ failed: 2 thresholds missed" in out  # 'positive' to everything: 4 of 8
    report = out.split("report:  ", 1)[1].split("\n", 1)[0]
    assert "next: open the report above" in out
    assert report.startswith("reports/tickets-") and (tmp_path / report).is_file()


def test_from_a_csv_of_ones_own_the_columns_become_vars(tmp_path):
    (tmp_path / "reviews.csv").write_text(
        "id,review,stars,expected\nmochi,The mochi is excellent!,5,positive\nfries,Cold fries again.,1,negative\n")

    assert run_cli("init", "--yes", "--kind", "classification", "--name", "reviews", "--from", "reviews.csv",
                   "--no-run") == 0

    assert (tmp_path / "prompts/reviews/plain.j2").read_text() == (
        "Classify the text into exactly one of these labels: negative, positive. Answer with the label only.\n"
        "\nreview: {{ review }}\nstars: {{ stars }}\n")
    suite = load_suite(tmp_path / "suites/reviews.yaml")
    assert suite.scorers[0].arguments == {"labels": ["negative", "positive"]}
    assert [c.vars for c in suite.cases] == [{"review": "The mochi is excellent!", "stars": "5"},
                                            {"review": "Cold fries again.", "stars": "1"}]


def test_from_a_flat_jsonl_with_another_answer_column(tmp_path):
    (tmp_path / "qa.jsonl").write_text('{"context": "Trains leave from platform 4.", "question": "Which platform?", '
                                       '"answer": "platform 4"}\n')

    assert run_cli("init", "--yes", "--kind", "rag", "--name", "qa", "--from", "qa.jsonl", "--expected", "answer",
                   "--no-run") == 0

    (case,) = load_suite(tmp_path / "suites/qa.yaml").cases
    assert case.vars == {"context": "Trains leave from platform 4.", "question": "Which platform?"}
    assert case.expected == "platform 4"


@pytest.mark.parametrize("content, message", [
    ("", "reviews.csv: the cases file has no cases"),
    ("id,review text,expected\na,Good,positive\n",
     "reviews.csv:1: the column 'review text' is not a valid variable name: a prompt could not write "
     "{{ review text }}\n  hint: rename it, e.g. 'review_text'"),
    ("id,1st,expected\na,Good,positive\n", "hint: rename it, e.g. 'the_1st'"),
    ("id,review,label\na,Good,positive\n", "reviews.csv:1: no expected answers: a suite of kind classification scores"),
    (b"id,review,expected\na,caf\xe9,positive\n", "reviews.csv:2: not UTF-8 text (byte 24)"),
])
def test_bad_cases_files_are_clear_errors_and_nothing_is_written(tmp_path, capsys, content, message):
    path = tmp_path / "reviews.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    assert run_cli("init", "--yes", "--name", "reviews", "--from", path, "--no-run") == 2

    assert message in capsys.readouterr().err
    assert _files(tmp_path) == ["reviews.csv"]


def test_existing_files_are_never_overwritten(tmp_path, capsys):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "tickets.yaml").write_text("mine\n")

    assert run_cli("init", "--yes", "--name", "tickets", "--no-run") == 2

    err = capsys.readouterr().err
    assert "these files exist already, and harness init never replaces a file: " in err and "tickets.yaml" in err
    assert _files(tmp_path) == ["suites/tickets.yaml"] and (tmp_path / "suites/tickets.yaml").read_text() == "mine\n"


@pytest.mark.parametrize("args, message", [
    (["--name", "My Suite"], "'My Suite' cannot name a suite"),
    (["--kind", "clasification"], "no kind of suite 'clasification' (did you mean 'classification'?)"),
    (["--from", "missing.csv"], "missing.csv: no cases file here"),
    (["--from", "cases.txt"], "cases.txt: a cases file must be .csv or .jsonl, not '.txt'"),
    (["--from", "reviews.csv", "--expected", "labl"], "reviews.csv:1: no column 'labl' (did you mean 'label'?)"),
])
def test_bad_flags_are_clear_errors(tmp_path, capsys, args, message):
    (tmp_path / "cases.txt").write_text("x")
    (tmp_path / "reviews.csv").write_text("review,label\nGood,positive\n")
    assert run_cli("init", "--yes", "--no-run", *args) == 2
    assert message in capsys.readouterr().err


def test_it_asks_when_not_told(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "init", "--no-run"], input="9\n3\nBad Name\nnews\n\n",
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "What will the suite check?\n  1. classification: a label for each text" in done.stdout
    assert "no kind of suite '9'" in done.stdout and "'Bad Name' cannot name a suite: use lower-case" in done.stdout
    suite = (tmp_path / "suites" / "news.yaml").read_text()
    assert suite.startswith("# A suite of kind summarization: a short summary")


def test_asked_it_names_the_suite_after_the_cases_file_and_asks_again_for_a_file_not_there(tmp_path):
    (tmp_path / "My Reviews.csv").write_text("id,review,expected\na,Good,positive\nb,Bad,negative\n")
    done = subprocess.run([sys.executable, "-m", "harness", "init", "--no-run"],
                          input="1\n\nnope.csv\nMy Reviews.csv\n", capture_output=True, text=True, cwd=tmp_path,
                          timeout=60)

    assert done.returncode == 0, done.stderr
    assert "no file nope.csv: give the path of a .csv or .jsonl file, or press Enter" in done.stdout
    assert (tmp_path / "suites" / "classification.yaml").is_file()  # the name was asked before the file

    named = subprocess.run([sys.executable, "-m", "harness", "init", "--no-run", "--from", "My Reviews.csv"],
                           input="1\n\n", capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert named.returncode == 0, named.stderr
    assert "[my-reviews]" in named.stdout and (tmp_path / "suites" / "my-reviews.yaml").is_file()


def test_without_answers_or_flags_it_says_how_to_go_without(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "init"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "no answer on standard input" in done.stderr
    assert "harness init --yes --name N --kind K" in done.stderr and list(tmp_path.iterdir()) == []


def test_the_samples_pass_when_the_model_answers_well(tmp_path, monkeypatch, capsys):
    """Each sample, answered with its own expected answers, passes its scorers: samples and scorers agree."""
    for kind in KINDS:
        assert run_cli("init", "--yes", "--kind", kind, "--name", kind, "--no-run") == 0
    cases = [(kind, case) for kind in KINDS for case in load_suite(tmp_path / "suites" / f"{kind}.yaml").cases]

    def well(request):
        prompt = last_user_message(request)
        kind, case = next((k, c) for k, c in cases if all(str(v) in prompt for v in c.vars.values()))
        if kind == "extraction":
            return json.dumps({"name": case.expected, "product": "mug", "quantity": 3})
        if kind == "rag" and case.expected is None:
            return "The context does not say."
        return str(case.expected)

    with FakeLLMServer(well) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-init-test-0000")
        for kind in KINDS:
            assert run_cli("run", tmp_path / "suites" / f"{kind}.yaml", "-m", "openai/fake",
                           "--out", tmp_path / "runs" / kind) == 0
            manifest = load_run(tmp_path / "runs" / kind).manifest
            assert all(v.pass_rate == 1.0 for v in manifest.variants), (kind, capsys.readouterr().out)


def test_the_help_names_every_kind(capsys):
    assert run_cli("init", "--help") == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(kind in help_text for kind in KINDS)


def test_labels_are_shown_as_written_never_run_as_a_template(tmp_path):
    (tmp_path / "tickets.csv").write_text("id,text,expected\na,Hi,odd {% raw %}\nb,Yo,bad {{ x }}\n")

    assert run_cli("init", "--yes", "--kind", "classification", "--name", "tickets", "--from", "tickets.csv",
                   "--no-run") == 0

    suite = tmp_path / "suites/tickets.yaml"
    assert run_cli("validate", suite) == 0  # the template renders for every case
    assert run_cli("run", suite, "-m", "echo", "--out", tmp_path / "run") in (0, 1)  # echo answers with the prompt
    answer = json.loads((tmp_path / "run/results.jsonl").read_text().splitlines()[0])["response"]["text"]
    assert "bad {{ x }}, odd {% raw %}" in answer
