"""Exceptions raised by tssynth.

Every error that tssynth raises on purpose derives from :class:`TssynthError`, so a
caller can catch them all at once. The subclasses also derive from the matching
built-in exception (``ValueError``, ``RuntimeError``), so code written against
scikit-learn conventions keeps working. The one exception: using a model before
``fit`` raises scikit-learn's ``sklearn.exceptions.NotFittedError`` (a ``ValueError``
and ``AttributeError``), as every scikit-learn estimator does.
"""

from __future__ import annotations

import os
import sys

import sklearn


class TssynthError(Exception):
    """Base class of every error raised by tssynth."""


class InvalidParameterError(TssynthError, ValueError):
    """A constructor or method argument has a wrong type or value."""


class InvalidDataError(TssynthError, ValueError):
    """The data passed to ``fit``, ``transform`` or similar cannot be used."""


class GeneratorFileError(TssynthError, OSError):
    """A generator file is missing, damaged, truncated, foreign or too new."""


class TrainingError(TssynthError, RuntimeError):
    """Training diverged or could not proceed."""


class PrivacyWarning(UserWarning):
    """A differentially private estimate is dominated by its noise (too little data or budget)."""


class DataWarning(UserWarning):
    """A column will train badly or leak: an identifier, or a very wide categorical column."""


# with a trailing separator: a user's tssynth_examples/ folder is not tssynth/
_INTERNAL = tuple(os.path.join(os.path.dirname(f), "") for f in (__file__, sklearn.__file__))


def caller_stacklevel() -> int:
    """The ``stacklevel`` of a warning raised by the calling function that points at
    the first frame outside tssynth (and scikit-learn's wrappers around its methods):
    the user's line, however deep inside the library the warning is raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    return level
