"""Benchmark: greedy vs beam vs beam+LM: CER, frames/s, real-time factor.

The code lives in keyscribe.bench.decode (so that `keyscribe bench decode` works from an installed
package); this script runs it from a checkout: `.venv/bin/python bench/decode.py --help`.
"""

from keyscribe.bench.decode import main

if __name__ == "__main__":
    main()
