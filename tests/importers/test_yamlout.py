"""The suite writer: comments where the data holds them, text as it is, and YAML harness reads back unchanged."""

from __future__ import annotations

import yaml

from harness import yamlfile
from harness.importers.common import Comment
from harness.importers.yamlout import dump


def test_comments_stand_where_they_were_put_and_the_rest_reads_back_unchanged():
    data = {
        "name": "x",
        "prompts": [{"id": "p", "text": "Line one {{ q }}\nLine two: 'quoted' and \"double\"\n"}],
        "cases": [
            {Comment(("before the id",)): None, "id": "c1", "vars": {"q": "yes", "n": "007", "e": "é ✓", "t": ""},
             "scorers": [Comment.left_out("moderation", {"type": "moderation", "value": "a\nb"}, "no API")]},
            Comment(("between cases",)),
            {"id": "c2", "vars": {"q": "no"}, "scorers": [{"type": "equals", "value": "on"}, Comment(("after",))]},
        ],
    }
    text = dump(data, ["a header"])
    assert text.startswith("# a header\nname: x\n")
    assert "  - id: c1\n    # before the id\n" in text
    assert "    # scorers:\n    # untranslated (moderation): no API\n    #   type: moderation\n    #   value: |-\n" \
           "    #     a\n    #     b\n" in text
    assert "  # between cases\n" in text and "      # after\n" in text
    read, _ = yamlfile.load(text, "suite.yaml")  # harness's strict reader: no unquoted yes/no, no duplicates
    assert read == {"name": "x", "prompts": data["prompts"], "cases": [
        {"id": "c1", "vars": {"q": "yes", "n": "007", "e": "é ✓", "t": ""}},
        {"id": "c2", "vars": {"q": "no"}, "scorers": [{"type": "equals", "value": "on"}]}]}
    assert yaml.safe_load(text) == read



def test_code_with_single_quotes_is_written_in_double_quotes_as_it_is():
    data = {"expr": "json['city'] == 'Oslo'", "pattern": "it's \\d+", "said": 'say "hi"'}
    text = dump(data)
    assert "expr: \"json['city'] == 'Oslo'\"\n" in text  # not 'json[''city''] == ''Oslo'''
    assert yamlfile.load(text, "suite.yaml")[0] == data
