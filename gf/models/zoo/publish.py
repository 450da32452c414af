"""Publishing: a gf checkpoint becomes an entry of the user zoo file."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from gf.common.download import sha256sum
from gf.common.registry import registry
from gf.common.utils import PathLike
from gf.common.zoo_file import ZooError, update_zoo_file, user_zoo_file
from gf.models.zoo.entries import NAME_RULE, PART_RE, PretrainedEntry

__all__ = ["publish_checkpoint"]

logger = logging.getLogger("gf.models.zoo")


def publish_checkpoint(checkpoint_path: PathLike, name: str, url: Optional[str] = None,
                       zoo_file: Optional[PathLike] = None, reported: Optional[Mapping[str, Any]] = None,
                       notes: str = "") -> PretrainedEntry:
    """Make a zoo entry for a gf checkpoint and write it to the user zoo file (or ``zoo_file``).

    What the entry records, the defaults of ``url`` and ``reported``, and what is refused:
    README.md, "Publishing a checkpoint to the zoo". ``name`` may omit the ``<model>/`` prefix.
    """
    from gf.models.checkpoint import check_weights_hash, read_checkpoint

    if not isinstance(name, str) or not name or name.count("/") > 1 or not all(
            PART_RE.fullmatch(part) for part in name.split("/")):
        raise ZooError(f"cannot publish as {name!r}: a zoo name is '<tag>' or '<model>/<tag>' "
                       f"({NAME_RULE}), e.g. 'star_sup_run1'.")
    if "/" in name:
        _refuse_builtin_name(name)  # before the file is read
    path = Path(checkpoint_path).expanduser().resolve()
    loaded = read_checkpoint(path).require_gf("only gf checkpoints (which record their model config) are published")
    ckpt = loaded.content
    model_config = loaded.model_config
    if not model_config:
        raise ZooError(f"{path}: no extra.model_config in this checkpoint (it was not written by gf's runner); "
                       f"a zoo entry needs the exact model kwargs it was trained with.")
    model = loaded.model_name or "glance_focus"
    if not isinstance(model, str) or not PART_RE.fullmatch(model):
        raise ZooError(f"{path}: its config names model {model!r}, which cannot be a zoo model name "
                       f"({NAME_RULE}).")
    full_name = name if "/" in name else f"{model}/{name}"  # both parts passed PART_RE above
    if "/" not in name:
        _refuse_builtin_name(full_name)  # a bare tag's model is known only now; before hashing the weights and file
    check_weights_hash(loaded)
    config = dict(model_config)
    model_type = config.pop("model_type", None)
    dataset = loaded.extra.get("dataset")
    text_format = loaded.text_format
    if reported is not None:
        figures = dict(reported)
        figures.setdefault("source", f"given when publishing {path.name}")
    else:
        figures = _figures_in_checkpoint(path, ckpt)
    target = Path(zoo_file).expanduser() if zoo_file is not None else user_zoo_file()
    entry = PretrainedEntry(
        name=full_name, model=model, url=url or path.as_uri(), format="gf", model_type=model_type,
        sha256=sha256sum(path), config=config, benchmark=loaded.extra.get("benchmark"), reported=figures,
        filename=path.name, text_format=text_format,
        notes=notes or (f"published from {path} (gf {ckpt.get('gf_version')}, dataset {dataset}, "
                        f"epoch {int(ckpt.get('epoch', -1)) + 1}, step {ckpt.get('step')}, "
                        f"weights_sha256 {ckpt.get('weights_sha256')})"),
        origin=f"zoo file {target}",  # what its errors name (a bad url or figure)
    )
    entry.check_publishable()
    replaced = []

    def change(raw: Dict[str, Any]) -> None:
        # every entry of the file is checked as `gf zoo list` checks it: publishing rewrites
        # the file, so it never keeps, or replaces, an entry that gf would refuse to read
        existing = {key: PretrainedEntry.from_dict(rec, origin=entry.origin, name=key)
                    for key, rec in raw["entries"].items()}
        if full_name in existing:
            replaced.append(existing[full_name].sha256)
        raw["entries"][full_name] = entry.to_dict()
        raw["recorded_hashes"].pop(full_name, None)  # the entry pins its own hash now

    update_zoo_file(target, change)
    if replaced:
        logger.warning("zoo: replaced entry %s in %s (sha256 %s -> %s)", full_name, target, replaced[0], entry.sha256)
    logger.info("zoo: published %s -> %s in %s", full_name, entry.url, target)
    return entry


def _refuse_builtin_name(full_name: str) -> None:
    if full_name in registry.kind("pretrained").entries(dynamic=False):  # gf's and plugins', not the user files
        raise ZooError(f"cannot publish as {full_name!r}: a built-in entry has that name; choose another.")


def _figures_in_checkpoint(path: Path, ckpt: Mapping[str, Any]) -> Dict[str, Any]:
    best = ckpt.get("best_metric")
    if best is None:
        return {}
    run = (ckpt.get("config") or {}).get("run") or {}
    metric = run.get("best_metric", "best_metric")
    split = next(iter(run.get("valid_splits") or []), None)
    return {metric: best, "split": split,
            "source": f"best validation {metric}{f' on {split}' if split else ''} stored in {path.name} "
                      f"(epoch {int(ckpt.get('epoch', -1)) + 1}, step {ckpt.get('step')})"}
