"""mcproxy's benchmarks: the DESIGN.md performance figures, each against its baseline.

Run ``python -m bench`` (or ``--quick``) from the repository root; see docs/performance.md.
"""
