"""Library version."""

__version__ = "0.7.0"
