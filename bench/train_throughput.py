"""Benchmark: sEMG encoders: training frames/s; TDSConv vs the 2-D reference.

The code lives in keyscribe.bench.train_throughput (so that `keyscribe bench train_throughput` works from an installed
package); this script runs it from a checkout: `.venv/bin/python bench/train_throughput.py --help`.
"""

from keyscribe.bench.train_throughput import main

if __name__ == "__main__":
    main()
