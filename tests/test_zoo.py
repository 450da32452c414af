"""The model zoo: entries, user zoo files, verified downloads, trust-on-first-use hashes,
publishing gf checkpoints and loading the authors' format (local servers only, no network)."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import pytest
import torch

from conftest import REFERENCE, TINY_TEXT_ENCODER
from helpers_http import LocalHTTPServer, ServedFile, server  # noqa: F401 (server: a fixture)

from gf.common.archives import ArchiveError
from gf.common.download import ChecksumError, OfflineError, gdrive_file_id, sha256sum
from gf.common.errors import CheckpointError
from gf.models import zoo
from gf.models.glance_focus import GlanceFocus
from gf.models.checkpoint import save_checkpoint

TINY = dict(d_model=32, nhead=4, dim_feedforward=64, num_queries=5, feature_dim=12, max_feats=16,
            event_pred_dim=7, dropout=0.0, resizer_dropout=0.0, text_encoder=TINY_TEXT_ENCODER)
AUTHORS_CASE = REFERENCE / "star_mc"


@pytest.fixture(autouse=True)
def isolated_zoo(isolated_cache):
    """The zoo file inside the isolated cache (see conftest.isolated_cache)."""
    return isolated_cache / "zoo.json"


def make_checkpoint(path: Path, seed: int = 0) -> GlanceFocus:
    torch.manual_seed(seed)
    model_config = dict(TINY, model_type="star_sup")
    model = GlanceFocus.from_config(model_config).eval()
    save_checkpoint(path, model_state=model.state_dict(),
                    config={"model": {"name": "glance_focus", **model_config},
                            "datasets": {"synthetic_star": {"text_format": "{question} {option}"}},
                            "run": {"best_metric": "mean", "valid_splits": ["val"]}},
                    epoch=2, step=30, best_metric=0.625,
                    extra={"benchmark": "star", "dataset": "synthetic_star", "model_config": model_config})
    return model


def legacy_checkpoint(seed: int) -> bytes:
    """A tiny checkpoint in torch's legacy (non-zip) format: what an unpinned entry may serve."""
    import io

    buf = io.BytesIO()
    torch.save({"w": torch.full((256,), float(seed))}, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def write_zoo(path: Path, entries=None, hashes=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": "gf-zoo", "version": 1, "entries": entries or {},
                                "recorded_hashes": hashes or {}}))


def files_under(root: Path):
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")) if root.exists() else []


# ------------------------------------------------------------------ built-in entries and lookup


def test_builtin_authors_star_entry_is_listed_but_never_downloaded(tmp_path):
    name = "glance_focus/star_reference_authors"
    assert name in zoo.list_pretrained() and name in zoo.list_pretrained("glance_focus")
    assert zoo.list_pretrained("other_model") == []
    entry = zoo.get_pretrained(name)
    assert entry.format == "authors" and entry.model_type == "star_reference" and entry.benchmark == "star"
    assert entry.config["text_encoder"] == "roberta-base"
    assert gdrive_file_id(entry.url) == "1oZHqHQI9rUCpKIwJQvVQf4sNyeu1E_Du"
    assert entry.sha256 is None and "not yet known" in entry.notes and "record_hash" in entry.notes
    assert not entry.reported or "source" in entry.reported
    assert zoo.get_pretrained("star_reference_authors") == entry  # the bare tag, when unambiguous
    assert zoo.get_pretrained("zoo:" + name) == entry
    assert not (tmp_path / "cache").exists()  # looking up neither downloads nor writes


def test_unknown_name_lists_close_matches():
    with pytest.raises(zoo.UnknownPretrainedError) as err:
        zoo.get_pretrained("glance_focus/star_reference_author")
    message = str(err.value)
    assert "Did you mean" in message and "'glance_focus/star_reference_authors'" in message
    assert "zoo.json" in message  # says where user entries are read from


def test_zoo_entries_are_the_registry_kind_pretrained(isolated_zoo, monkeypatch):
    from gf.common.errors import DataFileError, RegistryError
    from gf.common.registry import registry

    builtin = "glance_focus/star_reference_authors"
    write_zoo(isolated_zoo, {"glance_focus/lab": {"model": "glance_focus", "url": "file:///lab.pth"}},
              hashes={builtin: {"sha256": "ab" * 32, "url": zoo.get_pretrained(builtin).url}})
    assert registry.list("pretrained") == zoo.list_pretrained() == ["glance_focus/lab", builtin]
    assert registry.list("pretrained", "lab") == ["glance_focus/lab"]
    assert registry.get("pretrained", "glance_focus/lab") == zoo.get_pretrained("glance_focus/lab")
    # the registry hands out the entry with its recorded hash, as the zoo does
    assert registry.get("pretrained", builtin).sha256 == "ab" * 32 == zoo.get_pretrained(builtin).sha256
    with pytest.raises(RegistryError, match=r"Did you mean: 'glance_focus/lab'"):
        registry.get("pretrained", "glance_focus/lba")
    assert issubclass(zoo.UnknownPretrainedError, RegistryError) and issubclass(zoo.ZooError, DataFileError)

    # a plugin's entry joins the same kind; an equal one again is a no-op, another is refused
    reg = registry.kind("pretrained")
    monkeypatch.setattr(reg, "_objects", dict(reg.entries(dynamic=False)))  # restored after the test
    plugin = zoo.PretrainedEntry(name="glance_focus/plugin", model="glance_focus", url="https://example.org/p.pth",
                                 sha256="cd" * 32, origin="plugin test")
    assert zoo.register_pretrained(plugin) is plugin
    assert zoo.register_pretrained(dataclasses.replace(plugin)) is plugin
    assert "glance_focus/plugin" in registry.list("pretrained") and zoo.get_pretrained("plugin") == plugin
    with pytest.raises(zoo.ZooError, match="already registered"):
        zoo.register_pretrained(dataclasses.replace(plugin, url="https://example.org/other.pth"))
    write_zoo(isolated_zoo, {"glance_focus/plugin": {"model": "glance_focus", "url": "file:///x"}})
    with pytest.raises(zoo.ZooError, match="name of a built-in entry"):
        registry.list("pretrained")


# ------------------------------------------------------------------ user zoo files


def test_lookups_read_the_zoo_files_once_per_change(isolated_zoo, caplog, capsys):
    """Every lookup runs the kind's hook; its entries are rebuilt (and a stale record warned
    about) only when a zoo file changed, yet an edited file is seen at the next lookup."""
    from gf.common.registry import registry
    from gf.datasets.data_entries import get_data, list_data
    from gf.models import zoo_cli

    builtin = "glance_focus/star_reference_authors"
    stale = {"sha256": "ab" * 32, "url": "https://old.example/m.tar"}  # recorded for the entry's old URL
    write_zoo(isolated_zoo, hashes={builtin: stale, "data:star": stale})
    with caplog.at_level(logging.WARNING, logger="gf.models.zoo"):
        for _ in range(3):
            assert zoo.get_pretrained(builtin).sha256 is None and builtin in registry.kind("pretrained")
            assert zoo.zoo_name_of("zoo:" + builtin) == builtin and builtin in zoo.list_pretrained()
            assert get_data("star").sha256 is None and list_data()
        zoo_cli.run(argparse.Namespace(zoo_command="list", model=None))
    assert builtin in capsys.readouterr().out
    warned = [r.getMessage() for r in caplog.records if "recorded in" in r.getMessage()]
    assert len(warned) == 2 and any(builtin in w for w in warned) and any("data:star" in w for w in warned)

    # an edited file is seen at once: a new entry, and the record now for the entry's URL
    write_zoo(isolated_zoo, {"glance_focus/lab": {"model": "glance_focus", "url": "file:///lab.pth"}},
              hashes={builtin: dict(stale, url=zoo.get_pretrained(builtin).url)})
    assert zoo.get_pretrained("glance_focus/lab").url == "file:///lab.pth"
    assert zoo.get_pretrained(builtin).sha256 == "ab" * 32
    isolated_zoo.unlink()
    assert zoo.list_pretrained() == [builtin] and zoo.get_pretrained(builtin).sha256 is None



def test_bad_zoo_files_are_errors_naming_file_entry_and_key(isolated_zoo):
    isolated_zoo.parent.mkdir(parents=True)
    isolated_zoo.write_text('{"entries": {\n  "glance_focus/x": }')
    with pytest.raises(zoo.ZooError, match=r"zoo\.json: invalid JSON at line 2"):
        zoo.list_pretrained()
    write_zoo(isolated_zoo, {"glance_focus/x": {"model": "glance_focus", "url": "file:///x.pth", "sha": "00"}})
    with pytest.raises(zoo.ZooError) as err:
        zoo.get_pretrained("glance_focus/x")
    assert str(isolated_zoo) in str(err.value) and "'glance_focus/x'" in str(err.value)
    assert "'sha' (did you mean 'sha256'?)" in str(err.value)
    write_zoo(isolated_zoo, {"glance_focus/star_reference_authors": {"model": "glance_focus", "url": "file:///x"}})
    with pytest.raises(zoo.ZooError, match="name of a built-in entry"):
        zoo.list_pretrained()
    write_zoo(isolated_zoo, {"glance_focus/y": {"model": "glance_focus", "url": "file:///y", "format": "onnx"}})
    with pytest.raises(zoo.ZooError, match="format must be one of"):
        zoo.list_pretrained()


def test_a_zoo_file_not_utf8_is_a_one_line_error_naming_it(isolated_zoo, capsys):
    from gf.cli import main as gf_main

    isolated_zoo.parent.mkdir(parents=True)
    isolated_zoo.write_bytes(b"\xff\xfe{")
    with pytest.raises(zoo.ZooError, match=r"zoo\.json:1: zoo file is not UTF-8 \(byte 0xff"):
        zoo.list_pretrained()
    assert gf_main(["zoo", "list"]) == 3
    err = capsys.readouterr().err
    assert str(isolated_zoo) in err and "not UTF-8" in err and "Traceback" not in err


def test_a_name_written_twice_in_a_zoo_file_is_refused_not_reduced_to_the_last(isolated_zoo, capsys):
    from gf.cli import main as gf_main

    isolated_zoo.parent.mkdir(parents=True)
    first = '{"model": "glance_focus", "url": "file:///run1.pth"}'
    second = '{"model": "glance_focus", "url": "file:///run1.pth", "sha256": "%s"}' % ("0" * 64)
    isolated_zoo.write_text('{"format": "gf-zoo", "version": 1, "entries": {\n'
                            f'  "glance_focus/run1": {first},\n  "glance_focus/run1": {second}}}}}')
    with pytest.raises(zoo.ZooError, match=r"zoo\.json: the key 'glance_focus/run1' appears twice"):
        zoo.list_pretrained()
    assert gf_main(["zoo", "list"]) == 3
    assert "'glance_focus/run1' appears twice" in capsys.readouterr().err
    isolated_zoo.write_text('{"entries": {"glance_focus/run1": {"model": "glance_focus", "url": "file:///a", '
                            '"url": "file:///b"}}}')  # inside an entry too
    with pytest.raises(zoo.ZooError, match="the key 'url' appears twice"):
        zoo.list_pretrained()


def test_gf_zoo_lists_several_files_and_the_first_is_written(tmp_path, monkeypatch):
    first, second = tmp_path / "mine.json", tmp_path / "lab.json"
    write_zoo(second, {"glance_focus/lab": {"model": "glance_focus", "url": "file:///lab.pth"}})
    monkeypatch.setenv("GF_ZOO", f"{first}:{second}")
    assert zoo.zoo_files() == [first, second] and zoo.user_zoo_file() == first
    assert "glance_focus/lab" in zoo.list_pretrained()
    ckpt = tmp_path / "run" / "checkpoint_best.pth"
    make_checkpoint(ckpt)
    zoo.publish_checkpoint(ckpt, "mine")
    assert "glance_focus/mine" in json.loads(first.read_text())["entries"]
    assert "glance_focus/mine" not in json.loads(second.read_text())["entries"]
    assert {"glance_focus/mine", "glance_focus/lab"} <= set(zoo.list_pretrained())


# ------------------------------------------------------------------ publishing


def test_publish_records_model_kwargs_hash_and_figures(tmp_path, isolated_zoo):
    ckpt = tmp_path / "run" / "checkpoint_best.pth"
    make_checkpoint(ckpt)
    entry = zoo.publish_checkpoint(ckpt, "star_tiny")
    assert entry.name == "glance_focus/star_tiny" and entry.model == "glance_focus" and entry.format == "gf"
    assert entry.model_type == "star_sup" and entry.config == TINY  # exact kwargs, variant apart
    assert entry.sha256 == sha256sum(ckpt) and entry.url == ckpt.resolve().as_uri()
    assert entry.benchmark == "star" and entry.text_format == "{question} {option}"
    assert entry.reported["mean"] == 0.625 and entry.reported["split"] == "val"
    assert "checkpoint_best.pth" in entry.reported["source"]
    stored = json.loads(isolated_zoo.read_text())
    assert stored["format"] == "gf-zoo" and stored["entries"]["glance_focus/star_tiny"]["sha256"] == entry.sha256
    assert zoo.get_pretrained("glance_focus/star_tiny") == entry
    # figures given by the publisher are kept, with a source; re-publishing replaces the entry
    again = zoo.publish_checkpoint(ckpt, "glance_focus/star_tiny", reported={"mean": 0.7})
    assert again.reported == {"mean": 0.7, "source": "given when publishing checkpoint_best.pth"}
    assert zoo.get_pretrained("star_tiny").reported["mean"] == 0.7
    with pytest.raises(zoo.ZooError, match="built-in"):
        zoo.publish_checkpoint(ckpt, "star_reference_authors")
    with pytest.raises(zoo.ZooError, match="must start with the model name"):
        zoo.publish_checkpoint(ckpt, "other_model/x")


def test_publish_over_an_entry_that_is_not_an_object_is_the_error_gf_zoo_list_gives(tmp_path, isolated_zoo, capsys):
    from gf.cli import main as gf_main

    ckpt = tmp_path / "ck.pth"
    make_checkpoint(ckpt)
    write_zoo(isolated_zoo, {"glance_focus/run1": "oops"})
    before = isolated_zoo.read_bytes()
    with pytest.raises(zoo.ZooError) as listed:
        zoo.list_pretrained()
    with pytest.raises(zoo.ZooError) as published:
        zoo.publish_checkpoint(ckpt, "glance_focus/run1")
    assert str(published.value) == str(listed.value)
    assert "entry 'glance_focus/run1': must be a JSON object, got str" in str(published.value)
    assert gf_main(["zoo", "publish", str(ckpt), "--name", "glance_focus/run1"]) == 3
    err = capsys.readouterr().err
    assert str(isolated_zoo) in err and "must be a JSON object" in err and "Traceback" not in err
    assert isolated_zoo.read_bytes() == before  # the file is left as it was


def test_publish_refuses_non_finite_figures_and_a_url_that_is_not_one(tmp_path, isolated_zoo, capsys):
    """Python's json writes NaN/Infinity, which strict JSON readers refuse, and a url without a
    scheme failed only at download: both are refused at publish, before the zoo file changes."""
    from gf.cli import main as gf_main
    from gf.common.zoo_file import update_zoo_file

    ckpt = tmp_path / "ck.pth"
    make_checkpoint(ckpt)
    zoo.publish_checkpoint(ckpt, "kept")
    before = isolated_zoo.read_bytes()
    for extra, shown in ((["--reported", '{"mean": NaN, "source": "x"}'], "reported['mean'] is nan"),
                         (["--reported", '{"mean": 1e999, "source": "x"}'], "reported['mean'] is inf"),
                         (["--reported", '{"cells": {"a": [-Infinity]}, "source": "x"}'],
                          "reported['cells']['a'][0] is -inf"),
                         (["--url", "not a url"], "url must be a URL gf can download")):
        assert gf_main(["zoo", "publish", str(ckpt), "--name", "t1", *extra]) == 3
        err = capsys.readouterr().err
        assert f"zoo entry 'glance_focus/t1' (zoo file {isolated_zoo}): {shown}" in err and "Traceback" not in err
    with pytest.raises(zoo.ZooError, match=r"reported\['mean'\] is nan"):
        zoo.publish_checkpoint(ckpt, "t1", reported={"mean": float("nan")})
    with pytest.raises(zoo.ZooError, match=r"not written: \['entries'\]\['x'\] would be inf"):
        update_zoo_file(isolated_zoo, lambda raw: raw["entries"].update(x=float("inf")))
    assert isolated_zoo.read_bytes() == before and "NaN" not in before.decode()
    # a zoo file written before these checks (by hand, or by an older gf zoo publish) is still read
    write_zoo(isolated_zoo, {"glance_focus/lab": {"model": "glance_focus", "url": "/models/lab.pth",
                                                  "reported": {"mean": float("nan"), "source": "x"}}})
    assert "glance_focus/lab" in zoo.list_pretrained() and "glance_focus/star_reference_authors" in zoo.list_pretrained()


def test_a_checkpoint_whose_weights_are_not_all_tensors_is_refused_naming_the_weight(tmp_path):
    from gf.models.checkpoint import load_model_weights

    ckpt = tmp_path / "c.pth"
    make_checkpoint(ckpt)
    payload = torch.load(ckpt, weights_only=True)
    payload["model"]["qa_embed.weight"] = "edited"
    for name, content in (("hashed.pth", payload), ("unhashed.pth", {**payload, "weights_sha256": None})):
        torch.save(content, tmp_path / name)
        with pytest.raises(CheckpointError, match=rf"{name}: weight 'qa_embed.weight' is a str, not a tensor. The "
                                                  r"file is damaged or was edited"):
            load_model_weights(None, tmp_path / name)  # refused before any model is touched
    with pytest.raises(CheckpointError, match="weight 'qa_embed.weight' is a str"):
        zoo.publish_checkpoint(tmp_path / "hashed.pth", "edited")
    torch.save({**payload, "model": [1, 2]}, tmp_path / "list.pth")
    with pytest.raises(CheckpointError, match="weights under 'model' as a mapping of names to tensors; found list"):
        load_model_weights(None, tmp_path / "list.pth")


def test_weights_sha256_hashes_names_element_counts_dtypes_and_bytes_but_not_shapes():
    """What its docstring says goes in; kept, since every recorded hash depends on it."""
    from gf.models.checkpoint import weights_sha256

    a, b = torch.arange(6.0).reshape(2, 3), torch.tensor([7], dtype=torch.int64)
    h = hashlib.sha256()
    for name, t in (("a", a), ("b", b)):  # in order of name
        h.update(f"{name}|({t.numel()},)|{t.dtype}|".encode() + t.numpy().tobytes())
    assert weights_sha256({"b": b, "a": a}) == h.hexdigest()
    assert weights_sha256({"a": a.reshape(3, 2), "b": b.reshape(())}) == h.hexdigest()
    assert weights_sha256({"a": a.t().contiguous().t(), "b": b}) == h.hexdigest()  # strides
    assert weights_sha256({"a": a.double(), "b": b}) != h.hexdigest()


def test_publish_refuses_checkpoints_it_cannot_describe(tmp_path):
    ckpt = tmp_path / "c.pth"
    make_checkpoint(ckpt)
    payload = torch.load(ckpt, weights_only=True)
    payload["model"]["qa_embed.weight"] += 1.0  # weights no longer match weights_sha256
    torch.save(payload, ckpt)
    with pytest.raises(CheckpointError, match="weights_sha256"):
        zoo.publish_checkpoint(ckpt, "tampered")
    payload["extra"] = {}
    torch.save(payload, ckpt)
    with pytest.raises(zoo.ZooError, match="model_config"):
        zoo.publish_checkpoint(ckpt, "bare")
    with pytest.raises(ValueError, match="not a gf checkpoint"):
        zoo.publish_checkpoint(AUTHORS_CASE / "model_3.tar", "authors")
    # a built-in entry's name is refused before the file is read: here it is not even a checkpoint
    not_a_checkpoint = tmp_path / "notes.txt"
    not_a_checkpoint.write_text("not a checkpoint")
    with pytest.raises(zoo.ZooError, match="a built-in entry has that name"):
        zoo.publish_checkpoint(not_a_checkpoint, "glance_focus/star_reference_authors")
    make_checkpoint(ckpt)
    with pytest.raises(zoo.ZooError, match="a built-in entry has that name"):  # a bare tag: once its model is read
        zoo.publish_checkpoint(ckpt, "star_reference_authors")


# ------------------------------------------------------------------ downloads


def test_sha256_mismatch_is_an_error_and_nothing_is_kept(tmp_path, server):
    ckpt = tmp_path / "c.pth"
    make_checkpoint(ckpt)
    zoo.publish_checkpoint(ckpt, "served", url=server.url("/c.pth"))
    server.routes["/c.pth"] = ServedFile(ckpt.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    with pytest.raises(ChecksumError, match=zoo.get_pretrained("served").sha256):
        zoo.download_pretrained("served", progress=False)
    assert files_under(tmp_path / "cache" / "models") == []
    with pytest.raises(ChecksumError):
        zoo.load_pretrained("served")


def test_missing_hash_is_recorded_on_first_download_and_enforced_after(tmp_path, server, isolated_zoo, caplog):
    data = legacy_checkpoint(1)
    name = "glance_focus/unpinned"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": server.url("/m.tar"), "format": "authors"}})
    server.routes["/m.tar"] = ServedFile(data)
    assert zoo.get_pretrained(name).sha256 is None
    with caplog.at_level(logging.WARNING, logger="gf.models.zoo"):
        path = zoo.download_pretrained(name, progress=False)
    assert path.read_bytes() == data
    digest = sha256sum(path)
    record = json.loads(isolated_zoo.read_text())["recorded_hashes"][name]
    assert record["sha256"] == digest and record["url"] == server.url("/m.tar")
    assert any("recorded" in r.getMessage() and digest in r.getMessage() and str(isolated_zoo) in r.getMessage()
               for r in caplog.records)  # never silent
    entry = zoo.get_pretrained(name)
    assert entry.sha256 == digest and "first download" in entry.hash_origin
    assert zoo.download_pretrained(name, progress=False) == path and len(server.requests_to("/m.tar")) == 1
    with pytest.raises(zoo.ZooError, match="refusing"):
        zoo.record_hash(name, "0" * 64)
    # the upstream file changes and the cached copy is damaged: the new bytes are refused
    server.routes["/m.tar"] = ServedFile(legacy_checkpoint(2))
    path.write_bytes(b"damaged")
    with pytest.raises(ChecksumError, match=digest):
        zoo.download_pretrained(name, progress=False)
    # a new URL for the entry invalidates the old record (the new file gets hashed afresh)
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": server.url("/m2.tar"), "format": "authors"}},
              hashes={name: record})
    assert zoo.get_pretrained(name).sha256 is None


def test_a_mismatch_names_where_the_expected_hash_came_from_and_what_to_do(tmp_path, server, isolated_zoo):
    """gf download refuses --sha256 for a zoo entry, so "pin the new hash with sha256=" was
    no advice: the message names the hash's origin and, for a recorded one, the record."""
    ckpt = tmp_path / "c.pth"
    make_checkpoint(ckpt)
    zoo.publish_checkpoint(ckpt, "served", url=server.url("/c.pth"))  # pinned in the user zoo file
    server.routes["/c.pth"] = ServedFile(ckpt.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ChecksumError) as err:
        zoo.download_pretrained("served", progress=False)
    assert f"pinned by the entry (zoo file {isolated_zoo})" in str(err.value) and "sha256=" not in str(err.value)
    assert "The entry pins that hash" in str(err.value)

    name = "glance_focus/unpinned"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": server.url("/m.tar"), "format": "authors"}})
    server.routes["/m.tar"] = ServedFile(legacy_checkpoint(1))
    zoo.download_pretrained(name, progress=False).unlink()  # the next call downloads again
    server.routes["/m.tar"] = ServedFile(legacy_checkpoint(2))
    with pytest.raises(ChecksumError) as err:
        zoo.download_pretrained(name, progress=False)
    message = str(err.value)
    assert f"zoo entry {name}: the file from {server.url('/m.tar')} has sha256 " in message
    assert "recorded on first download" in message and "trust-on-first-use record" in message
    assert f"delete the record {name!r} under \"recorded_hashes\" in {isolated_zoo}" in message
    assert "sha256=" not in message


def _count_hashes(monkeypatch) -> list:
    """The names of the files gf hashes from now on (every module's ``sha256sum``)."""
    import sys

    import gf.common.io

    hashed = []
    real = gf.common.io.sha256sum
    for module in [m for n, m in list(sys.modules.items()) if n.startswith("gf.") and m is not None]:
        if getattr(module, "sha256sum", None) is real:
            monkeypatch.setattr(module, "sha256sum", lambda path, *a, **k: hashed.append(Path(path).name) or
                                real(path, *a, **k))
    return hashed


def test_a_first_download_is_hashed_once(tmp_path, server, isolated_zoo, monkeypatch, capsys):
    """The hash computed as the download is verified is the one recorded and printed."""
    from gf.cli import main as gf_main

    hashed = _count_hashes(monkeypatch)
    data = legacy_checkpoint(1)
    name = "glance_focus/unpinned"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": server.url("/m.tar"), "format": "authors"}})
    server.routes["/m.tar"] = ServedFile(data)
    zoo.download_pretrained(name, progress=False)
    digest = hashlib.sha256(data).hexdigest()
    assert hashed == ["m.tar.part"] and zoo.get_pretrained(name).sha256 == digest  # recorded without a second read
    hashed.clear()
    server.routes["/f.bin"] = ServedFile(data)
    assert gf_main(["download", server.url("/f.bin"), "--quiet"]) == 0
    assert hashed == ["f.bin.part"] and capsys.readouterr().out.strip().endswith(f"sha256 {digest}")
    hashed.clear()
    assert gf_main(["download", "zoo:" + name, "--quiet"]) == 0  # cached and verified: one read, none to print
    assert hashed == ["m.tar"] and capsys.readouterr().out.strip().endswith(f"sha256 {digest}")


def test_a_first_hub_download_is_hashed_once(isolated_zoo, fake_hub, monkeypatch):
    """An unpinned hf:// entry is hashed as it is copied into gf's cache, and that hash is
    the one recorded (it was read a second time to record it)."""
    hub_file, _ = fake_hub
    data = legacy_checkpoint(3)  # not byte-for-byte repeatable: written once
    hub_file.write_bytes(data)
    name = "glance_focus/hub_unpinned"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": "hf://org/repo/star/ckpt.pth@v1",
                                    "format": "authors"}})
    hashed = _count_hashes(monkeypatch)
    path = zoo.download_pretrained(name, progress=False)
    assert path.read_bytes() == data and hashed == ["ckpt.pth.part"]
    assert zoo.get_pretrained(name).sha256 == hashlib.sha256(data).hexdigest()


def test_a_hub_mismatch_keeps_the_hubs_advice_and_the_actual_hash(isolated_zoo, fake_hub):
    """A pinned hf:// entry whose revision now serves other bytes: the message names the
    entry, both hashes and the Hub's advice (pin the commit), not 'run the command again'."""
    name = "glance_focus/hub_pinned"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": "hf://org/repo/star/ckpt.pth@v1",
                                    "format": "authors", "sha256": "a" * 64}})
    with pytest.raises(ChecksumError) as err:
        zoo.download_pretrained(name, progress=False)
    text = str(err.value)
    assert f"zoo entry {name}" in text and f"has sha256 {hashlib.sha256(b'weights').hexdigest()}" in text
    assert "hf://...@<commit>" in text and "run the command again" not in text


def test_a_damaged_first_download_is_not_recorded_and_the_fixed_file_is(tmp_path, server, isolated_zoo):
    """Trust on first use trusts a file only once it has been read whole: torch's zip
    checkpoints carry a CRC-32 per member, checked before the hash is recorded."""
    ckpt = tmp_path / "c.pth"
    model = make_checkpoint(ckpt)
    good = ckpt.read_bytes()
    weights = model.state_dict()["qa_embed.weight"].numpy().tobytes()
    at = good.index(weights) + len(weights) // 2
    route = ServedFile(good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:])
    server.routes["/c.pth"] = route
    name = "glance_focus/unpinned_zip"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": server.url("/c.pth")}})
    with pytest.raises(ArchiveError, match="damaged.*no sha256 was recorded") as err:
        zoo.download_pretrained(name, progress=False)
    assert name in str(err.value) and server.url("/c.pth") in str(err.value)
    assert json.loads(isolated_zoo.read_text())["recorded_hashes"] == {}
    assert files_under(tmp_path / "cache" / "models") == []  # deleted: the next call downloads afresh

    route.data = good
    path = zoo.download_pretrained(name, progress=False)
    assert path.read_bytes() == good
    assert json.loads(isolated_zoo.read_text())["recorded_hashes"][name]["sha256"] == sha256sum(ckpt)


def test_a_first_download_that_is_not_a_checkpoint_is_not_recorded(tmp_path, server, isolated_zoo):
    """A quota page or a legacy torch file cut short is no zip, so no CRC catches it: it must
    load as a checkpoint before its hash is trusted, else the real file is refused forever."""
    good = legacy_checkpoint(4)
    name = "glance_focus/unpinned_legacy"
    write_zoo(isolated_zoo, {name: {"model": "glance_focus", "url": server.url("/m.tar"), "format": "authors"}})
    for bad in (b"<!DOCTYPE html><html><body>Quota exceeded</body></html>", good[: len(good) // 2]):
        server.routes["/m.tar"] = ServedFile(bad)
        with pytest.raises(CheckpointError, match="not a checkpoint.*no sha256 was recorded") as err:
            zoo.download_pretrained(name, progress=False)
        assert name in str(err.value) and server.url("/m.tar") in str(err.value)
        assert json.loads(isolated_zoo.read_text())["recorded_hashes"] == {}
        assert files_under(tmp_path / "cache" / "models") == []
    server.routes["/m.tar"] = ServedFile(good)
    assert zoo.download_pretrained(name, progress=False).read_bytes() == good
    assert zoo.get_pretrained(name).sha256 == hashlib.sha256(good).hexdigest()


def test_offline_mode_uses_the_cached_file(tmp_path, monkeypatch):
    ckpt = tmp_path / "c.pth"
    model = make_checkpoint(ckpt)
    with LocalHTTPServer(lifetime=30) as srv:
        srv.routes["/c.pth"] = ServedFile(ckpt.read_bytes())
        zoo.publish_checkpoint(ckpt, "cached", url=srv.url("/c.pth"))
        zoo.publish_checkpoint(ckpt, "never_fetched", url=srv.url("/other.pth"))
        path = zoo.download_pretrained("cached", progress=False)
    monkeypatch.setenv("GF_OFFLINE", "1")  # and the server is gone
    assert zoo.download_pretrained("cached", progress=False) == path
    loaded = zoo.load_pretrained("cached")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(OfflineError):
        zoo.download_pretrained("never_fetched", progress=False)


def test_resolve_checkpoint_accepts_paths_urls_and_zoo_names(tmp_path, server):
    ckpt = tmp_path / "c.pth"
    make_checkpoint(ckpt)
    server.routes["/c.pth"] = ServedFile(ckpt.read_bytes())
    zoo.publish_checkpoint(ckpt, "resolvable", url=server.url("/c.pth"))
    assert zoo.resolve_checkpoint(ckpt) == ckpt
    from_zoo = zoo.resolve_checkpoint("zoo:glance_focus/resolvable")
    assert from_zoo != ckpt and sha256sum(from_zoo) == sha256sum(ckpt)
    assert zoo.resolve_checkpoint("model:resolvable") == from_zoo
    assert zoo.resolve_checkpoint("glance_focus/resolvable") == from_zoo
    assert len(server.requests_to("/c.pth")) == 1
    by_url = zoo.resolve_checkpoint(server.url("/c.pth"), progress=False)
    assert by_url.read_bytes() == ckpt.read_bytes() and (tmp_path / "cache") in by_url.parents
    with pytest.raises(FileNotFoundError, match="zoo"):
        zoo.resolve_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(zoo.UnknownPretrainedError):
        zoo.resolve_checkpoint("zoo:glance_focus/nope")


def test_a_checkpoint_url_that_served_a_bad_body_is_not_kept_and_the_next_run_asks_again(tmp_path, server):
    """A plain URL has no hash: an HTML page, a cut-short body or a gzip-encoded answer must
    not become "the checkpoint" every later run reuses without asking the server."""
    import gzip

    ckpt = tmp_path / "c.pth"
    make_checkpoint(ckpt)
    good = ckpt.read_bytes()
    url = server.url("/c.pth")
    for bad in (b"<!DOCTYPE html><html><body>Sign in</body></html>", good[: len(good) // 2], gzip.compress(good)):
        server.routes["/c.pth"] = ServedFile(bad)
        with pytest.raises((CheckpointError, ArchiveError), match="damaged or not a checkpoint") as err:
            zoo.resolve_checkpoint(url, progress=False)
        assert url in str(err.value) and "the next run downloads it again" in str(err.value)
        assert "produce or copy the checkpoint again" not in str(err.value)  # advice that cannot work for a URL
        assert files_under(tmp_path / "cache" / "downloads") == []
    server.routes["/c.pth"] = ServedFile(good)
    assert zoo.resolve_checkpoint(url, progress=False).read_bytes() == good
    assert len(server.requests_to("/c.pth")) == 4


# ------------------------------------------------------------------ the authors' format


def test_authors_format_entry_reproduces_the_reference_outputs(isolated_zoo):
    tar = AUTHORS_CASE / "model_3.tar"
    write_zoo(isolated_zoo, {"glance_focus/tiny_authors": {
        "model": "glance_focus", "url": tar.resolve().as_uri(), "format": "authors", "model_type": "star_reference",
        "sha256": sha256sum(tar), "config": {"nhead": 4, "text_encoder": str(AUTHORS_CASE / "text_encoder")}}})
    model = zoo.load_pretrained("glance_focus/tiny_authors")
    assert not model.training and model.config.arch == "reference" and model.config.d_model == 64
    expected = torch.load(AUTHORS_CASE / "expected.pt", weights_only=True)
    with torch.no_grad():
        out = model({"video": expected["frames"], "text": expected["texts"]})
    torch.testing.assert_close(out["pred_answer"], expected["pred_answer"], atol=1e-5, rtol=0)


def test_gf_zoo_publish_says_where_it_wrote_and_refuses_figures_that_are_not_json(tmp_path, capsys, isolated_cache):
    from gf.cli import main as gf_main

    ckpt, zoo_file = tmp_path / "c.pth", tmp_path / "team" / "zoo.json"
    make_checkpoint(ckpt)
    assert gf_main(["zoo", "publish", str(ckpt), "--name", "glance_focus/team_run", "--zoo-file", str(zoo_file),
                    "--reported", '{"mean": 50.0, "source": "a test"}']) == 0
    assert f"written to {zoo_file}" in capsys.readouterr().out and zoo_file.is_file()
    for reported, said in (("{mean: 50}", "--reported is not JSON"), ("[50]", "must be a JSON object of figures, "
                                                                               "got list")):
        assert gf_main(["zoo", "publish", str(ckpt), "--name", "glance_focus/x", "--zoo-file", str(zoo_file),
                        "--reported", reported]) == 2
        assert said in capsys.readouterr().err


def test_download_pretrained_checks_its_transfer_options_before_the_entry():
    """A bad timeout is told first, as by gf.common.download.download, before the zoo is read."""
    from gf.common.errors import ConfigError

    with pytest.raises(ConfigError, match="timeout"):
        zoo.download_pretrained("no-such-entry", timeout=-1, progress=False)
