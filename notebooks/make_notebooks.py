"""Write (and optionally execute) the example notebooks with nbformat.

    python notebooks/make_notebooks.py             # write the .ipynb files (no outputs)
    SCALING_BAYES_FAST=1 python notebooks/make_notebooks.py --execute   # ... and run them

The notebooks hold prose and calls into the package only; every figure comes from
``scaling_bayes.plots``.  ``SCALING_BAYES_FAST=1`` selects tiny fits (a subset of the data
and a few dozen draws) so each notebook runs in about a minute; without it they do the
real job with the default settings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
# The benchmarks/results/ run of the current default model, which notebook 03 loads first.
DEFAULT_RUN = "sloth_translog_sq"
# The protocol's stack of record (benchmarks/stacking_protocol.py), which notebook 03 shows beside it.
STACK_RUN = "sloth_stacked_latent_flops_latent_k3_by_benchmark"
# The current default model on families never seen (--n-train 0), notebook 03's last section.
UNSEEN_RUN = "sloth_unseen_sq"

FAST_NOTE = (
    "> **Fast mode.** With the environment variable `SCALING_BAYES_FAST=1` (as when the tests "
    "execute these notebooks) every fit is tiny: 12 variant families, the 6 Open LLM "
    "Leaderboard v2 benchmarks, 2 skills and a few dozen NUTS draws. Such a fit has **not "
    "converged** (expect R-hat warnings) and its numbers mean nothing; it only shows what the "
    "code produces. Without it (as for the outputs committed here) the fit is the real thing: "
    "the full bundled data, the default 4 skills, 4 chains × 1500 draws after 1000 tuning "
    "steps (a few minutes on 2 cores)."
)

SETUP = """\
%matplotlib inline
import warnings

import pandas as pd

from scaling_bayes import LatentSkillModel, plots
from scaling_bayes.workflows import example_cache_dir, example_model, example_setup

# convergence problems are reported by model.diagnostics and the figures below
warnings.filterwarnings("ignore", category=UserWarning)
warnings.filterwarnings("ignore", category=RuntimeWarning)
pd.set_option("display.precision", 3)"""


def quickstart() -> list:
    return [
        new_markdown_cell(
            "# Quickstart: fit, check, predict\n\n"
            "`scaling_bayes` forecasts how a language model scores on benchmarks from its size "
            "(parameters *N*) and training data (tokens *D*), with honest uncertainty. A few latent "
            "*skills* grow with ln *N*, ln *D* and their product (a translog surface), each family of "
            "models has its own offset, and each benchmark reads the skills through a sigmoid with a "
            "guessing floor. Everything is sampled with NUTS (PyMC), so every forecast is a "
            "posterior-predictive distribution.\n\n" + FAST_NOTE
        ),
        new_code_cell(SETUP),
        new_markdown_cell(
            "## Data\n\n`example_setup()` returns the bundled Sloth data (the Open LLM Leaderboard "
            "models of arXiv 2412.06540), or the fast subset, with the sampler settings to use."
        ),
        new_code_cell(
            "setup = example_setup()\n"
            "data = setup.data\n"
            "print(f\"fast mode: {setup.fast}; {data.n_models} models, {len(data.benchmarks)} benchmarks\")\n"
            "data.models.join(data.scores).head()"
        ),
        new_markdown_cell(
            "## Before the fit: what do the priors imply?\n\nA prior predictive check: scores drawn "
            "from the priors alone at the observed (model, benchmark) cells, against the observed "
            "scores. The priors are weakly informative on each parameter, but the skills add up on "
            "the logit scale, so jointly they put a sizeable share of the mass near 100%. They "
            "cover every observed score, and with over a thousand observed cells the posterior is "
            "driven by the data (compare the posterior-predictive check below)."
        ),
        new_code_cell(
            "from scaling_bayes.inference import prior_predictive_summary\n\n"
            "prior = LatentSkillModel(n_skills=setup.n_skills).prior_predictive(data, draws=300, random_seed=0)\n"
            "display(prior_predictive_summary(prior).round(2))\n"
            "plots.plot_prior_predictive(prior)"
        ),
        new_markdown_cell(
            "## Fit\n\n`fit` runs NUTS from a multi-start MAP initialisation and warns when R-hat, "
            "the effective sample size or divergences look bad. The fit is saved so that the other "
            "notebooks can reuse it."
        ),
        new_code_cell(
            "model = LatentSkillModel(n_skills=setup.n_skills)\n"
            "model.fit(data, random_seed=setup.random_seed, **setup.sample_kwargs)\n"
            "model.save(example_cache_dir())\n"
            "print(model)\n"
            "print(model.diagnostics)"
        ),
        new_markdown_cell(
            "## Did the sampler work?\n\nR-hat near 1 and effective sample sizes in the hundreds "
            "for every parameter element; chains that overlap in the trace plots; similar marginal "
            "and transition energy distributions.\n\n"
            "A fit can fail these checks on an unlucky seed, and the package says so rather than "
            "hiding it. On the full data with `random_seed=0`, as here, the default fit reaches max "
            "R-hat 1.004 and bulk ESS 949 (tail 1030), but one of its 6000 transitions diverged, "
            "so it is flagged; seed 1 gives R-hat 1.005, ESS 997 and two divergences (measured in "
            "session 21, `docs/findings.md`). One or two divergences in 6000 are a warning to "
            "heed, not a failed fit: if they recur, raise `target_accept`. The slowest direction "
            "is the Richards exponents (`log_nu`). The figures below are of this fit."
        ),
        new_code_cell("plots.plot_rhat_ess(model)"),
        new_code_cell("plots.plot_trace(model)"),
        new_code_cell("plots.plot_energy(model)"),
        new_markdown_cell(
            "## Does the model reproduce the data?\n\nObserved score distributions (black) against "
            "data sets replicated from the posterior predictive (blue), per benchmark."
        ),
        new_code_cell("plots.plot_ppc(model)"),
        new_markdown_cell(
            "## Predict new models\n\nA larger model of a known family, and a model of a family the "
            "model has never seen. `case` says how each family effect was obtained; `lower`/`upper` "
            "are the 90% posterior-predictive interval, `mu_lower`/`mu_upper` the interval of the "
            "latent mean score (without benchmark noise)."
        ),
        new_code_cell(
            "new = pd.DataFrame([\n"
            "    {\"model\": \"qwen2-32b\", \"family\": \"qwen2\", \"params_b\": 32, \"tokens_t\": 7},\n"
            "    {\"model\": \"mystery-7b\", \"family\": \"mystery\", \"params_b\": 7, \"tokens_t\": 2},\n"
            "])\n"
            "prediction = model.predict(new, prob=0.9)\n"
            "prediction.table"
        ),
        new_markdown_cell(
            "## Scaling curves\n\nPredicted score against parameters at fixed training tokens "
            "(median, 50% and 90% bands), for a known family (its observed models as dots) and for a "
            "family never seen."
        ),
        new_code_cell(
            "curves = pd.DataFrame([\n"
            "    {\"family\": \"qwen2\", \"base_family\": \"qwen2\", \"instruct\": False, \"tokens_t\": 7.0,\n"
            "     \"label\": \"qwen2 (known), 7T tokens\"},\n"
            "    {\"family\": \"mystery\", \"base_family\": \"mystery\", \"instruct\": False, \"tokens_t\": 7.0,\n"
            "     \"label\": \"a family never seen, 7T tokens\"},\n"
            "])\n"
            "observed = data.models.join(data.scores)\n"
            "plots.plot_scaling_curves(model, curves, observed=observed[observed[\"family\"] == \"qwen2\"])"
        ),
    ]


def skills_and_scaling() -> list:
    return [
        new_markdown_cell(
            "# Skills and scaling\n\nWhat the latent skills are, how families differ in efficiency, "
            "and what knowing a model's family is worth for a forecast.\n\n" + FAST_NOTE
        ),
        new_code_cell(SETUP),
        new_markdown_cell(
            "`example_model()` loads the fit saved by the quickstart notebook, or fits one with the "
            "same settings."
        ),
        new_code_cell("model = example_model()\nprint(model)\nprint(model.diagnostics)"),
        new_markdown_cell(
            "## Loadings: which benchmark measures which skill\n\nEach skill is named by its *anchor* "
            "benchmark, which loads on that skill alone with loading 1 (this pins the rotation, sign "
            "and scale of the factor model). The other loadings are free and non-negative."
        ),
        new_code_cell("plots.plot_loadings(model)"),
        new_markdown_cell(
            "## Do families that are good at one skill tend to be good at the others?\n\n"
            "The correlation of the family effects between skills (LKJ prior)."
        ),
        new_code_cell("plots.plot_skill_correlation(model)"),
        new_markdown_cell(
            "## Family efficiency\n\nEach family's skill at the data's average size and token count: "
            "its offset α above or below the population. Base families first, then variant families "
            "(e.g. instruct lines)."
        ),
        new_code_cell("plots.plot_family_efficiency(model, level=\"family\")"),
        new_code_cell("plots.plot_family_efficiency(model, level=\"variant\")"),
        new_markdown_cell(
            "## Known family vs a family never seen\n\nThe same size and token count, forecast for a "
            "family in the training data and for a fresh family drawn from the population of "
            "families: the width difference is what knowing the family is worth."
        ),
        new_code_cell("plots.plot_known_vs_unseen(model, \"pythia\", params_b=12, tokens_t=0.25)"),
        new_markdown_cell(
            "## Scaling curves of two families\n\nPythia (0.3T tokens) and Qwen2 (7T tokens): the "
            "token count shifts the whole curve."
        ),
        new_code_cell(
            "curves = pd.DataFrame([\n"
            "    {\"family\": \"pythia\", \"base_family\": \"pythia\", \"instruct\": False, \"tokens_t\": 0.3,\n"
            "     \"label\": \"pythia, 0.3T tokens\"},\n"
            "    {\"family\": \"qwen2\", \"base_family\": \"qwen2\", \"instruct\": False, \"tokens_t\": 7.0,\n"
            "     \"label\": \"qwen2, 7T tokens\"},\n"
            "])\n"
            "observed = model.design.data.models.join(model.design.data.scores)\n"
            "plots.plot_scaling_curves(model, curves, observed=observed)"
        ),
        new_markdown_cell(
            "## Calibration in-sample: LOO-PIT\n\nFor each training score, where it falls in its "
            "leave-one-out predictive distribution (PSIS). Uniform histograms mean calibrated "
            "predictive intervals."
        ),
        new_code_cell("plots.plot_loo_pit(model)"),
    ]


def evaluation() -> list:
    return [
        new_markdown_cell(
            "# Evaluation: leave-family-out forecasts against Sloth\n\n"
            "Sloth's protocol (arXiv 2412.06540): hold out a family's larger models, keep its "
            "smallest one (or two) in training, forecast the rest, and compare the mean absolute "
            "error with the paper's methods on exactly the same test rows. Because our forecasts "
            "are distributions, we also check their calibration (do 90% intervals hold 90% of the "
            "scores?) and sharpness (how wide are they?).\n\n"
            "If `benchmarks/results/` (or a folder in it, e.g. `benchmarks/results/sloth/`) holds an "
            "evaluation run (`predictions.csv` and the tables `scaling-bayes evaluate` writes), it is "
            "loaded. Otherwise this notebook runs the protocol on "
            "**one fold** (the Qwen2 family group, leaderboard v2 benchmarks, one training model per "
            "family); in fast mode that fold's training set is also cut down to a few families.\n\n"
            + FAST_NOTE
        ),
        new_code_cell(
            SETUP + "\n\n"
            "from functools import partial\n"
            "from pathlib import Path\n\n"
            "from IPython.display import Markdown\n\n"
            "from scaling_bayes.evaluation import EvaluationResult, run_protocol\n"
            "from scaling_bayes.workflows import example_folds"
        ),
        new_code_cell(
            "root = Path.cwd().parent if Path.cwd().name == \"notebooks\" else Path.cwd()\n"
            "runs = sorted((root / \"benchmarks\" / \"results\").glob(\"**/predictions.csv\"),\n"
            f"              key=lambda p: (p.parent.name != {DEFAULT_RUN!r}, len(p.parts), str(p)))\n"
            "if runs:\n"
            "    result = EvaluationResult.from_dir(runs[0].parent)\n"
            "    print(f\"loaded the evaluation run in {runs[0].parent.relative_to(root)}\")\n"
            "else:\n"
            "    setup = example_setup()\n"
            "    folds = example_folds()\n"
            "    print(f\"running 1 fold: {folds[0].slug} ({len(folds[0].train_models)} training, \"\n"
            "          f\"{len(folds[0].test_models)} test models)\")\n"
            "    result = run_protocol(\n"
            "        partial(LatentSkillModel, n_skills=setup.n_skills),\n"
            "        folds=folds,\n"
            "        out_dir=example_cache_dir().parent / (\"evaluation_fast\" if setup.fast else \"evaluation\"),\n"
            "        scheduler=\"sync\",\n"
            "        sample_kwargs=setup.sample_kwargs,\n"
            "        overwrite=True,\n"
            "        progress=False,\n"
            "    )\n"
            "Markdown(result.summary_markdown())"
        ),
        new_markdown_cell(
            "## Accuracy per setting and benchmark\n\nFamily-macro MAE of our posterior means next to "
            "Sloth at its best number of skills, and the difference."
        ),
        new_code_cell("plots.plot_mae_heatmap(result)"),
        new_markdown_cell(
            "## Calibration\n\nEmpirical coverage of the central 50/80/90/95% predictive intervals "
            "on the held-out families. On the diagonal is calibrated; below it over-confident."
        ),
        new_code_cell("plots.plot_calibration(result)"),
        new_markdown_cell("## Sharpness\n\nHow wide the intervals are, next to the size of the errors."),
        new_code_cell("plots.plot_interval_width(result)"),
        new_markdown_cell("## Per model: how often we beat Sloth's best"),
        new_code_cell("result.win_rates"),
        new_markdown_cell(
            "## The stack of record\n\n"
            "`python benchmarks/stacking_protocol.py` mixes three forecasters: the latent-skill "
            "model at K=4 and at K=3 and the Bayesian FLOPs law. Each test group's weights, one "
            "set per benchmark, are learned by stacking on the *other* test groups' held-out log "
            "densities, never its own. Family-macro MAE (pp) next to Sloth's best K (chosen on "
            "the test error, an oracle) with the 90% group-bootstrap interval of the difference, "
            "pure-posterior 90% coverage, and the median weights."
        ),
        new_code_cell(
            f"stack_dir = root / \"benchmarks\" / \"results\" / {STACK_RUN!r}\n"
            "if (stack_dir / \"predictions.csv\").is_file():\n"
            "    stack = EvaluationResult.from_dir(stack_dir)\n"
            "    avg = stack.comparison.xs(\"Average\", level=\"benchmark\")\n"
            "    table = 100 * avg[[\"ours\", \"sloth_best\", \"difference_lower\", \"difference_upper\"]]\n"
            "    table[\"sloth_best_k\"] = avg[\"sloth_best_k\"]\n"
            "    table[\"coverage_90\"] = 100 * stack.metrics.xs(\"Average\", level=\"benchmark\")[\"coverage_90\"]\n"
            "    weights = pd.read_csv(stack_dir / \"stacking_weights.csv\")\n"
            "    shares = weights.filter(like=\"weight_\").columns\n"
            "    display(table.round(2))\n"
            "    display(weights.groupby([\"benchmark_set\", \"n_train_per_family\"])[list(shares)].median().round(2))\n"
            "else:\n"
            "    print(\"no stacked run saved; make one with: python benchmarks/stacking_protocol.py\")"
        ),
        new_markdown_cell(
            "## Where the forecasts fail: distance from the family's sizes\n\n"
            "How many times larger than its base family's largest training model (or smaller than "
            "its smallest) a test model is: its `family_size_ratio`, which `predict` also reports "
            "for every forecast (and warns beyond 10x). The stack of record's error and calibration "
            "by that distance, pooled over the six settings (pp and %; bias is mean − observed)."
        ),
        new_code_cell(
            "from scaling_bayes.evaluation import metrics_by_distance, prediction_size_ratios\n\n"
            "if (stack_dir / \"predictions.csv\").is_file():\n"
            "    preds = stack.predictions\n"
            "    if \"family_size_ratio\" not in preds.columns:  # a run written before the runner recorded it\n"
            "        preds = preds.assign(family_size_ratio=prediction_size_ratios(preds))\n"
            "    setting = preds[\"benchmark_set\"] + \" n=\" + preds[\"n_train_per_family\"].astype(str)\n"
            "    pooled = metrics_by_distance(preds.assign(test_group=setting + \" \" + preds[\"test_group\"],\n"
            "                                              benchmark_set=\"all six settings\", n_train_per_family=0))\n"
            "    shown = [\"mae_pooled\", \"bias_pooled\", \"crps_pooled\", \"coverage_90\", \"width_90\"]\n"
            "    display((100 * pooled[shown]).round(1).join(pooled[[\"n_rows\", \"n_models\"]]).droplevel([0, 1]))"
        ),
        new_markdown_cell(
            "## Families never seen (n = 0)\n\n"
            "An extension of the protocol (`scaling-bayes evaluate --n-train 0`): every model of a "
            "test group is held out, so a family is forecast from the population of families alone "
            "(*new family*), or from its base family's other variant lines (*new variant*, e.g. "
            "Falcon from Falcon-Instruct and Falcon-RW). Sloth cannot forecast these (its family "
            "intercepts need a model of the family), so only accuracy and calibration are shown, "
            "per forecast case."
        ),
        new_code_cell(
            f"unseen_dir = root / \"benchmarks\" / \"results\" / \"{UNSEEN_RUN}\"\n"
            "if (unseen_dir / \"predictions.csv\").is_file():\n"
            "    unseen = EvaluationResult.from_dir(unseen_dir)\n"
            "    cases = unseen.case_metrics\n"
            "    scores = [c for c in cases.columns if not c.startswith(\"n_\")]\n"
            "    display((100 * cases[scores]).round(1).join(cases.filter(like=\"n_\")))  # pp and %\n"
            "    display(plots.plot_calibration(unseen))\n"
            "else:\n"
            "    print(\"no n=0 run saved; make one with: scaling-bayes evaluate --n-train 0 \"\n"
            f"          \"--out benchmarks/results/{UNSEEN_RUN}\")"
        ),
    ]


def compute_optimal() -> list:
    return [
        new_markdown_cell(
            "# Compute-optimal model size\n\n"
            "For a training budget of *C* FLOPs, *C* = 6·*N*·*D* (*N* parameters, *D* tokens). "
            "Which split of the budget between model size and data gives the best benchmark "
            "performance? For every posterior draw we evaluate the target along the budget's "
            "iso-FLOP line and take the best split, so the answer is a posterior distribution.\n\n"
            "The search stays **inside the training data's range** of parameters and tokens: the "
            "translog surface is quadratic in the logs and is not to be trusted beyond the data. "
            "When the optimum lands on the edge of that range, the true optimum may lie outside it; "
            "the figures mark those budgets. The range is a box, and its corners pair sizes with "
            "token counts no training model has (a 150B model on 0.15T tokens, say, under one token "
            "per parameter, where the bundled models have at least ~2): an optimum there is an "
            "extrapolation in the tokens-per-parameter ratio, which is why several budgets' optima "
            "jump between corners below.\n\n" + FAST_NOTE
        ),
        new_code_cell(
            SETUP + "\n\nfrom scaling_bayes.compute_optimal import compute_optimal_split, data_box, summarize_split"
        ),
        new_code_cell(
            "model = example_model()\n"
            "(params_lo, params_hi), (tokens_lo, tokens_hi) = data_box(model)\n"
            "print(f\"data range: {params_lo:g}-{params_hi:g}B parameters, {tokens_lo:g}-{tokens_hi:g}T tokens\")"
        ),
        new_markdown_cell(
            "## Average score of a family never seen\n\nTarget: the latent mean score averaged over "
            "the benchmarks, for a new family (its effect drawn from the population of families). "
            "The table gives, per budget, the posterior median and 90% interval of the optimal "
            "parameters (billions), tokens (trillions) and tokens per parameter, and the share of "
            "draws whose optimum sits on the edge of the data range."
        ),
        new_code_cell(
            "split = compute_optimal_split(model, target=\"average\")\n"
            "summarize_split(split)[[\"budget_flops\", \"params_b_median\", \"params_b_lower\", \"params_b_upper\",\n"
            "                        \"tokens_per_param_median\", \"share_at_edge\"]]"
        ),
        new_code_cell("plots.plot_compute_optimal(model, split=split)"),
        new_markdown_cell(
            "## One skill\n\nThe skill anchored on the second anchor benchmark (mathematical "
            "reasoning in the default anchors). For a single skill, or a single benchmark, the "
            "optimal split does not depend on the family: family effects shift a skill by a "
            "constant, and the benchmark link is monotone."
        ),
        new_code_cell(
            "skill = str(model.posterior[\"skill\"].values[1])\n"
            "plots.plot_compute_optimal(model, target=f\"skill:{skill}\")"
        ),
    ]


NOTEBOOKS = {
    "01_quickstart.ipynb": quickstart,
    "02_skills_and_scaling.ipynb": skills_and_scaling,
    "03_evaluation.ipynb": evaluation,
    "04_compute_optimal.ipynb": compute_optimal,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOKS[name]())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 900) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    ).execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--execute", action="store_true", help="run each notebook and store its outputs")
    parser.add_argument("names", nargs="*", help=f"notebooks to write (default all: {', '.join(NOTEBOOKS)})")
    args = parser.parse_args(argv)
    for name in args.names or list(NOTEBOOKS):
        nb = build(name)
        if args.execute:
            execute(nb)
        nbformat.validate(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
