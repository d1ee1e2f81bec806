"""Benchmark: packed vs per-layer RecurrentEncoder on CPU (forward+backward milliseconds).

The code lives in keyscribe.bench.rnn_paths (so that `keyscribe bench rnn_paths` works from an
installed package); this script runs it from a checkout: `.venv/bin/python bench/rnn_paths.py --help`.
"""

from keyscribe.bench.rnn_paths import main

if __name__ == "__main__":
    main()
