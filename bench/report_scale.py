"""Benchmark a big run's last steps: finishing it, rendering its report, and the report in headless Chromium.

    python bench/report_scale.py [--cases 10000] [--variants 2] [--output-words 30] [--screenshot FILE]
    python bench/report_scale.py --cases 50000 --output-words 500     # 100,000 trials of ~3 KB outputs

Builds a synthetic stored run (no model is called), then, each in a process of its own so its peak
memory is its own: finishes the run as ``harness run`` does (results.jsonl put into plan order,
metrics, run.json) and re-renders the report with ``harness report RUN_DIR``. Then opens report.html
in Debian's chromium and times navigation until the first page of case rows is on screen, a filter
over every row and a page turn, and says whether the page notes what it left out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=2)
    parser.add_argument("--output-words", type=int, default=30, help="words in each made-up output (~5.5 chars each)")
    parser.add_argument("--screenshot", type=Path, help="save the report's first screen here")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the page's first rows")
    parser.add_argument("--finish", type=Path, help=argparse.SUPPRESS)  # the child process that finishes a run
    args = parser.parse_args()
    variants = [(f"prompt{i}", "model") for i in range(args.variants)]
    if args.finish:
        _finish(args.finish, variants)
        return
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "run"
        started = time.perf_counter()
        _child([sys.executable, "-c", "import sys; from harness.testing import synthetic_run; "
                f"synthetic_run(sys.argv[1], {args.cases}, {variants!r}, output_words={args.output_words})",
                str(directory)])
        made = time.perf_counter() - started
        results_mb = (directory / "results.jsonl").stat().st_size / 1e6
        finish, finish_rss = _child([sys.executable, __file__, "--finish", str(directory),
                                     "--variants", str(args.variants)])
        finished = json.loads(finish)
        started = time.perf_counter()
        _, report_rss = _child([sys.executable, "-m", "harness", "report", str(directory)])
        report_s = time.perf_counter() - started
        path = directory / "report.html"
        page = _browse(path, args.timeout, args.screenshot)
    print(f"{args.cases} cases x {args.variants} variants = {args.cases * args.variants} trials, "
          f"{args.output_words} words an output; results.jsonl {results_mb:.0f} MB (made in {made:.0f} s)")
    print(f"finish the run         {finished['seconds']:6.1f} s   peak RSS {finish_rss:5.0f} MB "
          f"({finished['before_mb']:.0f} MB before: the planned trials)")
    print(f"harness report RUN_DIR {report_s:6.1f} s   peak RSS {report_rss:5.0f} MB")
    print(f"report.html            {page['bytes'] / 1e6:6.1f} MB")
    for line in page["lines"]:
        print(line)


def _child(command: list[str]) -> tuple[str, float]:
    """Run ``command``; its stdout and its peak RSS in MB (from the kernel's accounting of that child alone)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{command[:4]} exited {process.returncode}")
    return out, usage.ru_maxrss / 1024


def _finish(directory: Path, variants: list[tuple[str, str]]) -> None:
    """In a process of its own: finish the synthetic run as run_suite would, and print the time it took."""
    from harness.results import MANIFEST_FILE, read_manifest
    from harness.run.manifest import finish
    from harness.run.plan import Trial
    from harness.spec import Case, ModelSpec, PromptSpec, Suite

    manifest = read_manifest(directory / MANIFEST_FILE)
    count = sum(1 for _ in (directory / "results.jsonl").open("rb")) // len(variants)
    suite = Suite(name="synthetic", prompts=[PromptSpec(id=p, text="x") for p, _ in variants], cases=[])
    models = {m: ModelSpec(id=m, model=m) for _, m in variants}
    cases = [Case(id=f"case-{i:05d}") for i in range(count)]
    # The plan's order: model, prompt, case (the synthetic file holds the variants of a case together).
    trials = [Trial(case, p, models[m], 0, [], {}) for p, m in variants for case in cases]
    before = _rss_mb()
    started = time.perf_counter()
    finish(directory, manifest, suite, trials, None, time.monotonic())
    print(json.dumps({"seconds": time.perf_counter() - started, "before_mb": before}))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _browse(path: Path, timeout_s: float, screenshot: Path | None) -> dict:
    """Open the report in headless Chromium: first screen, a filter over every row, a page turn, the note."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    lines = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                             args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)[:200]))
        started = time.perf_counter()
        page.goto(path.as_uri(), wait_until="commit", timeout=timeout_s * 1000)
        try:
            expect(page.locator("#cases-body tr").first).to_be_visible(timeout=timeout_s * 1000)
        except (AssertionError, PlaywrightTimeout):
            lines.append(f"first screen           none: no case rows after {timeout_s:.0f} s; "
                         f"errors: {errors or 'none'}")
        else:
            lines.append(f"first screen           {time.perf_counter() - started:6.2f} s   "
                         f"({page.locator('#count').inner_text()})")
            note = page.locator("#matrix-note")
            shown = note.count() and note.is_visible()
            lines.append(f"note                   {note.inner_text() if shown else 'none'}")
            heap = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 1e6
            lines.append(f"page's JS heap         {heap:6.0f} MB")
            started = time.perf_counter()
            page.click("[data-filter=fail]")
            expect(page.locator("[data-filter=fail]")).to_have_class("active")
            lines.append(f"filter all rows        {time.perf_counter() - started:6.3f} s   "
                         f"(failures: {page.locator('#count').inner_text()})")
            started = time.perf_counter()
            page.click("#next")
            expect(page.locator("#page")).to_contain_text("page 2 /")
            lines.append(f"next page              {time.perf_counter() - started:6.3f} s")
            page.click("[data-filter=all]")
        if screenshot:
            page.screenshot(path=str(screenshot))
            lines.append(f"screenshot             {screenshot}")
        browser.close()
    return {"bytes": path.stat().st_size, "lines": lines}


if __name__ == "__main__":
    main()
