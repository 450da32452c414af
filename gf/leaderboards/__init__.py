"""Batch evaluation leaderboards."""
