"""promptfoo configs -> harness suites: prompts, providers, tests and their files, defaultTest, transforms, tools."""

from __future__ import annotations

import pytest

from harness.importers.promptfoo_providers import model_name
from tests.importers.conftest import imported, validated


@pytest.mark.parametrize(("provider", "model"), [
    ("openai:gpt-4o-mini", "openai/gpt-4o-mini"),
    ("openai:chat:gpt-4o", "openai/gpt-4o"),
    ("openai:responses:gpt-4.1", "openai/gpt-4.1"),
    ("openai:completion:gpt-3.5-turbo-instruct", "text-completion-openai/gpt-3.5-turbo-instruct"),
    ("anthropic:messages:claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku-latest"),
    ("ollama:chat:llama3.2", "ollama_chat/llama3.2"),
    ("ollama:llama3.2:1b", "ollama/llama3.2:1b"),
    ("bedrock:anthropic.claude-3-haiku-20240307-v1:0", "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("vertex:gemini-1.5-pro", "vertex_ai/gemini-1.5-pro"),
    ("google:gemini-2.0-flash", "gemini/gemini-2.0-flash"),
    ("azure:chat:my-deployment", "azure/my-deployment"),
    ("openrouter:meta-llama/llama-3-8b", "openrouter/meta-llama/llama-3-8b"),
    ("sagemaker:jumpstart:my-endpoint", "sagemaker/my-endpoint"),
    ("echo", "echo"),
    ("openai:assistant:asst_123", None),
    ("file://provider.py", None),
    ("exec: ./run.sh", None),
])
def test_provider_ids_are_litellm_model_strings(provider, model):
    assert model_name(provider) == model


def test_text_prompts_labelled_providers_and_their_config(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        description: Translation
        prompts:
          - 'Translate to {{ language }}: {{ text }}'
          - {raw: 'Say "{{ text }}" in {{ language }}.', label: polite}
        providers:
          - openai:gpt-4o-mini
          - id: anthropic:messages:claude-3-5-haiku-latest
            label: haiku
            config: {temperature: 0, max_tokens: 64, apiKey: sk-not-copied, someFlag: true}
        tests:
          - vars: {language: French, text: Hello}
            assert: [{type: icontains, value: bonjour}]
    """))
    assert suite["name"] == "evals" and suite["description"] == "Translation"
    assert suite["prompts"] == [{"id": "prompt-1", "text": "Translate to {{ language }}: {{ text }}"},
                                {"id": "polite", "text": 'Say "{{ text }}" in {{ language }}.'}]
    assert suite["models"] == ["openai/gpt-4o-mini", {"id": "haiku", "model": "anthropic/claude-3-5-haiku-latest",
                                                      "params": {"temperature": 0, "max_tokens": 64}}]
    from harness.importers import render

    text = render(result)
    assert "sk-not-copied" not in text  # credentials stay in the environment
    assert "# provider options not carried over: someFlag" in text
    assert validated(result, tmp_path / "suite.yaml")


def test_prompt_files_text_split_on_dashes_chat_json_yaml_and_globs(put):
    put("prompts/a.txt", "First {{ q }}\n---\nSecond {{ q }}\n")
    put("prompts/chat.json", """
        [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": {{ q | dump }}}]
    """)
    put("prompts/more/b.txt", "Third {{ q }}")
    put("chat.yaml", "- {role: user, content: 'Q: {{ q }}'}")
    put("parts.json", """
        [{"role": "user", "content": [{"type": "text", "text": "Describe {{ q }}"},
          {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "{{ image }}"}}]}]
    """)
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: [file://prompts/a.txt, file://prompts/chat.json, 'file://prompts/more/*.txt',
                  {id: file://chat.yaml, label: yaml-chat}, file://parts.json, file://prompt.py:build]
        tests: [{vars: {q: tea, image: aGk=}}]
    """))
    assert suite["prompts"] == [
        {"id": "a-1", "text": "First {{ q }}"}, {"id": "a-2", "text": "Second {{ q }}"},
        {"id": "chat", "messages": [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "{{ q }}"}]},
        {"id": "b", "text": "Third {{ q }}"},
        {"id": "yaml-chat", "messages": [{"role": "user", "content": "Q: {{ q }}"}]},
        {"id": "parts", "messages": [{"role": "user", "content": [
            {"text": "Describe {{ q }}"}, {"image": "data:image/png;base64,{{ image }}"}]}]},
    ]
    assert result.tally.other == {"prompt function": 1}


def test_tests_from_csv_json_jsonl_yaml_and_globs(put, tmp_path):
    put("data/cases.csv", "question,__expected,__expected2,__description,__metric,__metadata:topic\n"
                          "Capital of France?,contains:Paris,\"fn:output.length < 50\",france,geo,capitals\n"
                          "Two plus two?,4,,sum,,\n")
    put("data/more.jsonl", '{"vars": {"question": "Color of the sky?"}, "assert": [{"type": "icontains", '
                           '"value": "blue"}]}\n')
    put("data/one.json", '[{"vars": {"question": "Largest planet?"}, "description": "planet"}]')
    put("data/extra/a.yaml", "- vars: {question: 'Boiling point of water?'}\n  threshold: 0.5\n")
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ question }}']
        tests: [file://data/cases.csv, file://data/more.jsonl, file://data/one.json, 'file://data/extra/*.yaml']
    """))
    cases = {c["id"]: c for c in suite["cases"]}
    assert cases["france"] == {"id": "france", "vars": {"question": "Capital of France?"},
                               "metadata": {"topic": "capitals"}, "scorers": [
        {"type": "contains", "value": "Paris", "ignore_case": False, "metric": "geo"},
        {"type": "python", "expr": "(len(output) < 50)", "metric": "geo"}]}
    assert cases["sum"]["scorers"] == [{"type": "equals", "value": "4"}]
    assert cases["planet"]["vars"] == {"question": "Largest planet?"}
    assert [c.get("threshold") for c in suite["cases"]][-1] == 0.5
    assert len(suite["cases"]) == 5 and result.cases == 5
    assert validated(result, tmp_path / "suite.yaml")  # two scorers under the metric geo: needs a shared metric


def test_var_lists_and_var_files_multiply_and_fill_cases(put):
    put("docs/a.txt", "Alpha text.\n")
    put("docs/b.txt", "Beta text.\n")
    put("facts.yaml", "k: v\n")
    _, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ doc }} in {{ language }} ({{ facts }})']
        tests:
          - vars: {doc: 'file://docs/*.txt', language: [French, German], facts: file://facts.yaml}
    """))
    assert [c["vars"] for c in suite["cases"]] == [
        {"doc": "Alpha text.", "language": "French", "facts": '{"k": "v"}'},
        {"doc": "Alpha text.", "language": "German", "facts": '{"k": "v"}'},
        {"doc": "Beta text.", "language": "French", "facts": '{"k": "v"}'},
        {"doc": "Beta text.", "language": "German", "facts": '{"k": "v"}'},
    ]


def test_default_test_vars_asserts_threshold_and_judge(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ greeting }}, answer {{ question }}']
        defaultTest:
          vars: {greeting: Hi}
          threshold: 0.6
          options: {provider: 'openai:gpt-4o'}
          assert:
            - {type: llm-rubric, value: Answers the question}
            - {type: icontains, value: '{{ answer }}'}
        tests:
          - vars: {question: Capital of Italy?, answer: Rome}
          - vars: {question: Capital of Spain?, answer: Madrid, greeting: Hello}
    """))
    assert suite["judge"] == "openai/gpt-4o" and suite["threshold"] == 0.6
    assert suite["scorers"] == [{"type": "rubric", "rubric": "Answers the question"}]
    assert [c["vars"]["greeting"] for c in suite["cases"]] == ["Hi", "Hello"]
    assert [c["scorers"] for c in suite["cases"]] == [  # a templated value is rendered for each case
        [{"type": "contains", "value": "Rome", "ignore_case": True}],
        [{"type": "contains", "value": "Madrid", "ignore_case": True}]]
    assert result.tally.total == {"llm-rubric": 1, "icontains": 1}  # each assertion counted once, as written
    assert validated(result, tmp_path / "suite.yaml")


def test_a_var_a_prompt_uses_and_a_case_lacks_is_empty_as_in_promptfoo(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['Write about {{ topic }}', 'Explain {{ concept }}']
        tests: [{vars: {topic: tea}}, {vars: {concept: gravity}}]
    """))
    assert [c["vars"] for c in suite["cases"]] == [{"topic": "tea", "concept": ""}, {"concept": "gravity",
                                                                                      "topic": ""}]
    assert validated(result, tmp_path / "suite.yaml")


def test_transforms_response_format_and_tools(put, tmp_path):
    put("schema.json", '{"type": "object", "properties": {"city": {"type": "string"}}}')
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['Weather in {{ city }}?']
        providers:
          - id: openai:gpt-4o-mini
            config:
              response_format: {type: json_schema, json_schema: {name: answer, schema: file://schema.json}}
              tool_choice: auto
              tools:
                - type: function
                  function: {name: get_weather, description: Weather now, parameters: {type: object}}
                - {functionDeclarations: [{name: get_time, parameters: {type: OBJECT, properties: {
                    zone: {type: STRING}}}}]}
        defaultTest:
          options: {transform: output.trim()}
        tests:
          - vars: {city: Oslo}
            options: {transform: JSON.parse(output).city}
            assert: [{type: equals, value: Oslo}]
          - vars: {city: Rome}
    """))
    assert suite["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    assert suite["tool_choice"] == "auto"
    assert suite["tools"] == [
        {"name": "get_weather", "description": "Weather now", "parameters": {"type": "object"}},
        {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}]
    # A test's own transform replaces defaultTest's in promptfoo; in harness a case's follows the suite's: so
    # defaultTest's goes to each case without one of its own, and none to the suite.
    assert "transform" not in suite
    assert [c["transform"] for c in suite["cases"]] == [{"python": "json['city']"}, "strip"]
    assert validated(result, tmp_path / "suite.yaml")


def test_a_default_transform_no_test_replaces_is_the_suites(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['Weather in {{ city }}?']
        providers: [openai:gpt-4o-mini]
        defaultTest:
          options: {transform: output.toLowerCase()}
        tests:
          - vars: {city: Oslo}
            assert: [{type: equals, value: oslo}]
    """))
    assert suite["transform"] == "lower" and "transform" not in suite["cases"][0]
    assert validated(result, tmp_path / "suite.yaml")


def test_http_provider_derived_metrics_and_assertion_templates(put):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ q }}']
        providers:
          - id: https
            label: my-api
            config:
              url: https://api.example.com/chat
              headers: {Authorization: 'Bearer {{ env.API_TOKEN }}'}
              body: {input: '{{ prompt }}', user: '{{ user }}', stream: false}
              transformResponse: json.choices[0].message.content
        assertionTemplates:
          short: {type: javascript, value: output.length < 200}
        derivedMetrics:
          - {name: f1, value: 2 * precision * recall / (precision + recall)}
          - {name: odd, value: 'function(scores) { return 1 }'}
        tests:
          - vars: {q: Hi, user: ann}
            assert: [{$ref: '#/assertionTemplates/short'}]
    """))
    assert suite["models"] == [{"id": "my-api", "http": {
        "url": "https://api.example.com/chat", "method": "POST", "headers": {"Authorization": "Bearer ${API_TOKEN}"},
        "body": '{"input": {{ (messages[-1].content) | tojson }}, "user": {{ (vars.user) | tojson }}, '
                '"stream": false}',
        "output": "$.choices[0].message.content"}}]
    assert suite["derived_metrics"] == {"f1": "2 * precision * recall / (precision + recall)"}
    assert suite["cases"][0]["scorers"] == [{"type": "python", "expr": "(len(output) < 200)"}]
    assert result.tally.other == {"derived metric (JavaScript)": 1}


def test_parts_harness_has_no_place_for_stay_as_comments(put):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ q }}']
        providers: [file://my_provider.py, openai:gpt-4o-mini]
        nunjucksFilters: {shout: file://shout.js}
        tests:
          - vars: {q: Hi}
            providers: [openai:gpt-4o-mini]
            options: {prefix: 'Q: '}
    """))
    from harness.importers import render

    text = render(result)
    assert suite["models"] == ["openai/gpt-4o-mini"]
    for kind in ("provider file://py", "config nunjucksFilters", "test providers", "test prefix"):
        assert f"# untranslated ({kind})" in text
    assert result.tally.other == {"provider file://py": 1, "config nunjucksFilters": 1, "test providers": 1,
                                  "test prefix": 1}


def test_unquoted_yes_is_the_word_as_promptfoo_reads_it(put):
    _, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ q }}']
        tests: [{vars: {q: Answer yes or no}, assert: [{type: equals, value: Yes}]}]
    """))
    assert suite["cases"][0]["scorers"] == [{"type": "equals", "value": "Yes"}]


def test_a_config_without_tests_runs_each_prompt_once(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: [Tell me a joke.]
        providers: [openai:gpt-4o-mini]
        defaultTest: {assert: [{type: llm-rubric, value: Is funny}]}
    """))
    assert [c["vars"] for c in suite["cases"]] == [{}]
    assert validated(result, tmp_path / "suite.yaml")


def test_credentials_are_never_copied_into_the_suite(put):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['{{ q }}']
        env: {OPENAI_API_KEY: sk-secret-1}
        providers:
          - {id: 'custom:thing', config: {apiKey: sk-secret-2, temperature: 0}}
          - id: http
            config: {url: 'https://x.example/api', headers: {Authorization: Bearer sk-secret-3, Accept: json},
                     body: {q: '{{ prompt }}'}}
        tests: [{vars: {q: hi}}]
    """))
    from harness.importers import render

    text = render(result)
    assert "sk-secret" not in text
    assert suite["models"][0]["http"]["headers"] == {"Authorization": "${AUTHORIZATION}", "Accept": "json"}
    assert "#     OPENAI_API_KEY: (not copied)" in text and "#     apiKey: (not copied)" in text
