"""The benchmarks, one folder each: ``gf/benchmarks/<name>/``, so that adding a benchmark to
gf is adding a folder (a plugin package laid out the same way adds one from outside gf).
What a folder holds and how the registry finds it: README.md, "How gf is built" and
"Adding a benchmark".
"""
