"""Benchmark the HTML report at scale: generation time, file size, and first screen in headless Chromium.

    python bench/report_scale.py [--cases 10000] [--variants 2]

Builds a synthetic stored run (no model is called), renders report.html, then opens it in
Debian's chromium and times navigation until the first page of case rows is on screen,
then a filter over every row and a page turn.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from harness.outputs.report import write_report
from harness.testing import synthetic_run

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=2)
    args = parser.parse_args()
    variants = [(f"prompt{i}", "model") for i in range(args.variants)]
    with tempfile.TemporaryDirectory() as scratch:
        run = synthetic_run(Path(scratch), args.cases, variants)
        started = time.perf_counter()
        path = write_report(run, Path(scratch) / "report.html")
        generate = time.perf_counter() - started
        size_mb = path.stat().st_size / 1e6
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                 args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(path.as_uri(), wait_until="commit")
            expect(page.locator("#cases-body tr")).to_have_count(50, timeout=30_000)
            first_screen = time.perf_counter() - started
            started = time.perf_counter()
            page.click("[data-filter=fail]")
            expect(page.locator("#count")).to_contain_text(f"(of {args.cases})")
            filter_all = time.perf_counter() - started
            started = time.perf_counter()
            page.click("#next")
            expect(page.locator("#page")).to_contain_text("page 2 /")
            page_turn = time.perf_counter() - started
            browser.close()
    print(f"{args.cases} cases x {args.variants} variants")
    print(f"generate report.html   {generate:6.2f} s   (target < 3 s)")
    print(f"file size              {size_mb:6.1f} MB  (target < 15 MB)")
    print(f"first screen           {first_screen:6.2f} s   (target < 2 s)")
    print(f"filter all rows        {filter_all:6.3f} s")
    print(f"next page              {page_turn:6.3f} s")


if __name__ == "__main__":
    main()
