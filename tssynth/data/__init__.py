"""Data layer: reversible transforms between user data and model arrays (no torch here)."""

from tssynth.data.schema import ColumnSpec, check_frame, infer_schema
from tssynth.data.spans import GAUSSIAN, SOFTMAX, Span
from tssynth.data.transformer import DataTransformer

__all__ = [
    "GAUSSIAN",
    "SOFTMAX",
    "ColumnSpec",
    "DataTransformer",
    "Span",
    "check_frame",
    "infer_schema",
]
