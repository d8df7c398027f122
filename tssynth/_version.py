"""Library version."""

__version__ = "0.4.3"
