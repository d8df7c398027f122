"""``python -m tssynth``: the command line, as the ``tssynth`` script runs it."""

import sys

from tssynth.cli import main

sys.exit(main())
