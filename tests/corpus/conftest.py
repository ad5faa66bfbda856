"""The corpus is data for tests/test_corpus.py: nothing under it is collected by pytest
(its suite.yaml files would otherwise be collected by the harness pytest plugin)."""

collect_ignore_glob = ["*"]
