"""harness.yamlfile's reading of YAML 1.1's other booleans: refused in a suite, the words they are for other tools."""

from __future__ import annotations

import pytest

from harness import yamlfile
from harness.errors import HarnessError


def test_yes_and_no_are_refused_in_files_people_write_for_harness():
    with pytest.raises(HarnessError, match="unquoted yes is read as true"):
        yamlfile.load("answer: yes\n", "suite.yaml")


def test_for_another_tools_files_they_are_the_words_yaml_1_2_reads():
    data, _ = yamlfile.load("a: yes\nb: Off\nc: true\nd: 'no'\ne: [on, n]\n", "promptfooconfig.yaml",
                            words_as_text=True)
    assert data == {"a": "yes", "b": "Off", "c": True, "d": "no", "e": ["on", "n"]}
