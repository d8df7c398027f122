"""Model layer: torch modules and losses (no pandas here)."""

from tssynth.nn.layout import SpanLayout
from tssynth.nn.loss import gaussian_kl, span_nll, standard_normal_kl
from tssynth.nn.modules import Decoder, Encoder
from tssynth.nn.tvae import TVAE, LossTerms

__all__ = [
    "TVAE",
    "Decoder",
    "Encoder",
    "LossTerms",
    "SpanLayout",
    "gaussian_kl",
    "span_nll",
    "standard_normal_kl",
]
