"""Measure `harness import promptfoo` on a folder of promptfoo configs (such as promptfoo's public examples/).

    python bench/import_promptfoo.py FOLDER [--keep] [--json FILE]

For every promptfooconfig*.yaml|yml|json under FOLDER: import it, write the suite (and the files beside it: the
checks file of its Python assertions, the check files it copies) beside the config as `harness import` does, and
run `harness validate` on it; what was written is removed afterwards unless --keep, so FOLDER should be a scratch
copy. Prints configs found, imported, and imported and validated (exit 0); the assertion instances by type,
translated / total, the share translated (also without JavaScript that is not simple), the untranslated kinds,
and why configs were not imported or did not validate.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import cli  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.importers import import_file, write  # noqa: E402

NOT_SIMPLE_JS = ("javascript (not simple)", "javascript (file)")
FAILS_IN_PROMPTFOO = ("javascript (fails in promptfoo)",)  # no result in promptfoo either: counted, not excused


def configs(folder: Path) -> list[Path]:
    found = [p for pattern in ("promptfooconfig*.yaml", "promptfooconfig*.yml", "promptfooconfig*.json")
             for p in folder.rglob(pattern) if "node_modules" not in p.parts and ".harness." not in p.name]
    return sorted(found)


def validate(path: Path) -> tuple[int, str]:
    """`harness validate PATH` in this process: its exit code and its first error line."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            cli.main(["validate", str(path)])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    message = next((line for line in err.getvalue().splitlines() if "error" in line), "")
    return code, message


def measure(folder: Path, keep: bool) -> dict:
    results = []
    for config in configs(folder):
        entry = {"config": str(config.relative_to(folder))}
        results.append(entry)
        try:
            imported = import_file("promptfoo", config)
        except HarnessError as exc:
            entry["error"] = exc.message
            continue
        except Exception as exc:  # an importer bug: counted, never hidden
            entry["error"] = f"internal error: {type(exc).__name__}: {exc}"
            continue
        path = config.with_name(config.stem + ".bench.harness.yaml")
        before = set(config.parent.iterdir())
        entry["tally"] = imported.tally
        try:
            write(imported, path)
            entry["valid"], entry["valid_error"] = validate(path)
        except HarnessError as exc:  # a file it would write is there already (a run with --keep before)
            entry["valid"], entry["valid_error"] = 2, f"harness: error: {exc.message}"
        if not keep:
            for written in set(config.parent.iterdir()) - before:
                written.unlink()
    return summarise(results)


def summarise(results: list[dict]) -> dict:
    imported = [r for r in results if "tally" in r]
    total, translated, untranslated = Counter(), Counter(), Counter()
    for r in imported:
        total.update(r["tally"].total)
        translated.update(r["tally"].translated)
        untranslated.update(r["tally"].untranslated)
    not_simple = sum(untranslated[k] for k in NOT_SIMPLE_JS)
    unknown = sum(n for k, n in untranslated.items() if k.endswith("(not a promptfoo type)"))
    failing = sum(untranslated[k] for k in FAILS_IN_PROMPTFOO)
    return {
        "configs": len(results), "imported": len(imported),
        "valid": sum(r["valid"] == 0 for r in imported),
        "assertions": sum(total.values()), "translated": sum(translated.values()),
        "not_simple_javascript": not_simple, "not_promptfoo_types": unknown, "fail_in_promptfoo": failing,
        "by_type": {k: [translated[k], total[k]] for k, _ in total.most_common()},
        "untranslated": dict(untranslated.most_common()),
        "import_errors": dict(Counter(_reason(r["error"]) for r in results if "error" in r).most_common()),
        "validate_errors": dict(Counter(_reason(r["valid_error"]) for r in imported if r["valid"]).most_common()),
        "results": [{k: v for k, v in r.items() if k != "tally"} for r in results],
    }


def _reason(message: str) -> str:
    """An error without its particulars (file names, lines, quoted values), to count alike ones together."""
    message = re.sub(r"^harness: error: (\S+?:\d+: |\S+: )?", "", message)
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "…", message)[:110]


def report(figures: dict) -> None:
    n, imported = figures["configs"], figures["imported"]
    share = lambda part, whole: f"{part}/{whole} ({100 * part / whole:.1f}%)" if whole else "0"  # noqa: E731
    print(f"configs found:                          {n}")
    print(f"imported:                               {share(imported, n)}")
    print(f"imported and harness validate exit 0:   {share(figures['valid'], n)}")
    done, total, hard = figures["translated"], figures["assertions"], figures["not_simple_javascript"]
    print(f"assertion instances translated:         {share(done, total)}")
    print(f"  outside JavaScript that is not simple: {share(done, total - hard)}")
    unknown = figures["not_promptfoo_types"]
    print(f"  ... and types promptfoo does not have: {share(done, total - hard - unknown)}")
    failing = figures["fail_in_promptfoo"]
    print(f"  ... and JavaScript promptfoo always fails: {share(done, total - hard - unknown - failing)}")
    print("\nby type (translated / total):")
    for kind, (ok, all_) in figures["by_type"].items():
        print(f"  {kind:32} {ok:5} / {all_:<5}")
    for title, key in (("untranslated kinds", "untranslated"), ("not imported", "import_errors"),
                       ("does not validate", "validate_errors")):
        print(f"\n{title}:")
        for kind, count in list(figures[key].items())[:15]:
            print(f"  {count:5}  {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the suites written beside the configs")
    parser.add_argument("--json", type=Path, help="also write every figure and each config's outcome here")
    args = parser.parse_args()
    figures = measure(args.folder.resolve(), args.keep)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
