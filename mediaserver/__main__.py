"""``python -m mediaserver`` is the ``mediaserver`` command."""

import multiprocessing
import sys

from mediaserver.cli import main

if __name__ == "__main__":
    # In the single-file binary, probe workers are spawned from this same executable.
    multiprocessing.freeze_support()
    sys.exit(main())
