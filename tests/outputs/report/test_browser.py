"""The report in a real browser (headless Chromium): numbers, filters, search, the URL, scripts off, XSS, scale."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from harness.outputs.report import write_report
from harness.outputs.report.matrix import Limits
from harness.testing import FakeLLMServer, Reply, last_user_message, synthetic_run
from tests.conftest import run_cli, sentiment_answer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
XSS = ['<script>alert("s")</script>', '</script><script>alert("t")</script>', '<img src=x onerror=alert("i")>',
       '<a href="javascript:alert(\'j\')">click</a>', '"><svg onload=alert("v")>']


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("the report tests need Chromium: apt-get install chromium (Debian/Ubuntu)", pytrace=False)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []  # any alert() that fires is recorded here
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


@pytest.fixture
def sentiment_run(project, server, tmp_path):
    assert run_cli("run", project(), "--out", tmp_path / "run") == 0
    return tmp_path / "run"


def test_summary_numbers_equal_run_json_and_filters_and_search_work(page, sentiment_run, tmp_path):
    manifest = json.loads((sentiment_run / "run.json").read_text())
    page.goto((sentiment_run / "report.html").as_uri())

    for variant in manifest["variants"]:
        row = page.locator("table.summary tbody tr", has_text=variant["prompt_id"]).first
        expect(row).to_contain_text(f"{variant['pass_rate'] * 100:.1f}%")
        expect(row).to_contain_text(f"{variant['passed']}/{variant['scored']}")
    expect(page.locator("#count")).to_have_text("rows 1–6 of 6")

    page.click("[data-filter=fail]")  # only the sarcastic review fails (for both prompts)
    expect(page.locator("#count")).to_have_text("rows 1–1 of 1 (of 6)")
    expect(page.locator("#cases-body tr")).to_contain_text("sarcasm")
    page.click("[data-filter=pass]")
    expect(page.locator("#cases-body tr")).to_have_count(5)
    page.click("[data-filter=all]")
    page.fill("#q", "tablecloths")
    expect(page.locator("#cases-body tr")).to_have_count(1)
    page.click("#cases-body summary >> text=vars")  # vars are built when opened
    expect(page.locator("#cases-body dd")).to_have_text("The colorful tablecloths made me smile!")
    assert "q=tablecloths" in page.url
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert page.errors == []


def test_the_url_hash_restores_the_view(page, sentiment_run):
    page.goto((sentiment_run / "report.html").as_uri() + "#filter=pass&q=dumplings")
    expect(page.locator("#count")).to_have_text("rows 1–1 of 1 (of 6)")
    expect(page.locator("[data-filter=pass]")).to_have_class("active")
    expect(page.locator("#q")).to_have_value("dumplings")


def test_diff_between_two_columns_highlights_changed_words(page, project, tmp_path):
    def wordy(request):
        critic = request["messages"][0]["role"] == "system"
        return "The sentiment is clearly positive" if critic else "The sentiment is positive"

    with FakeLLMServer(wordy) as server:
        run_cli("run", project(base_url=server.base_url), "--out", tmp_path / "run")
    page.goto((tmp_path / "run" / "report.html").as_uri() + "#a=0&b=1&q=mochi")
    expect(page.locator("#cases-body ins")).to_have_text(["clearly", " "])


def test_without_javascript_the_summary_still_reads(browser, sentiment_run):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto((sentiment_run / "report.html").as_uri())
    expect(page.locator("table.summary")).to_contain_text("83.3%")
    expect(page.locator("noscript")).to_have_count(1)
    context.close()


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with-csp", "escaping-alone"])
def test_untrusted_text_never_executes(browser, project, tmp_path, bypass_csp):
    """Payloads in outputs, case ids, vars, prompts and scorer explanations: no alert, no injected element."""
    def evil(request):
        text = last_user_message(request)
        return Reply(XSS[len(text) % len(XSS)] + " " + sentiment_answer(request))

    reviews = [(f"id{i}", f"review {i} {payload}", "positive") for i, payload in enumerate(XSS)]
    with FakeLLMServer(evil) as server:
        suite = project(base_url=server.base_url, reviews=[(r[0], r[1].replace('"', "'"), r[2]) for r in reviews])
        prompt = tmp_path / "prompts" / "sentiment" / "terse.j2"
        prompt.write_text("<script>alert('prompt')</script> {{ review }}")
        run_cli("run", suite, "--out", tmp_path / "run")
    context = browser.new_context(bypass_csp=bypass_csp)
    page = context.new_page()
    fired = []
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    page.goto((tmp_path / "run" / "report.html").as_uri())
    expect(page.locator("#cases-body tr")).to_have_count(5)
    for summary in page.locator("#cases-body details summary").all():
        summary.click()  # open every vars and prompt panel: their contents are built now
    page.select_option("#diff-a", "0")
    page.select_option("#diff-b", "1")
    page.wait_for_timeout(300)
    assert fired == []
    assert page.locator("img").count() == 0 and page.locator("svg[onload], [onerror], [onload]").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    kinds = page.eval_on_selector_all("script", "scripts => scripts.map((s) => s.type)")
    assert set(kinds[:-1]) == {"application/json"} and kinds[-1] == ""  # data blocks and our own script: no other
    expect(page.locator("#cases-body")).to_contain_text('<img src=x onerror=alert("i")>')  # shown, as text
    context.close()


def test_ten_thousand_cases_render_their_first_screen_quickly(page, tmp_path):
    run = synthetic_run(tmp_path / "big", cases=10_000)
    started = time.perf_counter()
    path = write_report(run, tmp_path / "big" / "report.html")  # reading results.jsonl included
    generated = time.perf_counter() - started
    assert generated < 3 and path.stat().st_size < 15_000_000

    started = time.perf_counter()
    page.goto(path.as_uri(), wait_until="commit")
    expect(page.locator("#cases-body tr")).to_have_count(50)
    first_screen = time.perf_counter() - started
    assert first_screen < 2, first_screen
    expect(page.locator("#count")).to_have_text("rows 1–50 of 10000")
    page.click("#next")
    expect(page.locator("#cases-body tr").first).to_contain_text("case-00050")


def test_a_report_past_its_limits_shows_rows_and_says_what_it_left_out(page, tmp_path):
    run = synthetic_run(tmp_path / "big", cases=400, output_words=300)  # outputs of ~1,700 characters
    failing = {f.case_id for f in run.facts() if not f.passed}
    path = write_report(run, tmp_path / "big" / "report.html",
                        Limits(budget_bytes=600_000, output_chars=500, chunk_chars=20_000))  # of 1.9 MB of results
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security" in message.text else None)

    page.goto(path.as_uri())

    note = page.locator("#matrix-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("outputs longer than 500 characters are clipped")
    expect(note).to_contain_text("results.jsonl in the run folder big holds them all in full")
    shown = int(re.search(r"(\d+) of its 400 rows are shown", note.inner_text()).group(1))
    assert len(failing) < shown < 400
    expect(page.locator("#count")).to_have_text(f"rows 1–50 of {shown}")  # every chunk's rows, joined
    expect(page.locator("#cases-body .clipped").first).to_have_text(re.compile(r"^…clipped, 1,\d{3} characters$"))
    page.click("[data-filter=fail]")  # failures come first: every one of them is here
    expect(page.locator("#count")).to_contain_text(f"of {len(failing)} (of {shown})")
    assert page.errors == [] and blocked == []


def test_the_page_joins_its_chunks_into_every_row_with_its_text_unchanged(page, tmp_path):
    from harness.files import printable
    from tests.outputs.report.test_matrix import TRICKY, stored_run, trial

    run = stored_run(tmp_path, [trial(i, p, f"{p}: {text}") for i, text in enumerate(TRICKY) for p in ("a", "b")])
    path = write_report(run, tmp_path / "report.html", Limits(chunk_chars=200))  # a chunk for every row or two

    page.goto(path.as_uri())

    expect(page.locator("#count")).to_have_text(f"rows 1–{len(TRICKY)} of {len(TRICKY)}")
    short = [text for text in TRICKY if len(text) < 300]  # shown whole, without "show all"
    shown = [page.locator("#cases-body tr").nth(i).locator("pre.output").all_text_contents() for i in range(len(short))]
    assert shown == [[printable(f"{p}: {text}") for p in ("a", "b")] for text in short]
    assert page.errors == []


def test_report_command_compares_two_saved_runs(page, project, tmp_path):
    with FakeLLMServer(sentiment_answer) as server:
        run_cli("run", project(base_url=server.base_url), "--prompt", "terse", "--out", tmp_path / "base")
    with FakeLLMServer(lambda _r: "positive") as server:
        run_cli("run", project(base_url=server.base_url), "--prompt", "terse", "--out", tmp_path / "new")

    assert run_cli("report", tmp_path / "base", tmp_path / "new", "--out", tmp_path / "cmp.html") == 0

    page.goto((tmp_path / "cmp.html").as_uri())
    expect(page.locator("section.baseline h2")).to_contain_text("Versus baseline")
    page.click("[data-filter=regression]")  # the two negative reviews now come out positive
    expect(page.locator("#cases-body tr")).to_have_count(2)
    expect(page.locator("#cases-body .badge.regression")).to_have_count(2)


def test_crafted_and_stale_links_fall_back_to_defaults(page, sentiment_run):
    page.goto((sentiment_run / "report.html").as_uri() + "#filter=__proto__&tag=nosuchtag&sort=9:latency&a=7")
    expect(page.locator("#count")).to_have_text("rows 1–6 of 6")
    assert page.errors == []
    page.fill("#q", "case")  # a search for a word that equals a default elsewhere still lands in the link
    expect(page).to_have_url(re.compile(r"#q=case$"))


def test_non_finite_numbers_and_a_killed_run_still_render(page, project, server, tmp_path):
    suite = project()
    suite.write_text(suite.read_text().replace("cases: data/reviews.csv", 'cases:\n  - {id: inf, vars: {review: "x", '
                                               'n: .inf}, expected: positive}'))
    run_cli("run", suite, "--out", tmp_path / "run")
    page.goto((tmp_path / "run" / "report.html").as_uri())
    expect(page.locator("#cases-body tr")).to_have_count(1)
    assert page.errors == []

    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    for key in ("variants", "thresholds", "ab", "ended_at"):
        manifest.pop(key)
    (tmp_path / "run" / "run.json").write_text(json.dumps({**manifest, "status": "running"}))  # as after kill -9
    assert run_cli("report", tmp_path / "run") == 0
    page.goto((tmp_path / "run" / "report.html").as_uri())
    expect(page.locator("#cases-body tr")).to_have_count(1)


def _cells(table) -> list[list[str]]:
    return [[cell.strip() for cell in row.locator("th, td").all_inner_texts()] for row in table.locator("tr").all()]


def _section(page, heading: str):
    return page.locator("section", has=page.locator("h2", has_text=heading))


def test_confusion_per_class_and_judge_vs_human_tables_say_what_run_json_says(page, sentiment_run, tmp_path):
    from tests.scorers.test_judges import calibration_run

    variant = json.loads((sentiment_run / "run.json").read_text())["variants"][0]
    label = variant["scorers"]["label"]["classification"]
    page.goto((sentiment_run / "report.html").as_uri())
    figure = _section(page, "Confusion matrices").locator("figure").first
    expect(figure.locator("figcaption")).to_contain_text(f"{variant['prompt_id']} × {variant['model_id']} · label")
    assert _cells(figure.locator("table.confusion")) == [
        ["expected ↓ / predicted →", *label["labels"], "(none)"],
        *[[expected, *map(str, row.values())] for expected, row in label["confusion"].items()]]
    assert _cells(figure.locator("table.per-class"))[1:] == [
        [name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])]
        for name, m in label["per_class"].items()]

    (tmp_path / "judge").mkdir()
    run = calibration_run(tmp_path / "judge")
    agreement = run.metrics[0].scorers["faithfulness"].human_agreement
    page.goto((run.directory / "report.html").as_uri())
    figure = _section(page, "Judge vs human labels").locator("figure")
    expect(figure.locator("figcaption")).to_contain_text("agreement 83.3%")
    expect(figure.locator("figcaption")).to_contain_text("κ 0.67, n 6")
    assert _cells(figure.locator("table.confusion")) == [["human ↓ / judge →", "fail", "pass"],
                                                         ["fail", "2", "1"], ["pass", "0", "3"]]
    assert agreement.confusion == {"fail": {"fail": 2, "pass": 1}, "pass": {"fail": 0, "pass": 3}}
    expect(page.locator("table.summary")).to_contain_text("judge agrees with humans 83.3% of 6 · κ 0.67")
    assert page.errors == []


def test_a_transformed_output_is_shown_with_the_raw_one_a_click_away(page, tmp_path):
    from tests.run.test_transforms import reasoning_model, write_suite

    def model(request):  # a payload in the raw output: shown as text, never run
        return reasoning_model(request).replace("No such place.", '<img src=x onerror=alert("raw")> No such place.')

    with FakeLLMServer(model) as server:
        run_cli("run", write_suite(tmp_path, server), "--out", tmp_path / "run")
    page.goto((tmp_path / "run" / "report.html").as_uri())

    oslo = page.locator("#cases-body tr").first.locator("td.cell")  # the rows in suite order: oslo, lyon, atlantis
    expect(page.locator("#cases-body tr").first.locator("td.case code")).to_have_text("oslo")
    expect(oslo.locator("small.transformed")).to_have_text("transformed output")
    expect(oslo.locator("pre.output")).to_have_text(["Norway"])  # the raw output is built when opened
    oslo.locator("summary", has_text="raw output").click()
    expect(oslo.locator("pre.output").nth(1)).to_contain_text('Oslo... that is in Norway.\n</think>\n\n```json\n{')
    page.fill("#q", "that is in france")  # the search reads raw outputs too
    expect(page.locator("#cases-body tr")).to_have_count(1)
    expect(page.locator("#cases-body tr")).to_contain_text("lyon")

    page.fill("#q", "atlantis")
    atlantis = page.locator("#cases-body td.cell")
    expect(atlantis.locator(".badge").first).to_have_text("fail")
    expect(atlantis.locator("pre.error-text")).to_have_text(
        "transform failed: json: not valid JSON (Expecting value at line 1 column 1) in 'I do not know where "
        "Atlantis is.'")
    expect(atlantis.locator("pre.output")).to_contain_text('<img src=x onerror=alert("raw")> No such place.')
    expect(atlantis.locator("small.transformed")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "transforms.png"), full_page=True)
    assert page.dialogs == [] and page.errors == [] and page.locator("img").count() == 0


def test_variants_differ_means_their_verdicts_differ_not_their_wording(page, project, tmp_path):
    def worded(request):
        critic = request["messages"][0]["role"] == "system"
        answer = sentiment_answer(request)
        if critic and "mochi" in last_user_message(request):
            return "negative"  # the one case whose verdicts differ
        return answer.upper() + "!" if critic else answer  # the same verdicts, worded apart

    with FakeLLMServer(worded) as server:
        assert run_cli("run", project(base_url=server.base_url), "--out", tmp_path / "run") == 0
    page.goto((tmp_path / "run" / "report.html").as_uri())
    page.click("[data-filter=different]")
    expect(page.locator("#cases-body tr")).to_have_count(1)
    expect(page.locator("#cases-body tr")).to_contain_text("mochi")
    assert page.errors == []
