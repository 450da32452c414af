"""A user's package of benchmarks, laid out like ``gf/benchmarks/``: one folder each."""
