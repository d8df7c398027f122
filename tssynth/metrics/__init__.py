"""Metrics that compare synthetic data with real data."""

from tssynth.metrics.fidelity import FidelityReport, fidelity_report

__all__ = ["FidelityReport", "fidelity_report"]
