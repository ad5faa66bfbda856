"""http: models end to end: YAML -> rendered body -> a real JSON HTTP server (harness.testing.JSONEndpointServer)
-> JSONPath answer -> scorers -> results.jsonl, run.json, report -> cache; its failures and its credentials."""

from __future__ import annotations

import json
import re
import textwrap
import time
from pathlib import Path

import pytest

from harness.testing import HttpReply, JSONEndpointServer
from tests.conftest import run_cli

SECRET = "sk-live-very-secret-4242"


def answer(request: dict) -> dict:
    """An API of its own shape: {"result": {"answer": ...}, "meter": {...}}, echoing what it was sent."""
    sent = request["json"]
    return {"result": {"answer": f"Answer to {sent['input']} ({sent['user']}, t={sent['temperature']})"},
            "meter": {"in": 7, "out": 3}}


def write_suite(root: Path, http: str, *, cases: str = "cases: [{id: a, vars: {q: Hi, user: ann}}]",
                extra: str = "") -> Path:
    (root / "pyproject.toml").write_text("")
    suite = root / "suite.yaml"
    suite.write_text("name: api\nprompts: [{id: p, messages: [{system: Be brief.}, {user: 'Q: {{ q }}'}]}]\n"
                     "models:\n  - id: my-api\n    http:\n" + textwrap.indent(textwrap.dedent(http), "      ")
                     + "params: {temperature: 0.5}\n" + cases + "\nscorers: [{type: contains, value: Answer}]\n"
                     + textwrap.dedent(extra))
    return suite


def rows(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]


def shape(server: JSONEndpointServer, **more: str) -> str:
    settings = {
        "url": f"{server.url}/v2/ask?team=${{TEAM}}",
        "headers": '{Authorization: "Bearer ${MY_API_KEY}", X-Team: "${TEAM}"}',
        "body": """'{"input": {{ prompt | tojson }}, "user": {{ vars.user | tojson }}, "temperature": """
                """{{ params.temperature }}, "turns": {{ messages | length }}}'""",
        "output": "$.result.answer",
        "usage": "{prompt_tokens: $.meter.in, completion_tokens: $.meter.out}",
        **more}
    return "".join(f"{key}: {value}\n" for key, value in settings.items())


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("MY_API_KEY", SECRET)
    monkeypatch.setenv("TEAM", "blue")


def test_a_json_api_is_asked_answered_scored_recorded_and_cached(tmp_path, env, capsys):
    with JSONEndpointServer(answer) as server:
        suite = write_suite(tmp_path, shape(server))
        assert run_cli("validate", suite) == 0
        assert f"models (from the suite): my-api (http: POST {server.url}/v2/ask?team=${{TEAM}})" in \
            capsys.readouterr().out
        assert run_cli("run", suite, "--out", tmp_path / "one") == 0
        sent = server.requests[0]
        assert (sent["method"], sent["path"]) == ("POST", "/v2/ask")
        assert sent["headers"]["Authorization"] == f"Bearer {SECRET}" and sent["headers"]["X-Team"] == "blue"
        assert sent["headers"]["Content-Type"] == "application/json"
        assert sent["json"] == {"input": "Q: Hi", "user": "ann", "temperature": 0.5, "turns": 2}
        (row,) = rows(tmp_path / "one")
        assert row["response"]["text"] == "Answer to Q: Hi (ann, t=0.5)"
        assert (row["response"]["prompt_tokens"], row["response"]["completion_tokens"]) == (7, 3)
        assert row["passed"] and row["messages"][0] == {"role": "system", "content": "Be brief."}

        assert run_cli("run", suite, "--out", tmp_path / "two") == 0
        assert len(server.requests) == 1  # the second run is answered from the cache
        assert rows(tmp_path / "two")[0]["response"]["cached"] is True
    manifest = json.loads((tmp_path / "one" / "run.json").read_text())
    assert manifest["config"]["models"][0] == {"id": "my-api", "model": "http", "params": {"temperature": 0.5}}


def test_the_cache_key_follows_the_rendered_body_and_the_endpoint(tmp_path, env, monkeypatch):
    with JSONEndpointServer(answer) as server:
        suite = write_suite(tmp_path, shape(server), cases="cases: [{id: a, vars: {q: Hi, user: ann}},"
                                                           " {id: b, vars: {q: Hi, user: bob}}]")
        assert run_cli("run", suite, "--out", tmp_path / "one") == 0
        assert len(server.requests) == 2  # same messages, but the body differs by the user var: two entries
        monkeypatch.setenv("MY_API_KEY", "sk-rotated-key-0000000")
        assert run_cli("run", suite, "--out", tmp_path / "two") == 0
        assert len(server.requests) == 2  # a rotated credential is not part of the key
        monkeypatch.setenv("TEAM", "red")
        assert run_cli("run", suite, "--out", tmp_path / "three") == 0
        assert len(server.requests) == 4  # another URL is another endpoint
        suite.write_text(suite.read_text().replace("$.result.answer", "$.result"))
        assert run_cli("run", suite, "--out", tmp_path / "four") == 0
        assert len(server.requests) == 6  # the answer is read by another path: what was cached is not its answer
        assert json.loads(rows(tmp_path / "four")[0]["response"]["text"]) == {"answer": "Answer to Q: Hi (ann, t=0.5)"}


def test_429_and_503_are_retried_after_their_retry_after(tmp_path, env):
    replies = iter([HttpReply({"error": "busy"}, status=503, headers={"Retry-After": "0.3"}),
                    HttpReply({"error": "slow down"}, status=429, headers={"Retry-After": "0.3"})])
    with JSONEndpointServer(lambda request: next(replies, None) or answer(request)) as server:
        suite = write_suite(tmp_path, shape(server))
        started = time.monotonic()
        assert run_cli("run", suite, "--out", tmp_path / "out", "--no-cache") == 0
        assert time.monotonic() - started >= 0.6
        assert len(server.requests) == 3
    (row,) = rows(tmp_path / "out")
    assert row["response"]["attempts"] == 3 and row["response"]["error"] is None


@pytest.mark.parametrize(("reply", "said"), [
    ({"result": {"text": "moved"}}, "output $.result.answer found nothing in the response: "
                                    '{"result": {"text": "moved"}}'),
    ("<html>Bad gateway</html>", "the response is not JSON (Expecting value: line 1 column 1 (char 0)): "
                                 "<html>Bad gateway</html>"),
    (HttpReply({"error": {"message": "no such model"}}, status=404), "HttpStatusError (404): POST "),
])
def test_an_answer_that_cannot_be_read_is_the_trials_error_with_the_body(tmp_path, env, reply, said):
    with JSONEndpointServer(lambda _request: reply) as server:
        suite = write_suite(tmp_path, shape(server))
        assert run_cli("run", suite, "--out", tmp_path / "out") == 1
        assert len(server.requests) == 1  # not retried
    (row,) = rows(tmp_path / "out")
    assert said in row["response"]["error"] and row["scores"] == []


def test_an_unreachable_url_stops_the_run_with_exit_2(tmp_path, env, capsys):
    with JSONEndpointServer(answer) as server:
        url = server.url
    suite = write_suite(tmp_path, shape(server, url=f"{url}/v2/ask"))
    assert run_cli("run", suite, "--out", tmp_path / "out") == 2
    error = capsys.readouterr().err
    assert f"cannot reach {url}/v2/ask" in error and "--resume" in error


def test_an_unset_variable_is_a_warning_at_validate_and_stops_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MY_API_KEY", SECRET)
    with JSONEndpointServer(answer) as server:
        suite = write_suite(tmp_path, shape(server))
        assert run_cli("validate", suite) == 0
        assert "model 'my-api' needs TEAM in the environment" in capsys.readouterr().err
        assert run_cli("run", suite, "--out", tmp_path / "out") == 2
        assert "model 'my-api' needs TEAM in the environment" in capsys.readouterr().err
        assert server.requests == []


def test_credentials_appear_in_no_file_and_no_message(tmp_path, env, capsys):
    """The server rejects the key and quotes it back: the error the trial records still never shows it."""
    def rejecting(request: dict) -> HttpReply:
        return HttpReply({"error": f"key {request['headers']['Authorization']} is revoked"}, status=401)

    with JSONEndpointServer(rejecting) as server:
        suite = write_suite(tmp_path, shape(server, headers=f'{{Authorization: "Bearer {SECRET}", X-Api-Key: '
                                                            '"${MY_API_KEY}"}'))
        assert run_cli("validate", suite) == 0
        assert run_cli("run", suite, "--out", tmp_path / "out") == 1
    (row,) = rows(tmp_path / "out")
    assert "HttpStatusError (401)" in row["response"]["error"] and "Bearer ***" in row["response"]["error"]
    printed = capsys.readouterr()
    assert SECRET not in printed.out + printed.err
    for path in [*(tmp_path / "out").rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_tool_calls_are_read_by_their_path_and_the_tool_loop_goes_on(tmp_path, env):
    def agent(request: dict) -> dict:
        turns = request["json"]["messages"]
        if turns[-1]["role"] == "tool":
            return {"reply": {"content": f"Answer: {json.loads(turns[-1]['content'])['status']}", "calls": None}}
        return {"reply": {"content": None, "calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_order", "arguments": '{"id": "B-7"}'}}]}}

    with JSONEndpointServer(agent) as server:
        suite = write_suite(tmp_path, shape(server, body="'{\"messages\": {{ messages | tojson }}}'",
                                            output="$.reply.content", tool_calls="$.reply.calls", usage="{}"),
                            extra="""\
                            tools:
                              - name: get_order
                                parameters: {type: object, properties: {id: {type: string}}}
                                result: '{"status": "shipped to {{ user }}"}'
                            """)
        assert run_cli("run", suite, "--out", tmp_path / "out") == 0
        assert len(server.requests) == 2
    (row,) = rows(tmp_path / "out")
    assert row["response"]["text"] == "Answer: shipped to ann"
    assert row["response"]["tool_calls"][0]["arguments"] == {"id": "B-7"}
    assert [m["role"] for m in row["transcript"]] == ["assistant", "tool", "assistant"]


@pytest.mark.parametrize(("http", "said"), [
    ("url: http://x.test\noutput: $.a[\n", r"suite\.yaml:7: models\.0\.http\.output: not a JSONPath"),
    ("url: http://x.test\noutput: answer\n", r"suite\.yaml:7: .*starts at the document's root"),
    ("url: http://x.test\noutput: $.a\nbody: '{{ x '\n", r"suite\.yaml:8: models\.0\.http\.body: template syntax"),
    ("url: http://x.test\noutput: $.a\nmethod: FETCH\n", r"suite\.yaml:8: .*method is one of POST"),
    ("url: x.test\noutput: $.a\n", r"suite\.yaml:6: .*url must start with http"),
    ("url: http://x.test\noutput: $.a\nbody: '{\"q\": {{ prompt }}}'\n",
     r"suite\.yaml:4: model 'my-api', prompt 'p', case 'a': the http: body is not JSON.*\n  hint: .*tojson"),
    ("url: http://x.test\noutput: $.a\nbody: '{\"q\": {{ vars.missing | tojson }}}'\n",
     r"suite\.yaml:4: model 'my-api', prompt 'p', case 'a': the http: body: template error"),
])
def test_a_bad_http_model_fails_at_validate_at_its_line(tmp_path, capsys, http, said):
    suite = write_suite(tmp_path, http)
    assert run_cli("validate", suite) == 2
    assert re.search(said, capsys.readouterr().err), said


def test_a_model_key_beside_http_is_refused(tmp_path, capsys):
    (tmp_path / "suite.yaml").write_text("name: x\nprompts: [{id: p, text: hi}]\n"
                                         "models: [{model: openai/gpt-4o, http: {url: 'http://x', output: $.a}}]\n"
                                         "cases: [{id: a}]\n")
    assert run_cli("validate", tmp_path / "suite.yaml") == 2
    assert "without model:" in capsys.readouterr().err


def test_what_the_promptfoo_importer_writes_runs(tmp_path, monkeypatch):
    """promptfoo's HTTP provider, imported as an http: model, loads and calls the endpoint as promptfoo would."""
    monkeypatch.setenv("API_TOKEN", SECRET)
    with JSONEndpointServer(lambda r: {"choices": [{"message": {"content": f"hello {r['json']['user']}"}}]}) as server:
        config = tmp_path / "promptfooconfig.yaml"
        config.write_text(textwrap.dedent(f"""\
            prompts: ['{{{{ q }}}}']
            providers:
              - id: https
                label: my-api
                config:
                  url: {server.url}/chat
                  headers: {{Authorization: 'Bearer {{{{ env.API_TOKEN }}}}'}}
                  body: {{input: '{{{{ prompt }}}}', user: '{{{{ user }}}}', stream: false}}
                  transformResponse: json.choices[0].message.content
            tests:
              - vars: {{q: Hi, user: ann}}
                assert: [{{type: contains, value: hello ann}}]
            """))
        (tmp_path / "pyproject.toml").write_text("")
        assert run_cli("import", "promptfoo", config, "--out", tmp_path / "suite.yaml") == 0
        assert run_cli("run", tmp_path / "suite.yaml", "--out", tmp_path / "out") == 0
        assert server.requests[0]["json"] == {"input": "Hi", "user": "ann", "stream": False}
        assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"


def test_harness_plugins_lists_the_providers(capsys):
    assert run_cli("plugins") == 0
    listed = capsys.readouterr().out
    for name in ("echo", "http", "local", "python"):
        assert re.search(rf"provider\s+{name}\s+harness", listed), name


def test_a_header_variable_that_is_no_credential_is_part_of_the_cache_key(tmp_path, monkeypatch):
    """Review: the URL's plain variables are resolved in the cache key, a plain header's were left as written, so
    switching X-Model: ${MODEL_NAME} (which model the endpoint runs) answered from the other model's cache."""
    monkeypatch.setenv("MODEL_NAME", "small")
    with JSONEndpointServer(lambda request: {"answer": f"Answer from {request['headers']['X-Model']}"}) as server:
        suite = write_suite(tmp_path, f"url: {server.url}/ask\nheaders: {{X-Model: '${{MODEL_NAME}}'}}\n"
                                      "output: $.answer\n")
        assert run_cli("run", suite, "--out", tmp_path / "one") == 0
        monkeypatch.setenv("MODEL_NAME", "large")
        assert run_cli("run", suite, "--out", tmp_path / "two") == 0
        assert len(server.requests) == 2
        assert rows(tmp_path / "two")[0]["response"]["text"] == "Answer from large"
