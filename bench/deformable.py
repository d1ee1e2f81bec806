"""Benchmark: deformable vs standard convolution at the CRNN and 1D-LSTM layer shapes.

The code lives in keyscribe.bench.deformable (so that `keyscribe bench deformable` works from an installed
package); this script runs it from a checkout: `.venv/bin/python bench/deformable.py --help`.
"""

from keyscribe.bench.deformable import main

if __name__ == "__main__":
    main()
