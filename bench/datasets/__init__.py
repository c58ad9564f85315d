"""Deterministic generators for the benchmarks: French medical correspondence and distinct PDF files.

Everything is derived from a seed, so a dataset of a given size and seed is the same on every run (the
figures of docs/benchmarks.md mean something) and a generated database can be recognised and reused.
"""
