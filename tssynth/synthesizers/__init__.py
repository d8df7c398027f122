"""The estimators: one base, three synthesizers."""

from tssynth.synthesizers.dense import DenseVAESynthesizer
from tssynth.synthesizers.dvae import DVAESynthesizer
from tssynth.synthesizers.tvae import TVAESynthesizer

__all__ = ["DVAESynthesizer", "DenseVAESynthesizer", "TVAESynthesizer"]
