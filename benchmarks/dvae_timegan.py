"""DVAESynthesizer on the TimeGAN protocol, through ``benchmarks/timegan_protocol.py``.

``dvae_factory`` is the factory to register there (``SYNTHESIZERS["DVAE"]``);
until it is registered, this script registers it at run time and runs the
protocol's own ``main`` with the same command-line options::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/dvae_timegan.py \\
        --reps 1 --datasets stocks --synthesizers DVAE

The windows are ``(n, 24, d)`` arrays scaled to [0, 1]; the DVAE reads them as
fixed-length sequences and samples as many (``sample(n)`` returns ``(n, 24, d)``).
Default settings: ``DVAESynthesizer(max_modes=1, random_state=seed)`` plus the
``--set`` overrides (e.g. ``--set epochs=50``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def dvae_factory(seed: int, overrides: dict[str, Any]) -> Any:
    """A DVAESynthesizer for the protocol: the seed, CPU, one mode per channel, overrides."""
    from tssynth.synthesizers.dvae import DVAESynthesizer

    params = {"max_modes": 1, "device": "cpu", **overrides}
    return DVAESynthesizer(random_state=seed, **params)


def main(argv: list[str] | None = None) -> None:
    import timegan_protocol

    timegan_protocol.SYNTHESIZERS.setdefault("DVAE", dvae_factory)
    timegan_protocol.main(argv)


if __name__ == "__main__":
    main()
