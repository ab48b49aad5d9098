"""Load: N simulated Bandwidth calls at once against a bot on 127.0.0.1, for S seconds.

    python benchmarks/load.py --calls 50 200 1000 --seconds 30 --write-docs   # the docs' figures
    python benchmarks/load.py --quick                                         # smoke: 3 calls, 4 s

Each round (one bot mode x N calls) runs in fresh processes on 127.0.0.1 only: this
process with the fake Voice API, one bot process, and caller processes; every round is
bounded in time and every child is stopped at the end. The code is the ``loadbench``
package next to this file (see its ``__init__``); docs/reliability.md explains the
figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
