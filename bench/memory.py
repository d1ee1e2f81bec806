"""Benchmark: peak memory of inspecting and transcribing a long sEMG session.

The code lives in keyscribe.bench.memory (so that `keyscribe bench memory` works from an installed
package); this script runs it from a checkout: `.venv/bin/python bench/memory.py --help`.
"""

from keyscribe.bench.memory import main

if __name__ == "__main__":
    main()
