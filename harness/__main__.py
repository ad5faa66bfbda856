"""``python -m harness``: the same as the ``harness`` command."""

from harness.cli import entry_point

entry_point()
