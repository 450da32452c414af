"""The benchmarks, one folder each: ``gf/benchmarks/<name>/``.

A folder holds what gf knows about one benchmark: ``builder.py`` (its dataset builder,
whose ``DEFAULT_CONFIG`` is the benchmark's default config), ``converter.py`` (``gf prepare
<name>``, where the official release needs converting), ``evaluator.py`` (its official
metric and breakdowns) and ``models.py`` (its Glance-Focus model types: one function per
variant returning config overrides, ``@registry.register_model_type``). Its ``__init__.py``
imports them, which registers them. The registry imports every folder here on the first
lookup of a builder, converter, evaluator or model, so adding a benchmark to gf is adding
a folder; a plugin package laid out the same way adds one from outside gf (named under
``plugins:`` or ``--plugins``; tests/test_benchmark_folder.py). What benchmarks share stays
in :mod:`gf.datasets` and :mod:`gf.evaluation`.
"""
