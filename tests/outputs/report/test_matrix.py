"""The case matrix's data: chunks that join back into exactly the rows, and the cap a big run gets."""

from __future__ import annotations

from pathlib import Path

from harness.files import printable
from harness.outputs.report import write_report
from harness.outputs.report.matrix import Limits, plan_matrix
from harness.records import BaselineComparison, Change, Response, RunManifest, Score, SuiteRef, TrialResult
from harness.results import ResultsWriter, index_results, load_run, write_manifest
from tests.conftest import embedded_data

TRICKY = ["line\u2028separator", "para\u2029graph", "next\u0085line", "file\x1cseparator", "lone \ud800 surrogate",
          "</script><script>alert(1)</script>", "emoji 🎉 & <b>", "é" * 3000]


def trial(case: int, prompt: str, text: str, *, passed: bool = True, error: str | None = None) -> TrialResult:
    return TrialResult(case_id=f"case-{case:02d}", prompt_id=prompt, model_id="m", repeat=0,
                       messages=[{"role": "user", "content": f"Say {text}"}], vars={"text": text}, expected=None,
                       response=Response(text=text, error=error),
                       scores=[] if error else [Score(name="s", value=float(passed), passed=passed, threshold=1.0)])


def stored_run(directory: Path, results: list[TrialResult]):
    writer = ResultsWriter(directory)
    for result in results:
        writer.write(result)
    writer.close()
    write_manifest(directory, RunManifest(suite=SuiteRef(name="s"), status="completed"))
    return load_run(directory)


def test_chunks_join_into_every_row_in_order_with_its_text_unchanged(tmp_path):
    results = [trial(i, prompt, f"{prompt}: {text}") for i, text in enumerate(TRICKY) for prompt in ("a", "b")]
    run = stored_run(tmp_path, results)

    chunked = write_report(run, tmp_path / "chunked.html", Limits(chunk_chars=200)).read_text(encoding="utf-8")
    whole = write_report(run, tmp_path / "whole.html", Limits(chunk_chars=10**9)).read_text(encoding="utf-8")

    assert chunked.count('class="harness-data"') > 3 * whole.count('class="harness-data"') > 0
    assert "</script><script>alert" not in chunked  # still escaped, chunk by chunk
    data = embedded_data(chunked)
    assert data == embedded_data(whole)
    assert [row["id"] for row in data["rows"]] == [f"case-{i:02d}" for i in range(len(TRICKY))]
    for row, text in zip(data["rows"], TRICKY, strict=True):
        assert [cell["o"] for cell in row["c"]] == [printable(f"{p}: {text}") for p in ("a", "b")]
        assert "oc" not in row["c"][0]  # nothing clipped within the budget
        assert [data["strings"][i] for cell in row["c"] for _, i, _images in cell["m"]] == [
            printable(f"Say {p}: {text}") for p in ("a", "b")]


def test_past_the_budget_outputs_are_clipped_and_the_most_informative_rows_kept(tmp_path):
    failing, erroring = {5, 7}, {3}  # and case 9 regressed against the baseline below
    results = [trial(i, prompt, f"{i} " + "word " * 400, passed=not (i in failing and prompt == "b"),
                     error="timeout" if i in erroring and prompt == "a" else None)
               for prompt in ("a", "b") for i in range(20)]
    directory = tmp_path / "run"
    run = stored_run(directory, results)
    stored = index_results(directory)
    baseline = BaselineComparison(matched=40, regressions=[Change(case_id="case-09", prompt_id="a", model_id="m",
                                                                  repeat=0, reasons=["s 1.00 → 0.50"])])
    row_size = 2 * (stored[0].length - 2000 + 100)  # two cells, each output clipped to 100 characters

    matrix = plan_matrix(stored, [("a", "m"), ("b", "m")], baseline,
                         Limits(budget_bytes=int(4.5 * row_size), output_chars=100))

    assert [row.case_id for row in matrix.rows] == ["case-03", "case-05", "case-07", "case-09"]  # in suite order
    assert matrix.total_rows == 20 and matrix.clip == 100
    note = matrix.note("run")
    assert "4 of its 20 rows are shown" in note and "longer than 100 characters are clipped" in note
    assert "results.jsonl in the run folder run" in note
    assert plan_matrix(stored, [("a", "m"), ("b", "m")], None, Limits(budget_bytes=10**9)).note("run") is None

    run.manifest.baseline = baseline
    report = write_report(run, tmp_path / "report.html", Limits(budget_bytes=int(4.5 * row_size), output_chars=100))
    cell = embedded_data(report.read_text(encoding="utf-8"))["rows"][0]["c"][1]
    assert cell["o"] == results[23].response.text[:100] and cell["oc"] == len(results[23].response.text)
