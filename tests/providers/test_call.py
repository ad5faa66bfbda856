from __future__ import annotations

import asyncio
import time

import pytest

from harness.providers import Endpoint
from harness.providers.call import RetryPolicy, complete, retry_after_s
from harness.redaction import redact
from harness.testing import FakeLLMServer, Reply


def test_retry_after_headers():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_s({"retry-after": future}) <= 30
    assert retry_after_s({}) is None


def test_redact_masks_keys_from_the_environment_and_the_endpoint(monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "sk-live-abcdefgh")
    assert redact("bad key sk-live-abcdefgh and tok-123456789", "tok-123456789") == "bad key *** and ***"


def call(server: FakeLLMServer, policy: RetryPolicy):
    endpoint = Endpoint(model="openai/fake", kwargs={"api_base": server.base_url, "api_key": "sk-secret-9876543"})
    return asyncio.run(complete(endpoint, [{"role": "user", "content": "hi"}], {}, policy))


def test_retries_give_up_and_record_the_error_without_the_key():
    with FakeLLMServer(lambda _r: Reply("key sk-secret-9876543 rejected", status=500)) as server:
        response = call(server, RetryPolicy(retries=2, backoff_s=0.01))
    assert server.count == 3 and response.attempts == 3
    assert response.text == "" and "500" in response.error
    assert "sk-secret-9876543" not in response.error


def test_timeouts_are_errors_after_retries():
    with FakeLLMServer(lambda _r: Reply("late", delay_s=2)) as server:
        started = time.monotonic()
        response = call(server, RetryPolicy(retries=1, timeout_s=0.3, backoff_s=0.01))
        elapsed = time.monotonic() - started
    assert response.error and "Timeout" in response.error and server.count == 2
    assert elapsed < 1.5


@pytest.mark.parametrize("body", ["{not json", '{"choices": []}'])
def test_malformed_bodies_are_recorded_as_errors(body):
    with FakeLLMServer(lambda _r: Reply(raw_body=body)) as server:
        response = call(server, RetryPolicy(retries=0))
    assert response.error is not None and response.text == ""


def test_importing_litellm_leaves_the_collector_on_and_what_it_built_frozen():
    """The import runs with collection paused (a fifth of its time); a fresh interpreter shows what it leaves."""
    import subprocess
    import sys

    check = ("import gc, sys; from harness.providers._litellm import litellm_module; litellm_module(); "
             "print(gc.isenabled(), gc.get_freeze_count() > 100_000, 'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True"]


def test_calls_are_tuned_for_the_block_and_the_collector_restored_after():
    import gc
    import threading

    from harness.providers._litellm import tuned_for_calls

    before = gc.get_threshold()

    async def block():
        with tuned_for_calls(young_threshold=12_345):
            inside = gc.get_threshold()[0]
            loop = asyncio.get_running_loop()

            def busy() -> int:
                time.sleep(0.05)
                return threading.get_ident()

            threads = set(await asyncio.gather(*(loop.run_in_executor(None, busy) for _ in range(4))))
        return inside, len(threads)

    inside, threads = asyncio.run(block())
    assert inside == 12_345 and gc.get_threshold() == before
    assert threads > 1  # a provider whose whole call runs in the executor is not serialized


@pytest.mark.parametrize("inline", [True, False])
def test_openai_compatible_calls_build_their_request_on_the_loops_thread(inline, monkeypatch):
    import concurrent.futures
    import threading

    import litellm.main

    from harness.providers._litellm import tuned_for_calls

    built_on = []  # the thread each call's synchronous half (litellm's completion()) ran on
    completion = litellm.main.completion
    monkeypatch.setattr(litellm.main, "completion",
                        lambda *args, **kwargs: built_on.append(threading.get_ident()) or completion(*args, **kwargs))
    to_threads = []
    submit = concurrent.futures.ThreadPoolExecutor.submit
    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit",
                        lambda pool, fn, *args, **kwargs: to_threads.append(fn) or submit(pool, fn, *args, **kwargs))

    async def calls(server: FakeLLMServer):
        # "localhost" makes aiohttp look the name up, and the OpenAI SDK probes the platform: blocking
        # work that must go to a thread even inside an inline call.
        endpoint = Endpoint(model="openai/fake", kwargs={"api_base": server.base_url.replace("127.0.0.1", "localhost"),
                                                          "api_key": "sk-x"}, inline_sync_half=inline)
        with tuned_for_calls():
            replies = await asyncio.gather(*(complete(endpoint, [{"role": "user", "content": f"hi {i}"}], {},
                                                      RetryPolicy()) for i in range(5)))
        return [r.text for r in replies], threading.get_ident()

    with FakeLLMServer(lambda request: request["messages"][-1]["content"]) as server:
        texts, loop_thread = asyncio.run(calls(server))
    assert texts == [f"hi {i}" for i in range(5)] and len(built_on) == 5
    if inline:
        assert set(built_on) == {loop_thread}
        assert to_threads  # the platform probe and the DNS lookups still went to threads
    else:
        assert loop_thread not in built_on and len(to_threads) >= 5


def test_blocking_work_runs_beside_litellms_threads_not_queued_behind_them():
    import threading

    from harness.providers import off_loop
    from harness.providers._litellm import tuned_for_calls

    async def block():
        with tuned_for_calls():
            loop = asyncio.get_running_loop()
            # More blocking calls than the default pool has threads (a provider that calls from its threads).
            busy = [loop.run_in_executor(None, time.sleep, 0.5) for _ in range(40)]
            started = time.perf_counter()
            thread = await off_loop(lambda: threading.current_thread().name)
            waited = time.perf_counter() - started
            await asyncio.gather(*busy)
        return thread, waited

    thread, waited = asyncio.run(block())
    assert thread.startswith("harness-blocking") and waited < 0.3


@pytest.mark.parametrize(("model", "inline"), [("openai/gpt-4o-mini", True), ("hosted_vllm/llama", True),
                                                ("anthropic/claude-3-5-haiku-latest", False),
                                                ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", False)])
def test_only_providers_whose_synchronous_half_just_builds_the_request_run_it_inline(model, inline):
    from harness.providers import open_endpoint
    from harness.spec import ModelSpec

    async def opened():
        async with open_endpoint(ModelSpec(model=model, params={"api_key": "sk-x"})) as endpoint:
            return endpoint.inline_sync_half

    assert asyncio.run(opened()) is inline


@pytest.fixture
def cost_calculations(monkeypatch):
    """The model names litellm works out a cost for, call by call (with nothing learned yet)."""
    from harness.providers import _litellm as models

    litellm = models.litellm_module()
    monkeypatch.setattr(models, "_UNPRICED", set())
    monkeypatch.setattr(litellm, "model_cost", dict(litellm.model_cost))  # prices a call registers go with it
    priced_for = []
    calculate = litellm.response_cost_calculator
    monkeypatch.setattr(litellm, "response_cost_calculator",
                        lambda **kwargs: priced_for.append(kwargs["model"]) or calculate(**kwargs))
    return priced_for


def _costs_by_model(project, tmp_path, extra_models: str, responder=None):
    from harness.run import run_suite
    from tests.conftest import sentiment_answer

    with FakeLLMServer(responder or sentiment_answer) as server:
        suite = project(base_url=server.base_url)
        text = suite.read_text()
        model = text[text.index("  - id: fake"):text.index("params:\n  temperature")]
        suite.write_text(text.replace(model, model + extra_models.format(base=server.base_url)))
        run = run_suite(suite, concurrency=1, use_cache=False, prompts=["terse"], out_dir=tmp_path / "run")
    return {m: [r.response.cost_usd for r in run.results if r.model_id == m] for m in {r.model_id for r in run.results}}


PRICED_MODEL = """  - id: priced
    model: openai/gpt-4o-mini
    params: {{api_base: "{base}", api_key: sk-test-key-123456}}
"""


def test_a_model_litellm_has_a_price_for_is_priced_on_every_call_and_one_it_has_none_for_skips_the_work(
        project, tmp_path, cost_calculations):
    """litellm spends a fifth of a call's CPU on its cost; for a model it has no price for, that is done only
    until the first answer shows it (the cost is None either way), while a priced model keeps every cost."""
    costs = _costs_by_model(project, tmp_path, PRICED_MODEL)
    assert len(costs["priced"]) == 6 and all(c is not None and c > 0 for c in costs["priced"])
    assert costs["fake"] == [None] * 6
    assert 1 <= sum("fake-model" in m for m in cost_calculations) <= 2  # the first answer's, then none
    assert sum("gpt-4o-mini" in m for m in cost_calculations) >= 6


def test_a_price_of_the_calls_own_is_used_on_a_model_that_has_none(project, tmp_path, monkeypatch,
                                                                    cost_calculations):
    """Even were every model taken for unpriced already, calls with prices of their own are priced."""
    from harness.providers import _litellm as models

    class Everything(set):
        def __contains__(self, _key):
            return True

    monkeypatch.setattr(models, "_UNPRICED", Everything())
    own_prices = """  - id: mine
    model: openai/own-priced-model
    params: {{api_base: "{base}", api_key: sk-test-key-123456, input_cost_per_token: 0.000001,
              output_cost_per_token: 0.000002}}
"""
    costs = _costs_by_model(project, tmp_path, own_prices)
    assert costs["fake"] == [None] * 6
    assert len(costs["mine"]) == 6 and all(c is not None and c > 0 for c in costs["mine"])


def test_an_answer_that_names_a_priced_model_is_priced(project, tmp_path, cost_calculations):
    """A gateway may answer an unknown alias as a model litellm has a price for: it is priced when it does."""
    import json

    from tests.conftest import sentiment_answer

    answered = []

    def responder(request):
        answered.append(1)
        if len(answered) == 1:
            return sentiment_answer(request)
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": sentiment_answer(request)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21}}
        return Reply(raw_body=json.dumps(body))

    costs = _costs_by_model(project, tmp_path, "", responder)
    assert costs["fake"][0] is None and all(c is not None and c > 0 for c in costs["fake"][1:])


def test_only_calls_that_nothing_but_model_names_could_price_are_skipped():
    """A price of the call's own, a cost the server sent, a litellm cache hit, metadata (a deployment's
    model_info) or anything but a plain answer: litellm prices those itself, every time."""
    from types import SimpleNamespace

    from harness.providers._litellm import _priced_by_names_alone, litellm_module

    litellm = litellm_module()
    from litellm.litellm_core_utils.litellm_logging import use_custom_pricing_for_model

    def logging(litellm_params=None, cache_hit=False):
        params = litellm_params or {}
        return SimpleNamespace(model_call_details={"cache_hit": cache_hit}, litellm_params=params,
                               custom_pricing_for=lambda _result: use_custom_pricing_for_model(params))

    answer = litellm.ModelResponse(model="fake-model")
    assert _priced_by_names_alone(logging(), answer)
    assert not _priced_by_names_alone(logging({"input_cost_per_token": 1e-6}), answer)
    assert not _priced_by_names_alone(logging({"tiered_pricing": [{"range": [0, 1000]}]}), answer)
    assert not _priced_by_names_alone(logging(cache_hit=True), answer)
    assert not _priced_by_names_alone(logging({"metadata": {"model_info": {"id": "deployment-1"}}}), answer)
    assert not _priced_by_names_alone(logging(), "a stream's chunk")
    sent = litellm.ModelResponse(model="fake-model")
    sent._hidden_params = {"additional_headers": {"llm_provider-x-litellm-response-cost": "0.5"}}
    assert not _priced_by_names_alone(logging(), sent)


def test_a_price_registered_after_the_model_was_found_unpriced_is_used(project, tmp_path, cost_calculations):
    from harness.providers._litellm import litellm_module

    later = """  - id: later
    model: openai/later-priced-model
    params: {{api_base: "{base}", api_key: sk-test-key-123456}}
"""
    before = _costs_by_model(project, tmp_path / "before", later)["later"]
    litellm_module().register_model({"openai/later-priced-model": {
        "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "litellm_provider": "openai", "mode": "chat"}})
    after = _costs_by_model(project, tmp_path / "after", later)["later"]
    assert before == [None] * 6 and all(c is not None and c > 0 for c in after)
