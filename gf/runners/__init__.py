"""Runners (training / evaluation loops). Importing this package registers them."""
from gf.runners import runner_base  # noqa: F401
