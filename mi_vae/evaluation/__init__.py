"""Evaluation of a trained run: evaluators, MI estimators, figures and the report (the WORKDIR/eval/ contract).

``evaluate(config, workdir, method=None, state=None, dataset=None) -> dict`` runs the evaluators of
``config.evals`` (``evaluators``: one module per metric family) and writes WORKDIR/eval/metrics.json,
WORKDIR/eval/*.png, WORKDIR/eval/report.md and one {"step", "split": "eval", ...} row of
WORKDIR/metrics.jsonl.

``mi`` estimates mutual information from paired samples (critic bounds, the aggregate-posterior
bound); ``metrics`` holds the other metric definitions as pure functions of arrays; ``figures``
draws PNGs from arrays; ``report`` writes the Markdown page.
"""

from mi_vae.evaluation import figures, metrics, mi, report
from mi_vae.evaluation.evaluators import Skip
from mi_vae.evaluation.runner import evaluate, restore

__all__ = ["Skip", "evaluate", "figures", "metrics", "mi", "report", "restore"]
