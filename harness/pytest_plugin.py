"""pytest plugin: suites become tests, so failures show in pytest's own output.

``pytest suites/`` (or ``pytest --harness-suite suites/x.yaml``) collects every suite file
as one test per case x prompt x model, plus one per threshold, baseline gate and must-pass check.
The first test of a suite runs all of its selected trials at once, concurrently, through the
same runner as ``harness run``; each test then reports its own trial as the run's verdict has it
(harness.records.verdict), so pytest passes exactly when ``harness run`` does: a trial the suite's
thresholds allow to fail is xfailed with the reason (its whole story in the report section); one
that fails the run is a failure that prints the rendered prompt, the output and why, or an error
for a model call that failed. Suite and case tags become markers (``-m``), and ``-k`` narrows
the trials that run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import HarnessError
from harness.records import ALLOWED, ERRORED, PASSED, TrialResult, trial_id
from harness.results import Run

SUITE_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "harness: prompt and model evaluation suites")
    group.addoption("--harness-suite", action="append", default=[], metavar="SUITE",
                    help="Collect this suite file too (repeatable).")
    group.addoption("--harness-model", action="append", default=[], metavar="MODEL",
                    help="Run these models instead of the suites' own (repeatable; OLD=NEW for an upgrade).")
    group.addoption("--harness-concurrency", type=int, default=8, metavar="N", help="Model calls in flight.")
    group.addoption("--harness-baseline", default=None, metavar="PATH",
                    help="Compare with this run folder or baseline file; gates become tests.")
    group.addoption("--harness-reports", default="reports", metavar="DIR", help="Where run folders are written.")
    group.addoption("--harness-no-cache", action="store_true", help="Do not answer from the response cache.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "harness: a trial, threshold or gate of a harness suite")
    suites = config.getoption("harness_suite")
    if suites and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args[:] = suites  # only the named suites, not the whole rootdir
    else:
        config.args.extend(suites)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> SuiteFile | None:
    if file_path.suffix in SUITE_SUFFIXES and _is_suite(file_path):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def _is_suite(path: Path) -> bool:
    """A YAML mapping with prompts and cases: other YAML (CI workflows, data) is left alone."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "prompts" in data and "cases" in data


class SuiteFile(pytest.File):
    """A suite: collects its trials, thresholds and gates; runs them all on first need."""

    def collect(self):
        from harness.run.plan import plan, resolve_models
        from harness.suite import load_suite

        try:
            self.suite = load_suite(self.path)
            self.models, _ = resolve_models(self.suite, self.config.getoption("harness_model"))
            trials = plan(self.suite, self.models, self._options())
        except HarnessError as exc:
            raise self.CollectError(f"harness: {exc}") from None
        self._run: Run | None = None
        for trial in trials:
            name = f"{trial.prompt_id}::{trial.model.id}::{trial.case.id}" + (
                f"::repeat{trial.repeat}" if trial.repeat else "")
            item = TrialItem.from_parent(self, name=name, key=trial_id(trial.case.id, trial.prompt_id,
                                                                       trial.model.id, trial.repeat))
            item.variant_case = (trial.case.id, trial.prompt_id, trial.model.id)
            self._mark(item, [*self.suite.tags, *trial.case.tags])
            yield item
        metrics = ["error_rate", *self.suite.thresholds]
        for model in self.models:
            for prompt_id in {t.prompt_id: None for t in trials}:
                for metric in dict.fromkeys(metrics):
                    yield self._check(ThresholdItem, f"threshold::{prompt_id}::{model.id}::{metric}",
                                      (prompt_id, model.id, metric))
        if not self.suite.thresholds:  # the run-wide check a suite without thresholds still gets
            yield self._check(ThresholdItem, "threshold::run::pass_rate", (None, None, "pass_rate"))
        if self.config.getoption("harness_baseline"):
            for gate in ("matched", "max_regressions", "max_regression_rate", "max_drop"):
                if gate == "matched" or getattr(self.suite.gates, gate) is not None:
                    yield self._check(GateItem, f"gate::{gate}", gate)
        if any(self.suite.must_pass_for(case) for case in self.suite.cases):
            yield self._check(MustPassItem, "must_pass", None)

    def _check(self, kind: type[_HarnessItem], name: str, key: Any) -> _HarnessItem:
        item = kind.from_parent(self, name=name, key=key)
        self._mark(item, self.suite.tags)
        return item

    def _mark(self, item: pytest.Item, tags: list[str]) -> None:
        item.add_marker(pytest.mark.harness)
        for tag in tags:
            marker = "".join(c if c.isalnum() else "_" for c in tag).lstrip("_")
            if not marker or marker in RESERVED_MARKS:
                continue  # a tag may select trials (-m), never skip or xfail them
            self.config.addinivalue_line("markers", f"{marker}: harness tag '{tag}'")
            item.add_marker(getattr(pytest.mark, marker))

    def _options(self, only: frozenset[tuple[str, str, str]] | None = None):
        from harness.run import RunOptions

        baseline = self.config.getoption("harness_baseline")
        return RunOptions(models=self.config.getoption("harness_model"),
                          concurrency=self.config.getoption("harness_concurrency"),
                          use_cache=not self.config.getoption("harness_no_cache"),
                          reports_dir=Path(self.config.rootpath, self.config.getoption("harness_reports")),
                          baseline=Path(baseline) if baseline else None, only=only)

    def run(self) -> Run:
        """Run the suite's selected trials once, together; every item of the suite reads from it."""
        if self._run is None:
            from harness.run import run_suite

            selected = [i for i in self.session.items if i.parent is self and isinstance(i, TrialItem)]
            only = frozenset(i.variant_case for i in selected) if selected else None
            self._run = run_suite(self.suite, self._options(only))
            self.config.stash.setdefault(RUNS_KEY, []).append(self._run)
        return self._run


RUNS_KEY = pytest.StashKey[list]()
RESERVED_MARKS = {"skip", "skipif", "xfail", "parametrize", "usefixtures", "filterwarnings", "harness"}


class HarnessFailure(Exception):
    """A trial, threshold or gate that did not pass; its message is the whole explanation."""


class _HarnessItem(pytest.Item):
    def __init__(self, *, key: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.key = key

    def reportinfo(self):
        return self.path, 0, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: str | None = None) -> str:
        if isinstance(excinfo.value, (HarnessFailure, HarnessError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def _repr_failure_py(self, excinfo: pytest.ExceptionInfo[BaseException], style: str | None = None) -> Any:
        # pytest reports setup errors (our provider errors) through this, not repr_failure: same clean text.
        if isinstance(excinfo.value, (HarnessFailure, HarnessError)):
            return str(excinfo.value)
        return super()._repr_failure_py(excinfo, style)


class TrialItem(_HarnessItem):
    def setup(self) -> None:
        run = self.parent.run()
        self.result: TrialResult | None = next((r for r in run.results if r.trial_id == self.key), None)
        self.outcome = run.manifest.verdict.trial(self.result.facts()) if self.result is not None else None
        if self.outcome is not None and self.outcome.kind == ERRORED:
            # A model call that failed is not the prompt's failure: pytest counts it as an error.
            raise HarnessFailure(f"provider error for {self.key}: {self.result.response.error}\n"
                                 f"{self.outcome.reason}")

    def runtest(self) -> None:
        if self.result is None or self.outcome is None:
            raise HarnessFailure(f"{self.key} was not run (the run was interrupted?)")
        if self.outcome.kind == PASSED:
            return
        if self.outcome.kind == ALLOWED:
            self.add_report_section("call", "harness", self.result.describe())
            pytest.xfail(f"{self.result.verdict} ({self.outcome.reason})")
        raise HarnessFailure(f"{self.result.describe()}\n\n{self.outcome.reason}")


class ThresholdItem(_HarnessItem):
    def runtest(self) -> None:
        prompt_id, model_id, metric = self.key
        check = next((c for c in self.parent.run().manifest.thresholds
                      if (c.prompt_id, c.model_id, c.metric) == (prompt_id, model_id, metric)), None)
        if check is None:
            pytest.skip(f"no trials of {prompt_id} x {model_id} were selected")
        if not check.passed:
            raise HarnessFailure(f"threshold missed: {check.describe()}")


class GateItem(_HarnessItem):
    def runtest(self) -> None:
        baseline = self.parent.run().manifest.baseline
        gate = next(g for g in baseline.gates if g.gate == self.key)
        if not gate.passed:
            raise HarnessFailure("\n".join([f"gate failed: {gate.describe()}", *baseline.explain()]))


class MustPassItem(_HarnessItem):
    def runtest(self) -> None:
        check = self.parent.run().manifest.must_pass
        if check is not None and not check.passed:
            raise HarnessFailure(check.describe())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for run in config.stash.get(RUNS_KEY, []):
        terminalreporter.write_line(f"harness: {run.manifest.suite.name} report: {run.directory}/report.html")


def assert_suite(suite: str | Path, *, min_pass_rate: float | None = None, **options: Any) -> Run:
    """Run a suite from a hand-written test and fail it with the reasons when it does not hold.

    ``assert_suite("suites/sentiment.yaml", min_pass_rate=0.9)`` fails when any variant's
    pass rate is below 0.9, or a threshold or gate of the suite is missed.
    """
    from harness.run import run_suite

    run = run_suite(suite, **options)
    problems = run.manifest.verdict.problems()
    if min_pass_rate is not None:
        problems += [f"{v.prompt_id} x {v.model_id}: pass rate {v.pass_rate} < {min_pass_rate}"
                     for v in run.metrics if v.pass_rate is None or v.pass_rate < min_pass_rate]
    if problems:
        failures = [r.describe() for r in run.results if not r.passed][:5]
        raise AssertionError("\n".join(problems) + "\n\nfirst failing trials:\n\n" + "\n\n".join(failures)
                             + f"\n\nreport: {run.directory}/report.html")
    return run
