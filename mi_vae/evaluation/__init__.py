"""Evaluation of a trained run: metrics, figures and the report (the WORKDIR/eval/ contract).

``evaluate(config, workdir, method=None, state=None, dataset=None) -> dict`` computes every
metric that applies to the run and writes WORKDIR/eval/metrics.json, WORKDIR/eval/*.png,
WORKDIR/eval/report.md and one {"step", "split": "eval", ...} row of WORKDIR/metrics.jsonl.
Settings come from ``config.eval`` (see ``runner.EVAL_DEFAULTS`` for keys and defaults).

``metrics`` holds the metric definitions as pure functions of arrays; ``figures`` draws PNGs
from arrays; ``report`` writes the Markdown page.
"""

from mi_vae.evaluation import figures, metrics, report
from mi_vae.evaluation.runner import EVAL_DEFAULTS, Skip, eval_settings, evaluate, restore

__all__ = ["EVAL_DEFAULTS", "Skip", "eval_settings", "evaluate", "figures", "metrics", "report", "restore"]
