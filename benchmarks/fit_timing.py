"""Wall time and convergence of the default fit on the bundled data (all 12 benchmarks).

Usage: python benchmarks/fit_timing.py [--sampler pymc] [--chains 4] [--draws 500] [--tune 1000]
Prints and writes benchmarks/results/fit_timing.json.  Run twice: the first run in a
fresh PyTensor compiledir is the cold one.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import arviz as az

from scaling_bayes import LatentSkillModel, load_dataset
from scaling_bayes.inference import available_cores

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sampler", default="pymc")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--n-skills", type=int, default=None, help="default: the model default")
    p.add_argument("--label", default="default")
    args = p.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = load_dataset("sloth_curated").fittable()
    model = LatentSkillModel() if args.n_skills is None else LatentSkillModel(n_skills=args.n_skills)
    start = time.perf_counter()
    model.fit(data, chains=args.chains, draws=args.draws, tune=args.tune, sampler=args.sampler,
              progressbar=False)
    wall = time.perf_counter() - start
    d = model.diagnostics
    rhat = az.rhat(model.posterior)
    worst = sorted(((float(rhat[v].max()), v) for v in rhat.data_vars), reverse=True)[:5]
    record = {
        "label": args.label, "sampler": args.sampler, "chains": args.chains, "draws": args.draws,
        "tune": args.tune, "n_skills": model.config.n_skills, "wall_seconds": round(wall, 1),
        "max_rhat": round(d.max_rhat, 4), "min_ess_bulk": round(d.min_ess_bulk, 1),
        "min_ess_tail": round(d.min_ess_tail, 1), "divergences": d.divergences,
        "worst_rhat": {v: round(r, 4) for r, v in worst},
        "cores": available_cores(), "python": platform.python_version(),
        "n_models": data.n_models, "n_benchmarks": len(data.benchmarks),
    }
    print(json.dumps(record, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "fit_timing.json"
    history = json.loads(out.read_text()) if out.exists() else []
    history.append(record)
    out.write_text(json.dumps(history, indent=2))


if __name__ == "__main__":
    main()
