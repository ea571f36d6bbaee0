"""Evaluators: one small module per metric family, chosen by ``config.evals`` (see ``common``).

    elbo, iwae, active_units, mi, prior_match, probe, clusters, achieved_mi, text, generation, fid, figures
"""

from mi_vae.evaluation.evaluators.common import (
    EVALUATORS,
    EvalData,
    Figure,
    Note,
    Section,
    Skip,
    Skipped,
    data_settings,
    from_config,
)

__all__ = ["EVALUATORS", "EvalData", "Figure", "Note", "Section", "Skip", "Skipped",
           "data_settings", "from_config"]
