"""Benchmarks: each module measures one figure that docs/benchmarks.md reports."""
