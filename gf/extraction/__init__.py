"""Features from raw videos (``gf extract``): decode, sample frames or clips, run the
backbones, store the features where the builders read them.

Each module's docstring says its part; the recipe (``features.json``) is
:mod:`gf.datasets.feature_recipe`, since builders read it too.

Why nothing is imported here: ``gf.cli`` imports this package to add the command's
arguments, and ``gf extract --help`` must not load torch, timm or the decoders. The
entry points are :func:`gf.extraction.extract.extract` and
:func:`gf.extraction.verify.verify_features`.
"""
