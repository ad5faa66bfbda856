"""Measure `harness import promptfoo` on a folder of promptfoo configs (such as promptfoo's public examples/).

    python bench/import_promptfoo.py FOLDER [--keep] [--json FILE]

For every promptfooconfig*.yaml|yml|json under FOLDER: import it, write the suite beside the config (as `harness
import` does; removed afterwards unless --keep, so FOLDER should be a scratch copy), and run `harness validate` on
it. Prints configs found, imported, and validated (exit 0), in two
figures:

- now: `harness validate` on the written suite as it is, with the harness installed here;
- with SYNTAX-TARGET: suites that use features harness is still gaining (harness.importers.features) are validated
  with each such construct replaced by a stand-in of the same place (a scorer by a scorer of the same name, an
  http model by `echo`, a transform or metric dropped), so everything else in them (prompts rendered for every
  case, models, the vars and expected values scorers need) is still checked.

Then the assertion instances by type, translated / total, the share translated (also without JavaScript that is not
simple), the untranslated kinds, and why configs were not imported or did not validate.
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

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import cli, plugins  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.importers import features, import_file, render  # noqa: E402

NOT_SIMPLE_JS = ("javascript (not simple)", "javascript (file)")


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


def stand_in(suite: dict) -> dict:
    """The suite with each construct harness does not have yet replaced by one of the same place that it has: a
    scorer by a regex scorer of the same name, a second scorer under one metric likewise, an http model by echo."""
    missing = set(features.missing(features.FEATURES))
    known = set(plugins.SCORERS.names()) | ({"any", "all"} if "groups" not in missing else set())

    def scorers(specs: list) -> list:
        found, metrics = [], set()
        for number, spec in enumerate(specs):
            if not isinstance(spec, dict):
                continue
            spec = {k: v for k, v in spec.items() if not (k == "transform" and k in missing)}
            group = next((key for key in ("any", "all") if isinstance(spec.get(key), list)), None)
            if group:
                spec[group] = scorers(spec[group])
            shared = spec.get("metric") in metrics and "shared_metric" in missing
            metrics.add(spec.get("metric"))
            kind = spec.get("type", group)
            if shared or kind not in known or kind in missing or "metric" in missing:
                name = f"{spec.get('metric') or spec.get('name') or spec.get('type') or 'group'}-{number}"
                spec = {"type": "regex", "pattern": "", "name": name, **{k: spec[k] for k in ("weight",) if k in spec}}
            found.append(spec)
        return found

    suite = {k: v for k, v in suite.items() if k not in missing & {"transform", "derived_metrics"}}
    suite["scorers"] = scorers(suite.get("scorers", []))
    suite["models"] = [{"id": m["id"], "model": "echo"} if isinstance(m, dict) and "http" in m else m
                       for m in suite.get("models", [])]
    cases = []
    for case in suite.get("cases", []):
        case = {k: v for k, v in case.items() if not (k == "transform" and "transform" in missing)}
        if "scorers" in case:
            case["scorers"] = scorers(case["scorers"])
        cases.append(case)
    suite["cases"] = cases
    return {k: v for k, v in suite.items() if v != [] or k in ("cases", "prompts")}


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
        target = config.with_name(config.stem + ".bench.stand-in.harness.yaml")
        path.write_text(render(imported), encoding="utf-8")
        entry.update(tally=imported.tally, needs=sorted(features.missing(imported.needs)))
        entry["now"], entry["now_error"] = validate(path)
        if entry["needs"]:
            target.write_text(yaml.safe_dump(stand_in(yaml.safe_load(path.read_text())), sort_keys=False,
                                             allow_unicode=True), encoding="utf-8")
            entry["target"], entry["target_error"] = validate(target)
        else:
            entry["target"], entry["target_error"] = entry["now"], entry["now_error"]
        if not keep:
            path.unlink()
            target.unlink(missing_ok=True)
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
    return {
        "configs": len(results), "imported": len(imported),
        "valid_now": sum(r["now"] == 0 for r in imported),
        "valid_with_target": sum(r["target"] == 0 for r in imported),
        "assertions": sum(total.values()), "translated": sum(translated.values()),
        "not_simple_javascript": not_simple, "not_promptfoo_types": unknown,
        "by_type": {k: [translated[k], total[k]] for k, _ in total.most_common()},
        "untranslated": dict(untranslated.most_common()),
        "needs": dict(Counter(n for r in imported for n in r["needs"]).most_common()),
        "import_errors": dict(Counter(_reason(r["error"]) for r in results if "error" in r).most_common()),
        "now_errors": dict(Counter(_reason(r["now_error"]) for r in imported if r["now"]).most_common()),
        "target_errors": dict(Counter(_reason(r["target_error"]) for r in imported if r["target"]).most_common()),
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
    print(f"imported and harness validate exit 0:   {share(figures['valid_now'], n)}   (now)")
    print(f"  ... assuming SYNTAX-TARGET is in:     {share(figures['valid_with_target'], n)}")
    done, total, hard = figures["translated"], figures["assertions"], figures["not_simple_javascript"]
    print(f"assertion instances translated:         {share(done, total)}")
    print(f"  outside JavaScript that is not simple: {share(done, total - hard)}")
    unknown = figures["not_promptfoo_types"]
    print(f"  ... and types promptfoo does not have: {share(done, total - hard - unknown)}")
    print("\nby type (translated / total):")
    for kind, (ok, all_) in figures["by_type"].items():
        print(f"  {kind:32} {ok:5} / {all_:<5}")
    for title, key in (("untranslated kinds", "untranslated"), ("features still needed (configs)", "needs"),
                       ("not imported", "import_errors"), ("does not validate now", "now_errors"),
                       ("does not validate with SYNTAX-TARGET", "target_errors")):
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
