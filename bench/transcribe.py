"""Benchmark: whole-session sEMG transcription speed (network + decoding) as a real-time factor.

The code lives in keyscribe.bench.transcribe (so that `keyscribe bench transcribe` works from an
installed package); this script runs it from a checkout: `.venv/bin/python bench/transcribe.py --help`.
"""

from keyscribe.bench.transcribe import main

if __name__ == "__main__":
    main()
