"""Entry point: `python bench/run.py --help` (or `bench/run`)."""

import sys

from regbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
