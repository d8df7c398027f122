"""The estimators: one base, three synthesizers."""

from tssynth.synthesizers.tvae import TVAESynthesizer

__all__ = ["TVAESynthesizer"]
