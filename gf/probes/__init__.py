"""Temporal probes at evaluation time: how much of a score needs the video, and its order.

Multi-event VideoQA exists to test temporal reasoning, yet a model may answer order
questions from language priors or from a single frame. Evaluating one checkpoint on one
split twice -- as it is, and with its frames perturbed -- tells which. The probes, how to
run them and how to read the results: docs/probes.md.

* :mod:`gf.probes.frames`: the probes, their registry and the event-to-frame rule.
* :mod:`gf.probes.dataset`: :func:`apply_probe` on one sample, :class:`ProbedDataset` over
  a split, :func:`probe_coverage` (which questions a probe could not change) and
  :func:`coverage_warning` (what to say when it changed few or none).
* :mod:`gf.probes.compare`: :func:`flip_rate` and the paired test :func:`probe_test`.
"""
from gf.probes.compare import flip_rate, flipped_ids, probe_test
from gf.probes.dataset import (
    ProbedDataset,
    ProbeOutcome,
    apply_probe,
    coverage_warning,
    probe_coverage,
    probe_sample,
)
from gf.probes.frames import (
    PROBES,
    Probe,
    event_blocks,
    get_probe,
    probe_names,
    question_seed,
    register_probe,
    swap_order,
    swap_pair,
)

__all__ = [
    "PROBES",
    "Probe",
    "ProbeOutcome",
    "ProbedDataset",
    "apply_probe",
    "coverage_warning",
    "event_blocks",
    "flip_rate",
    "flipped_ids",
    "get_probe",
    "probe_coverage",
    "probe_names",
    "probe_sample",
    "probe_test",
    "question_seed",
    "register_probe",
    "swap_order",
    "swap_pair",
]
