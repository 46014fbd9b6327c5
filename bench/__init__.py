"""Benchmarks for Kiji's performance targets (`make bench`, or `python -m bench`).

Targets are reported as measurements and ratios against baselines measured in the same
run; they are never asserted in the test suite, because timings depend on the machine.
"""
