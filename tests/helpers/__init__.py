"""Helpers the tests share (importable as ``helpers`` through pytest's ``pythonpath``)."""
