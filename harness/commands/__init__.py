"""Commands of the ``harness`` CLI that live apart from harness.cli (which adds them): each a thin layer over
the Python API, importing what it needs only when it runs, so ``harness --help`` stays instant."""
