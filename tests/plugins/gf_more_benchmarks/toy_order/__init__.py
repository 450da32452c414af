"""Toy order: a benchmark added from outside gf as one folder (tests/test_benchmark_folder.py).

Each clip shows two events; the question asks which came first or last, with the two
events as the options. Metric: accuracy, broken down by the word asked (first / last).
Data: a toy release the test generates, converted by ``gf prepare toy_order`` (:mod:`.converter`)
into the layout the builder's ``DEFAULT_CONFIG`` names.
"""
from . import builder, converter, evaluator, models  # noqa: F401  (they register)
