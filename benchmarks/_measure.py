"""Small measurement helpers for the benchmarks: wall-clock timing and peak RSS.

Peak memory is measured by a background thread that reads ``VmRSS`` from
``/proc/self/status`` every few milliseconds (Linux only). Because several
models run in the same process, callers record a baseline RSS just before a
model starts and report each phase's peak *above that baseline*.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_STATUS_PATH = Path("/proc/self/status")
_KIB = 1024
_MIB = 1024 * 1024


def read_rss_bytes() -> int:
    """Return the current resident set size of this process.

    Returns
    -------
    int
        ``VmRSS`` from ``/proc/self/status`` in bytes.

    Raises
    ------
    RuntimeError
        If ``VmRSS`` cannot be found (e.g. not running on Linux).
    """
    with _STATUS_PATH.open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                # Format: "VmRSS:\t  123456 kB"
                return int(line.split()[1]) * _KIB
    raise RuntimeError("VmRSS not found in /proc/self/status")


def release_memory() -> None:
    """Run the garbage collector and hand freed heap pages back to the OS.

    ``malloc_trim(0)`` (glibc only) is called after ``gc.collect()`` so that a
    model measured later in the same process does not start from an inflated
    RSS baseline made of freed-but-retained allocator pages.
    """
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    try:
        libc = ctypes.CDLL(libc_name)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSSSampler:
    """Sample ``VmRSS`` in a daemon thread and keep the maximum seen.

    Parameters
    ----------
    interval_s : float, default 0.005
        Time between two samples, in seconds.

    Notes
    -----
    Sampling can miss a spike shorter than ``interval_s``; the peak is also
    sampled once on :meth:`start` and once on :meth:`stop`.
    """

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample_once(self) -> None:
        self.peak_bytes = max(self.peak_bytes, read_rss_bytes())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample_once()

    def start(self) -> None:
        """Start sampling in the background."""
        self._stop.clear()
        self._sample_once()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling.

        Returns
        -------
        int
            Peak RSS observed since :meth:`start`, in bytes.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._sample_once()
        return self.peak_bytes


@dataclass
class PhaseResult:
    """Wall time and peak memory of one measured phase.

    Attributes
    ----------
    seconds : float
        Elapsed wall-clock time from ``time.perf_counter()``.
    peak_rss_bytes : int
        Highest sampled RSS during the phase, in bytes (absolute).
    baseline_rss_bytes : int
        RSS baseline the phase is compared against, in bytes.
    """

    seconds: float = float("nan")
    peak_rss_bytes: int = 0
    baseline_rss_bytes: int = 0

    @property
    def peak_above_baseline_mib(self) -> float:
        """Peak RSS above the baseline, in MiB (never negative)."""
        return max(self.peak_rss_bytes - self.baseline_rss_bytes, 0) / _MIB


@contextmanager
def measure_phase(baseline_rss_bytes: int, interval_s: float = 0.005) -> Iterator[PhaseResult]:
    """Time a block and record its peak RSS.

    Parameters
    ----------
    baseline_rss_bytes : int
        RSS to subtract when reporting the peak (typically taken just before
        the model under test was created).
    interval_s : float, default 0.005
        Sampling interval of the RSS thread, in seconds.

    Yields
    ------
    PhaseResult
        Filled in when the block exits.
    """
    result = PhaseResult(baseline_rss_bytes=baseline_rss_bytes)
    sampler = PeakRSSSampler(interval_s=interval_s)
    sampler.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        result.peak_rss_bytes = sampler.stop()
