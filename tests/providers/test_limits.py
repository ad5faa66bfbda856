"""Per-model limits: concurrency that backs off on 429 and recovers, requests and tokens per minute."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.providers.limits import Throttle
from harness.run import run_suite
from harness.testing import FakeLLMServer, Reply
from tests.conftest import sentiment_answer

REVIEWS = [(f"r{i:02d}", f"Review {i}: The mochi is excellent!", "positive") for i in range(40)]


def test_throttle_halves_on_429_and_adds_back_one_per_run_of_successes():
    throttle = Throttle(8)
    throttle.on_rate_limited()
    throttle.on_rate_limited()
    assert throttle.limit == 2
    for _ in range(2):
        throttle.on_success()
    assert throttle.limit == 3
    for _ in range(3 + 4 + 5 + 6):
        throttle.on_success()
    assert throttle.limit == 7
    for _ in range(100):
        throttle.on_success()
    assert throttle.limit == 8  # never above the configured maximum
    for _ in range(5):
        throttle.on_rate_limited()
    assert throttle.limit == 1


def test_throttle_never_lets_more_than_its_limit_run_at_once():
    async def scenario():
        throttle, running, peak = Throttle(3), 0, 0

        async def call():
            nonlocal running, peak
            await throttle.acquire()
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1
            await throttle.release()

        await asyncio.gather(*(call() for _ in range(20)))
        return peak

    assert asyncio.run(scenario()) == 3


def test_a_release_hands_its_slot_to_the_longest_waiter_alone():
    """Waking every waiter at each release made a queued suite's CPU grow with the square of its size."""
    async def scenario():
        throttle = Throttle(2)
        for _ in range(2):
            await throttle.acquire()
        waiting = [asyncio.ensure_future(throttle.acquire()) for _ in range(100)]
        await asyncio.sleep(0)
        await throttle.release()
        await asyncio.sleep(0)
        woken = [i for i, task in enumerate(waiting) if task.done()]
        queued = len(throttle._waiters)
        for task in waiting:
            task.cancel()
        return woken, queued

    assert asyncio.run(scenario()) == ([0], 99)


@pytest.mark.parametrize("cancelled_after_release", [False, True])
def test_a_cancelled_waiter_gives_up_its_place_without_losing_a_slot(cancelled_after_release):
    async def scenario():
        throttle = Throttle(1)
        await throttle.acquire()
        cancelled = asyncio.ensure_future(throttle.acquire())
        waiting = asyncio.ensure_future(throttle.acquire())
        await asyncio.sleep(0)
        if cancelled_after_release:  # handed the slot, then cancelled before it could use it
            await throttle.release()
            cancelled.cancel()
        else:
            cancelled.cancel()
            await throttle.release()
        await asyncio.wait_for(waiting, 1)  # the slot went on to the next waiter
        return throttle.in_flight, cancelled.cancelled()

    assert asyncio.run(scenario()) == (1, True)


def test_a_call_cancelled_while_queued_for_the_runs_limit_gives_its_model_slot_back():
    async def scenario():
        shared = asyncio.Semaphore(1)
        throttle = Throttle(1, shared=shared)
        await shared.acquire()  # another model holds the run's only slot
        queued = asyncio.ensure_future(throttle.acquire())
        await asyncio.sleep(0)
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
        shared.release()
        await asyncio.wait_for(throttle.acquire(), 1)
        return throttle.in_flight

    assert asyncio.run(scenario()) == 1


def test_a_limit_that_grows_back_hands_the_new_slot_out_at_once():
    async def scenario():
        throttle = Throttle(2)
        throttle.on_rate_limited()  # limit 1
        await throttle.acquire()
        waiting = [asyncio.ensure_future(throttle.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        await throttle.release()  # a success at limit 1: the limit grows back to 2, and both waiters get in
        await asyncio.sleep(0)
        return throttle.limit, [task.done() for task in waiting]

    assert asyncio.run(scenario()) == (2, [True, True])


def with_limits(suite, limits: str):
    suite.write_text(suite.read_text().replace("    model: openai/fake-model\n",
                                               f"    model: openai/fake-model\n{limits}"))
    return suite


def test_a_burst_of_429s_halves_the_limit_once():
    async def scenario():
        throttle = Throttle(16)
        epochs = [await throttle.acquire() for _ in range(16)]
        for epoch in epochs:  # all sixteen refused at once
            await throttle.release(answered=False, rate_limited=True, epoch=epoch)
        return throttle.limit

    assert asyncio.run(scenario()) == 8


def test_429s_lower_the_concurrency_so_every_trial_gets_through(project, tmp_path):
    """A provider that allows 3 requests in flight and answers 429 (retry-after-ms: 100) beyond that."""
    rejected = [0]

    def provider(request):
        if server.in_flight > 3:  # this request is counted in flight already
            rejected[0] += 1
            return Reply(status=429, headers={"retry-after-ms": "100"})
        return Reply(sentiment_answer(request), delay_s=0.1)

    with FakeLLMServer(provider) as server:
        suite = project(reviews=REVIEWS, base_url=server.base_url)
        run = run_suite(suite, concurrency=16, use_cache=False, prompts=["terse"], out_dir=tmp_path / "run")
    assert run.manifest.counts.errors == 0 and run.manifest.counts.completed == 40
    # 16 at once against room for 3: the first wave is mostly refused; after that the run keeps to what fits.
    assert 13 <= rejected[0] < 40


@pytest.mark.parametrize("limits, at_least_s, per_second", [
    ("    rpm: 600\n", 2.0, 21),        # 10 a second: 40 requests, 10 at once, take about 3 s
    # A request is budgeted ~14 tokens (prompt + max_tokens 4) and uses ~12: 100 a second lets ~8 through.
    ("    tpm: 6000\n", 2.0, 20),
])
def test_requests_and_tokens_per_minute_pace_the_calls(project, tmp_path, limits, at_least_s, per_second):
    arrivals = []

    def provider(request):
        arrivals.append(time.monotonic())
        return sentiment_answer(request)

    with FakeLLMServer(provider) as server:
        suite = with_limits(project(reviews=REVIEWS, base_url=server.base_url), limits)
        suite.write_text(suite.read_text().replace("  temperature: 0\n", "  temperature: 0\n  max_tokens: 4\n"))
        run = run_suite(suite, concurrency=40, use_cache=False, prompts=["terse"], out_dir=tmp_path / "run")
    assert run.manifest.counts.completed == 40 and run.manifest.counts.errors == 0
    assert arrivals[-1] - arrivals[0] >= at_least_s
    # In no one second did more arrive than the limit allows (a second's worth, plus a second's burst).
    assert max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals) <= per_second


def slow_server(delay_s: float = 0.05) -> FakeLLMServer:
    return FakeLLMServer(lambda request: Reply(sentiment_answer(request), delay_s=delay_s))


def test_a_models_own_concurrency_caps_it_below_the_runs(project, tmp_path):
    with slow_server() as server:
        suite = with_limits(project(reviews=REVIEWS, base_url=server.base_url), "    concurrency: 2\n")
        run_suite(suite, concurrency=16, use_cache=False, prompts=["terse"], out_dir=tmp_path / "run")
    assert server.peak_in_flight <= 2


MANY = [(f"r{i:03d}", f"Review {i}: The mochi is excellent!", "positive") for i in range(60)]


def test_workers_share_the_limits_without_shrinking_or_exceeding_them(project, tmp_path):
    with slow_server() as server:
        suite = project(reviews=MANY, base_url=server.base_url)
        run = run_suite(suite, concurrency=8, workers=2, use_cache=False, prompts=["terse"], out_dir=tmp_path / "a")
    assert run.manifest.workers == 2 and 6 <= server.peak_in_flight <= 8  # -j 8 in all, 4 in each worker

    with slow_server() as server:
        suite = with_limits(project(reviews=MANY, base_url=server.base_url), "    concurrency: 1\n")
        run = run_suite(suite, concurrency=8, workers=2, use_cache=False, prompts=["terse"], out_dir=tmp_path / "b")
    assert run.manifest.workers == 1 and server.peak_in_flight == 1  # one slot cannot be split over two workers
