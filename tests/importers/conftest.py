"""Helpers for the importer tests: configs written into tmp_path, the suite an import writes, read back."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from harness.importers import import_file, render, write
from harness.importers.common import Imported
from tests.conftest import run_cli


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "evals"
    path.mkdir()
    return path


@pytest.fixture
def put(folder: Path):
    """Write a file under the config's folder (text dedented) and return its path."""

    def put_file(name: str, text: str) -> Path:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return put_file


def suite_of(imported: Imported) -> dict:
    """The suite as harness will read it: the written YAML, parsed."""
    return yaml.safe_load(render(imported))


def imported(tool: str, path: Path) -> tuple[Imported, dict]:
    result = import_file(tool, path)
    return result, suite_of(result)


def validated(result: Imported, out: Path) -> bool:
    """Write the suite (and the files beside it) and require `harness validate` to pass on it."""
    write(result, out)
    assert run_cli("validate", out) == 0
    return True
