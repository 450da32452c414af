"""Answering questions about new videos with trained checkpoints (``gf predict``)."""
