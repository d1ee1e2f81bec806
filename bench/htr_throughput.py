"""Benchmark: HTR training and transcription lines/s for a config.

The code lives in keyscribe.bench.htr_throughput (so that `keyscribe bench htr_throughput` works from an installed
package); this script runs it from a checkout: `.venv/bin/python bench/htr_throughput.py --help`.
"""

from keyscribe.bench.htr_throughput import main

if __name__ == "__main__":
    main()
