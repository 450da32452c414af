"""Runners (training / evaluation loops). Importing this package registers them."""
