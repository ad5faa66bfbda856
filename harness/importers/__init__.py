"""Importers: another tool's evals as a harness suite (``harness import TOOL CONFIG``)."""
