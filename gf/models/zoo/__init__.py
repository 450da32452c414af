"""The model zoo: named pretrained checkpoints, where to get them, and how to build them.

Why a zoo rather than bare URLs: a checkpoint is useless without the exact model it was
trained as (variant, sizes, text encoder, the authors' or gf's file layout), and a
download is only trustworthy against a pinned sha256. An entry keeps all of that under
one name (``glance_focus/star_reference_authors``), so ``gf.load_model_and_preprocess(...,
pretrained=name)`` and ``gf evaluate --checkpoint zoo:name`` need nothing else.

One module per job: :mod:`~gf.models.zoo.entries` (what an entry is, registering and
looking one up), :mod:`~gf.models.zoo.fetch` (download, verification, checkpoint specs,
building the model) and :mod:`~gf.models.zoo.publish` (a gf checkpoint made an entry).
The user zoo file (published entries and recorded hashes, shared with the data bundles)
is :mod:`gf.common.zoo_file`; where it lives: README.md, "Publishing a checkpoint to the zoo".

Nothing here imports torch until a checkpoint is actually read or a model built.
"""
from gf.common.zoo_file import ZooError, record_first_use_hash, user_zoo_file, zoo_files
from gf.models.loading import FORMATS
from gf.models.zoo.entries import (PretrainedEntry, UnknownPretrainedError, get_pretrained,
                                   list_pretrained, pretrained_entries, register_pretrained, zoo_name_of)
from gf.models.zoo.fetch import (build_pretrained, cache_path_of, download_pretrained, load_pretrained, record_hash,
                                 resolve_checkpoint)
from gf.models.zoo.publish import publish_checkpoint

__all__ = [
    "FORMATS", "PretrainedEntry", "UnknownPretrainedError", "ZooError", "build_pretrained", "cache_path_of",
    "download_pretrained", "get_pretrained", "list_pretrained", "load_pretrained", "pretrained_entries",
    "publish_checkpoint", "record_first_use_hash", "record_hash", "register_pretrained", "resolve_checkpoint",
    "user_zoo_file", "zoo_files", "zoo_name_of",
]
