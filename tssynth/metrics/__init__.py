"""Metrics that compare synthetic data with real data: fidelity, utility, privacy, temporal.

``evaluate(real, synthetic, holdout=..., target=...)`` runs whichever apply and
returns an :class:`EvaluationResult` (``to_dict()``, ``to_frame()``,
``save_html(path)``), with a privacy verdict in ``result.privacy.verdict``; the
per-metric functions are exported as well.
"""

from tssynth.metrics.evaluate import EvaluationResult, TemporalReport, evaluate
from tssynth.metrics.fidelity import FidelityReport, fidelity_report
from tssynth.metrics.privacy import (
    EncodedRows,
    MembershipInference,
    PrivacyReport,
    PrivacyVerdict,
    RowEncoder,
    distance_summary,
    exact_copies,
    membership_inference,
    nearest_neighbours,
    nndr,
    privacy_report,
    privacy_verdict,
    share_closer_to_train,
)
from tssynth.metrics.temporal import discriminative_score, predictive_score
from tssynth.metrics.utility import UtilityReport, utility_report

__all__ = [
    "EncodedRows",
    "EvaluationResult",
    "FidelityReport",
    "MembershipInference",
    "PrivacyReport",
    "PrivacyVerdict",
    "RowEncoder",
    "TemporalReport",
    "UtilityReport",
    "discriminative_score",
    "distance_summary",
    "evaluate",
    "exact_copies",
    "fidelity_report",
    "membership_inference",
    "nearest_neighbours",
    "nndr",
    "predictive_score",
    "privacy_report",
    "privacy_verdict",
    "share_closer_to_train",
    "utility_report",
]
