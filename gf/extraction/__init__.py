"""Frame features from raw videos (``gf extract``): decode, sample, run a timm backbone,
store the features where the builders read them.

Modules: :mod:`~gf.extraction.sources` (videos and question windows -> keys),
:mod:`~gf.extraction.decode` (decord with a PyAV fallback, frame sampling, time limit),
:mod:`~gf.extraction.backbone` (timm model and its own preprocessing),
:mod:`~gf.extraction.writers` (webdataset / pth / HDF5 / npy, resumable),
:mod:`~gf.datasets.feature_recipe` (``features.json``), :mod:`~gf.extraction.extract` (the run),
:mod:`~gf.extraction.verify` (comparison with a reference), :mod:`~gf.extraction.shards` and
:mod:`~gf.extraction.merge` (one run spread over a job array: ``--shard I/N``, ``--merge``),
:mod:`~gf.extraction.cli`.

Why nothing is imported here: ``gf.cli`` imports this package to add the command's
arguments, and ``gf --help`` must not load torch, timm or the decoders. The entry points
are :func:`gf.extraction.extract.extract` and :func:`gf.extraction.verify.verify_features`.
"""
