"""WORKDIR/eval/report.md: the run's results as one readable Markdown page.

Sections: the run (method, dataset, step, git commit, device), the metrics table with one-line
definitions, metrics that were skipped and why, the figures embedded, evaluation timings, and the
resolved config as a code block.
"""

from __future__ import annotations

import json
import os

import jax

from mi_vae.evaluation.metrics import definition
from mi_vae.io import git_commit, write_text_atomic


def device_description() -> str:
    """e.g. ``"cpu x 1"`` or ``"NVIDIA H100 80GB HBM3 x 8"`` (kind of device 0, global device count)."""
    devices = jax.devices()
    return f"{devices[0].device_kind} x {len(devices)} ({devices[0].platform})"


def _format(value) -> str:
    if value is None:
        return "n/a (non-finite)"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:.4f}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (pipes escaped)."""
    return text.replace("|", "\\|")


def write_report(path: str, *, metrics: dict, skipped: dict[str, str], figures: list[str], config,
                 step: int, timings: dict[str, float] | None = None, extra: dict[str, str] | None = None,
                 settings: dict | None = None, title: str | None = None,
                 sections: dict[str, list[str]] | None = None) -> str:
    """Write the Markdown report to ``path`` and return it.

    Args:
      metrics: metric key -> value (float, int or None for non-finite).
      skipped: metric or figure name -> one-line reason it was not computed.
      figures: PNG paths (embedded by their path relative to the report).
      config: the run's ConfigDict.
      step: the evaluated checkpoint's step.
      timings: phase -> seconds.
      extra: more rows for the run's table (name -> text).
      sections: more Markdown sections after the figures (heading -> lines), e.g. text reconstructions.
      settings: the resolved evaluation settings (config.eval with defaults).
    """
    directory = os.path.dirname(os.path.abspath(path))
    method, dataset = config.method.name, config.get("dataset", "?")
    title = title or f"Evaluation: {method} on {dataset}"
    lines = [
        f"# {title}",
        "",
        "| | |",
        "|---|---|",
        f"| method | `{method}` |",
        f"| dataset | `{dataset}` |",
        f"| step | {step} |",
        f"| git commit | `{git_commit()}` |",
        f"| device | {device_description()} |",
        *[f"| {k} | {v} |" for k, v in (extra or {}).items()],
        "",
        "## Metrics",
        "",
        "| metric | value | definition |",
        "|---|---:|---|",
    ]
    for key, value in metrics.items():
        lines.append(f"| `{key}` | {_format(value)} | {_cell(definition(key))} |")
    if skipped:
        lines += ["", "## Not computed", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in skipped.items()]
    if figures:
        lines += ["", "## Figures", ""]
        for fig in figures:
            rel = os.path.relpath(fig, directory)
            name = os.path.splitext(os.path.basename(fig))[0].replace("_", " ")
            lines += [f"### {name}", "", f"![{name}]({rel})", ""]
    for heading, body in (sections or {}).items():
        lines += ["", f"## {heading}", "", *body, ""]
    if timings:
        lines += ["", "## Evaluation time", "", "| phase | seconds |", "|---|---:|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    if settings:
        lines += ["", "## Evaluation settings", "", "```json",
                  json.dumps(settings, indent=2, sort_keys=True, default=str), "```"]
    config_text = json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)
    lines += ["", "## Config", "", "```json", config_text, "```", ""]
    write_text_atomic(path, "\n".join(lines))
    return path


__all__ = ["device_description", "git_commit", "write_report"]
