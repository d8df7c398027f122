"""How much memory this machine has, for checks made before a large array is built."""

from __future__ import annotations

import os

_MEMORY_SHARE = 0.5  # largest share of the machine's memory one model array may take


def _physical_memory() -> int | None:
    """Bytes of memory of this machine, or None where the OS does not tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def fits_in_memory(n_bytes: float) -> bool:
    """Whether one array of ``n_bytes`` fits in this machine's memory.

    Parameters
    ----------
    n_bytes : float

    Returns
    -------
    bool
        True when it takes at most half of the physical memory, or when the OS
        does not tell how much there is.
    """
    return n_bytes <= memory_budget()


def memory_budget() -> float:
    """Bytes one array may take: half the physical memory (infinite where the OS does
    not tell)."""
    memory = _physical_memory()
    return float("inf") if memory is None else _MEMORY_SHARE * memory


def shown_bytes(n_bytes: float) -> str:
    """A size for a message: ``"18.5 GiB"``, ``"740 MiB"``, ``"12 KiB"``."""
    for unit, size, digits in (("GiB", 2**30, 1), ("MiB", 2**20, 0)):
        if n_bytes >= size:
            return f"{n_bytes / size:,.{digits}f} {unit}"
    return f"{n_bytes / 2**10:,.0f} KiB"
