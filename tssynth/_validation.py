"""Checks of constructor and method arguments, each naming the argument it rejects."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tssynth.exceptions import InvalidParameterError


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidParameterError(
            f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})."
        )
    if value < minimum:
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` must be True or False (numpy bools accepted)."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidParameterError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_float(name: str, value: Any, minimum: float = 0.0, *, inclusive: bool = True) -> float:
    """``value`` as a finite float >= (or >) ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    too_small = value < minimum if inclusive else value <= minimum
    if too_small or value != value or value in (float("inf"), float("-inf")):
        bound = ">=" if inclusive else ">"
        raise InvalidParameterError(
            f"{name} must be a finite number {bound} {minimum}, got {value}."
        )
    return value


def check_dims(name: str, value: Any) -> tuple[int, ...]:
    """A sequence of positive layer widths, e.g. ``(128, 128)``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        raise InvalidParameterError(
            f"{name} must be a sequence of layer widths such as ({value},)."
        )
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidParameterError(
            f"{name} must be a sequence of positive integers such as (128, 128), got {value!r}."
        )
    return tuple(check_int(f"{name}[{i}]", width) for i, width in enumerate(value))


def check_random_state(value: Any) -> int | None:
    """``random_state`` must be None or a non-negative integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidParameterError(
            f"random_state must be None or a non-negative integer, got {value!r}."
        )
    return int(value)


def check_filepath(name: str, value: Any, required: bool = False) -> None:
    """A path-like, or None unless ``required``."""
    if (value is None and required) or (
        value is not None and not isinstance(value, str | os.PathLike)
    ):
        accepted = "a file path" if required else "None or a file path"
        raise InvalidParameterError(f"{name} must be {accepted}, got {value!r}.")


def resolve_device(value: Any) -> torch.device:
    """Turn ``device`` ("auto", "cpu", "cuda", "cuda:1", "mps" or a torch.device) into a device."""
    if isinstance(value, str) and value == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise InvalidParameterError(
            "device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, "
            f"got {value!r}."
        ) from exc
    if device.type not in ("cpu", "cuda", "mps"):  # meta, xla, xpu ...: untested here
        raise InvalidParameterError(
            f"device={value!r} is a {device.type!r} device; tssynth trains on 'cpu', 'cuda' "
            "or 'mps' (or 'auto')."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidParameterError(
            f"device={value!r} but CUDA is not available on this machine; "
            "use device='cpu' or 'auto'."
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidParameterError(
            f"device={value!r} but MPS is not available on this machine; "
            "use device='cpu' or 'auto'."
        )
    return device


def check_n_samples(name: str, value: Any) -> int:
    """A non-negative integer count of samples."""
    return check_int(name, value, minimum=0)


def shown(value: Any) -> str:
    """``repr`` of a value for a message: numpy scalars as the plain values they hold
    (``1000000``, not ``np.int64(1000000)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)
