"""Side-by-side table of several protocol runs (one row per setting, one column block per run).

Usage::

    python benchmarks/compare_runs.py benchmarks/results/sloth_default benchmarks/results/sloth_family_slopes \
        [--out benchmarks/results/compare.md]

A run is a directory written by ``scaling-bayes evaluate``; several directories can be merged
into one run with ``--merge OUT DIR1 DIR2 ...`` (e.g. the n=1 and n=2 halves of a protocol).
Every number is recomputed from each run's ``predictions.csv``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from scaling_bayes.evaluation import EvaluationResult
from scaling_bayes.evaluation._aggregate import SETTING_KEYS
from scaling_bayes.evaluation.metrics import AVERAGE


def fold_configs(run: Path) -> dict[str, list[str]]:
    """The configurations (model, sampler arguments, seed) a run's cached folds were fitted
    under, as JSON text, each with the folds that used it."""
    configs: dict[str, list[str]] = {}
    for record in sorted((run / "folds").glob("*.json")):
        config = json.dumps(json.loads(record.read_text()).get("config"), sort_keys=True)
        configs.setdefault(config, []).append(f"{run.name}/{record.stem}")
    return configs


def merge(out: Path, dirs: list[Path], *, allow_mixed: bool = False) -> EvaluationResult:
    """One run from the predictions and diagnostics of several directories, which must have
    been fitted under one configuration (read from their ``folds/*.json``) unless
    ``allow_mixed``."""
    configs: dict[str, list[str]] = {}
    for d in dirs:
        for config, folds in fold_configs(d).items():
            configs.setdefault(config, []).extend(folds)
    if len(configs) > 1 and not allow_mixed:
        listing = "\n".join(f"  {config}\n    e.g. {folds[0]} ({len(folds)} folds)" for config, folds in configs.items())
        raise SystemExit(f"error: the runs were fitted under {len(configs)} configurations:\n{listing}\n"
                         "merge runs of one model and sampler setting, or pass --allow-mixed to merge anyway")
    unchecked = [str(d) for d in dirs if not (d / "folds").is_dir()]
    if unchecked:
        print(f"warning: no folds/ in {', '.join(unchecked)}: their configuration is not checked")
    preds = pd.concat([pd.read_csv(d / "predictions.csv") for d in dirs], ignore_index=True)
    diags = [pd.read_csv(d / "diagnostics.csv") for d in dirs if (d / "diagnostics.csv").is_file()]
    duplicated = preds.duplicated([*SETTING_KEYS, "model", "benchmark"])
    if duplicated.any():
        raise SystemExit(f"error: {int(duplicated.sum())} prediction rows appear in more than one of {dirs}")
    result = EvaluationResult.from_predictions(preds, pd.concat(diags, ignore_index=True) if diags else None)
    result.save(out)
    return result


def setting_table(path: Path) -> pd.DataFrame:
    """Per setting, in pp: family-macro MAE, Sloth best, 90% coverage (posterior; cross-fold
    conformal), 90% width and family-macro CRPS."""
    run = EvaluationResult.from_predictions(pd.read_csv(path / "predictions.csv"))
    avg = run.metrics.xs(AVERAGE, level="benchmark")
    table = pd.DataFrame(
        {
            "mae": avg["mae_family_macro"] * 100,
            "sloth_best": run.comparison.xs(AVERAGE, level="benchmark")["sloth_best"] * 100,
            "cov90": avg["coverage_90"] * 100,
            "width90": avg["width_90"] * 100,
            "crps": avg["crps_family_macro"] * 100,
        }
    )
    if run.calibrated_metrics is not None:
        cal = run.calibrated_metrics.xs(AVERAGE, level="benchmark")
        table.insert(3, "cov90_conformal", cal["coverage_90"] * 100)
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", type=Path)
    p.add_argument("--merge", nargs="+", type=Path, metavar=("OUT", "DIR"),
                   help="merge DIRs into the run directory OUT, then exit")
    p.add_argument("--allow-mixed", action="store_true",
                   help="with --merge: merge runs fitted under different configurations")
    p.add_argument("--out", type=Path, default=None, help="also write the table as markdown")
    args = p.parse_args()
    if args.merge:
        out, *dirs = args.merge
        merge(out, dirs, allow_mixed=args.allow_mixed)
        print(f"merged {len(dirs)} runs into {out}")
        return
    tables = {path.name: setting_table(path) for path in args.runs}
    wide = pd.concat(tables, axis=1).round(2)
    print(wide.to_string())
    if args.out:
        args.out.write_text(to_markdown(wide))


def to_markdown(wide: pd.DataFrame) -> str:
    """A GitHub table: one row per setting, columns ``run: metric``."""
    header = ["setting", *(f"{run}: {metric}" for run, metric in wide.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (bset, n), row in wide.iterrows():
        cells = ["–" if pd.isna(v) else f"{v:.2f}" for v in row.tolist()]
        lines.append("| " + " | ".join([f"{bset} n={n}", *cells]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
