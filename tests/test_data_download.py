"""Data bundles (``gf download data:star``): download from a mirror on 127.0.0.1, trust on
first use, safe extraction into the layout the `star` builder reads, resume, and refusal
of unsafe, tampered or misshapen archives with nothing written.

The real bundle is on Google Drive, which the tests cannot reach: every test points the
entry at a local server (the documented mirror mechanism) or calls the extraction
functions directly.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import pytest
import torch

from gf.common import archives
from gf.common.archives import ArchiveError, archive_format, check_archive, safe_extract
from gf.common.download import ChecksumError, DestinationExistsError, DownloadError
from gf.common.errors import ConfigError, DataFileError
from gf.common.registry import registry
from gf.datasets import data_zoo
from gf.datasets.data_entries import UnknownDataError, get_data, list_data
from gf.datasets.data_zoo import BundleLayoutError, download_data
from gf.models import zoo

try:
    from helpers_http import ServedFile, server  # noqa: F401 (server: a fixture)
except ImportError:  # tests/ imported as a package
    from tests.helpers_http import ServedFile, server  # noqa: F401

D = 8
STAR_URL = "https://drive.google.com/file/d/11sI_iW_42yetN2U8WdwsdARmQPhdhQht/view?usp=sharing"


@pytest.fixture(autouse=True)
def _isolated(isolated_cache, monkeypatch):
    """Own cache and zoo file (conftest), and no mirror or data root from the environment."""
    monkeypatch.delenv("GF_DATA_URL_STAR", raising=False)
    monkeypatch.delenv("DATA_ROOT", raising=False)
    return isolated_cache


# ------------------------------------------------------------------ tiny bundles


def star_files() -> Dict[str, bytes]:
    """A tiny bundle in the authors' STAR layout: 2 questions per split, D-dim features."""
    files: Dict[str, bytes] = {}
    qids = []
    for split, first in (("train", 0), ("val", 2), ("test", 4)):
        rows = []
        for n in range(first, first + 2):
            qid = f"{('Interaction', 'Sequence')[n % 2]}_T1_{n}"
            qids.append(qid)
            rows.append({"question_id": qid, "video_id": f"V{n}", "question": f"What in clip {n}?",
                         "options": [f"o{n}{k}" for k in range(4)], "answer": n % 4})
        files[f"txt_db/{split}.jsonl"] = "".join(json.dumps(r) + "\n" for r in rows).encode()
    files["txt_db/events.json"] = json.dumps(
        {q: {"duration": 10.0, "actions": [[1, 1.0, 4.0]]} for q in qids}).encode()
    files["txt_db/action_mapping.txt"] = "\n".join(f"a{k:03d} x" for k in range(3)).encode()
    buf = io.BytesIO()
    g = torch.Generator().manual_seed(0)
    torch.save({q: torch.randn(5, D, generator=g) for q in qids}, buf)
    files["vis_db/s3d.pth"] = buf.getvalue()
    files["vis_db/strID2numID.json"] = b"{}"  # in the authors' bundle, unused by gf
    return files


def make_zip(path: Path, files: Dict[str, bytes], *, top: str = "", extra: Iterable[zipfile.ZipInfo] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if top:
            zf.writestr(top + "/", b"")
        for name, data in files.items():
            zf.writestr(f"{top}/{name}" if top else name, data)
        for info in extra:
            zf.writestr(info, b"payload")
    return path


def make_tar(path: Path, files: Dict[str, bytes], *, top: str = "",
             extra: Iterable[tarfile.TarInfo] = (), mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            if info.isreg():
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
            else:
                tar.addfile(info)
    return path


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def zip_symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(root: Path) -> List[str]:
    """Every path under ``root`` (files, folders, hidden ones too), relative."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def recorded(name: str = "data:star") -> Optional[dict]:
    path = zoo.user_zoo_file()
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("recorded_hashes", {}).get(name)


def snapshot(root: Path, names) -> Dict[str, Tuple[bytes, int, int]]:
    """Content, inode and mtime of each file: equal snapshots mean "not touched"."""
    result = {}
    for name in names:
        st = (root / name).stat()
        result[name] = ((root / name).read_bytes(), st.st_ino, st.st_mtime_ns)
    return result


def installed(target: Path) -> Dict[str, dict]:
    """The files the marker records as installed by the bundle."""
    marker = json.loads((target / data_zoo.MARKER).read_text())
    assert "installing" not in marker
    return marker["files"]


def forget_record(name: str = "data:star") -> None:
    """Delete a recorded hash from the zoo file, as a user accepting a new bundle does."""
    path = zoo.user_zoo_file()
    raw = json.loads(path.read_text())
    del raw["recorded_hashes"][name]
    path.write_text(json.dumps(raw))


def build_split(data_root: Path, split: str = "val"):
    builder = registry.get_builder_class("star")({"data_root": str(data_root), "max_feats": 4, "max_events": 2})
    return builder.build_datasets([split])[split]


# ------------------------------------------------------------------ the entry


def test_star_entry_lists_the_authors_link_and_the_files_the_builder_reads():
    from gf.benchmarks.star.builder import StarBuilder

    entry = get_data("data:star")
    assert entry is not None and get_data("star") == entry
    assert entry.url == STAR_URL and entry.sha256 is None and entry.builder == "star"
    defaults = StarBuilder.DEFAULT_CONFIG
    assert entry.target == defaults["dataset_dir"]
    needed = set(defaults["annotations"].values()) | {defaults["events"], defaults["action_mapping"],
                                                       defaults["features"]}
    assert set(entry.required) == needed  # the builder's defaults and the bundle's checks agree
    (line,) = [e.summary() for e in list_data() if e.name == "star"]
    assert "data:star" in line and STAR_URL in line and "sha256 not yet known" in line
    with pytest.raises(UnknownDataError, match="Did you mean: 'star'"):
        get_data("data:stra")


# ------------------------------------------------------------------ fetch, record, verify, build


@pytest.mark.parametrize("kind", ["zip_with_top_folder", "flat_tar_gz"])
def test_bundle_from_mirror_is_recorded_verified_extracted_and_built(server, tmp_path, monkeypatch, kind):
    files = star_files()
    if kind == "zip_with_top_folder":
        archive = make_zip(tmp_path / "a.zip", files, top="STAR")
    else:
        archive = make_tar(tmp_path / "a.tgz", files)
    # A name that says nothing about the format: it is read from the content.
    server.routes["/mirror/bundle.bin"] = ServedFile(archive.read_bytes())
    url = server.url("/mirror/bundle.bin")
    root = tmp_path / "data"

    target = download_data("data:star", root, url=url, progress=False)
    assert target == root / "STAR"
    for name, data in files.items():
        assert (target / name).read_bytes() == data
    marker = json.loads((target / data_zoo.MARKER).read_text())
    assert marker["sha256"] == sha(archive) and marker["entry"] == "star"
    assert sorted(p.name for p in root.iterdir()) == [".STAR.gf.lock", "STAR"]  # no staging left
    # Trust on first use: recorded in the user zoo file, and applied from now on.
    rec = recorded()
    assert rec["sha256"] == sha(archive) and rec["url"] == url and rec["entry_url"] == STAR_URL
    assert get_data("star").sha256 == sha(archive)
    assert sha(archive) in [e.summary() for e in list_data() if e.name == "star"][0]
    assert zoo.list_pretrained()  # the zoo file still reads, with the data record in it

    ds = build_split(root, "val")
    assert len(ds) == 2 and ds[0]["video"].shape == (4, D)

    # Again: already extracted from this bundle -> nothing to do, not even a request
    # (the folder is not re-extracted: a file added to it stays).
    before = len(server.requests)
    (target / "txt_db" / "my_notes.txt").write_text("kept")
    assert download_data("star", root, url=url, progress=False) == target
    assert len(server.requests) == before and (target / "txt_db" / "my_notes.txt").read_text() == "kept"

    # Extracted folder removed: the cached archive is verified against the record and
    # extracted again; the mirror can also come from the environment.
    shutil.rmtree(target)
    monkeypatch.setenv("GF_DATA_URL_STAR", url)
    assert download_data("star", root, progress=False) == target
    assert len(server.requests) == before
    assert build_split(root, "train")[0]["question_id"] == "Interaction_T1_0"


def test_tampered_archive_after_the_hash_was_recorded_is_refused(server, tmp_path):
    good = make_zip(tmp_path / "good.zip", star_files(), top="STAR")
    files = star_files()
    files["txt_db/val.jsonl"] = files["txt_db/val.jsonl"].replace(b"clip", b"CLIP")
    bad = make_zip(tmp_path / "bad.zip", files, top="STAR")
    server.routes["/good.zip"] = ServedFile(good.read_bytes())
    server.routes["/other-mirror/good.zip"] = ServedFile(bad.read_bytes())
    download_data("star", tmp_path / "first", url=server.url("/good.zip"), progress=False)
    assert recorded()["sha256"] == sha(good)

    # A mirror serving other bytes: refused after the download, nothing extracted anywhere.
    fresh = tmp_path / "fresh"
    with pytest.raises(ChecksumError, match=sha(good)):
        download_data("star", fresh, url=server.url("/other-mirror/good.zip"), progress=False)
    assert not fresh.exists()
    assert recorded()["sha256"] == sha(good)  # the record is not replaced

    # A corrupted cached copy is not trusted either: it is downloaded again and verified.
    cached = data_zoo._cache_path(get_data("star"), server.url("/good.zip"))
    cached.write_bytes(bad.read_bytes())
    target = download_data("star", fresh, url=server.url("/good.zip"), progress=False)
    assert (target / "txt_db" / "val.jsonl").read_bytes() == star_files()["txt_db/val.jsonl"]
    assert cached.read_bytes() == good.read_bytes()


def test_a_mismatch_with_the_recorded_hash_names_the_record_to_delete(server, tmp_path):
    """gf download refuses --sha256 for data:<name>, so the message says where the expected
    hash came from (the first download's record) and which record to delete; doing so works."""
    good = make_zip(tmp_path / "good.zip", star_files(), top="STAR")
    other = make_zip(tmp_path / "other.zip", dict(star_files(), **{"extra.txt": b"hello"}), top="STAR")
    server.routes["/good.zip"] = ServedFile(good.read_bytes())
    server.routes["/other.zip"] = ServedFile(other.read_bytes())
    download_data("star", tmp_path / "first", url=server.url("/good.zip"), progress=False)
    with pytest.raises(ChecksumError) as err:
        download_data("star", tmp_path / "second", url=server.url("/other.zip"), progress=False)
    message, zoo_file = str(err.value), zoo.user_zoo_file()
    assert f"data bundle data:star: the file from {server.url('/other.zip')} has sha256 {sha(other)}, not the " \
           f"expected {sha(good)} (recorded on first download (" in message
    assert f"(from {server.url('/good.zip')})" in message and "trust-on-first-use record" in message
    assert f"delete the record 'data:star' under \"recorded_hashes\" in {zoo_file}" in message
    assert "sha256=" not in message and not (tmp_path / "second").exists()
    forget_record()  # what the message says to do
    assert (download_data("star", tmp_path / "second", url=server.url("/other.zip"), progress=False)
            / "extra.txt").read_bytes() == b"hello"


# ------------------------------------------------------------------ unsafe archives

VALID = {"STAR/" + k: v for k, v in star_files().items()}
ABSOLUTE = "ABSOLUTE"  # replaced by an absolute path inside the test's own folder
UNSAFE = {
    "tar_dotdot": ("tar", "STAR/../../evil.txt", tarfile.REGTYPE, "", "'..' component"),
    "tar_absolute": ("tar", ABSOLUTE, tarfile.REGTYPE, "", "absolute path"),
    "tar_symlink": ("tar", "STAR/txt_db/link", tarfile.SYMTYPE, "train.jsonl", "symbolic link"),
    "tar_hardlink": ("tar", "STAR/txt_db/hard", tarfile.LNKTYPE, "STAR/txt_db/train.jsonl", "hard link"),
    "tar_fifo": ("tar", "STAR/fifo", tarfile.FIFOTYPE, "", "FIFO"),
    "tar_nested_dotdot": ("tar", "STAR/ok/../../../evil.txt", tarfile.REGTYPE, "", "'..' component"),
    "tar_symlink_to_etc": ("tar", "STAR/abs_link", tarfile.SYMTYPE, "/etc/passwd", "symbolic link"),
    "zip_dotdot": ("zip", "../evil.txt", None, "", "'..' component"),
    "zip_absolute": ("zip", ABSOLUTE, None, "", "absolute path"),
    "zip_symlink": ("zip", "STAR/txt_db/link", "symlink", "train.jsonl", "symbolic link (unix mode bits)"),
    # a second copy of a bundle file, with other bytes: the later one would silently replace the first
    "tar_duplicate": ("tar", "STAR/txt_db/train.jsonl", tarfile.REGTYPE, "", "appears twice"),
    "zip_duplicate": ("zip", "STAR/txt_db/./train.jsonl", None, "", "'STAR/txt_db/train.jsonl' appears twice"),
}


def unsafe_archive(folder: Path, case: str) -> Tuple[Path, str, str]:
    """The valid bundle plus one unsafe member: (archive, member name, expected reason)."""
    kind, name, member_type, link, reason = UNSAFE[case]
    if name == ABSOLUTE:
        name = str(folder / "evil_absolute.txt")
    if kind == "tar":
        return make_tar(folder / f"{case}.tar.gz", VALID, extra=[tar_member(name, member_type, link)]), name, reason
    info = zip_symlink(name) if member_type == "symlink" else zipfile.ZipInfo(name)
    return make_zip(folder / f"{case}.zip", VALID, extra=[info]), name, reason


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archive_is_refused_with_nothing_written(tmp_path, case):
    archive, member, reason = unsafe_archive(tmp_path, case)
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "kept.txt").write_text("mine")
    before = tree(tmp_path)
    with pytest.raises(ArchiveError) as err:
        safe_extract(archive, parent / "out")
    message = str(err.value)
    assert str(archive) in message and repr(member) in message and reason in message
    assert tree(tmp_path) == before  # neither the target nor anything beside or above it


@pytest.mark.parametrize("case", ["tar_dotdot", "tar_symlink", "zip_symlink", "tar_duplicate", "zip_duplicate"])
def test_unsafe_bundle_download_writes_nothing_and_is_not_trusted(server, tmp_path, case):
    archive, member, reason = unsafe_archive(tmp_path, case)
    server.routes["/bundle"] = ServedFile(archive.read_bytes())
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(ArchiveError, match=reason.split(" (")[0]):
        download_data("star", root, url=server.url("/bundle"), progress=False)
    assert tree(root) == [] and not (tmp_path / "evil.txt").exists() and not (tmp_path / "evil_absolute.txt").exists()
    assert recorded() is None  # an archive that failed the checks is not recorded as the bundle


def archive_of(path: Path, names: List[str]) -> Path:
    """A zip or tar (from the suffix) with one entry per name, in order: a folder where the
    name ends in "/", else a file holding ``copy <n>`` (so repeated names hold other bytes)."""
    if path.suffix == ".zip":
        with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
            warnings.simplefilter("ignore", UserWarning)  # zipfile warns "Duplicate name", and writes it
            for n, name in enumerate(names):
                zf.writestr(name, b"" if name.endswith("/") else f"copy {n}".encode())
        return path
    with tarfile.open(path, "w") as tar:
        for n, name in enumerate(names):
            info = tarfile.TarInfo(name.rstrip("/"))
            data = b"" if name.endswith("/") else f"copy {n}".encode()
            info.type, info.size = (tarfile.DIRTYPE if name.endswith("/") else tarfile.REGTYPE), len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("kind", ["zip", "tar"])
@pytest.mark.parametrize("names", [["STAR/a.txt", "STAR/a.txt"], ["STAR/a.txt", "./STAR/./a.txt"],
                                   ["STAR/a.txt", "STAR//a.txt"], ["STAR/a.txt", "STAR/a.txt/"],
                                   ["STAR/a.txt/", "STAR/a.txt"]],
                         ids=["exact", "dot", "double_slash", "file_then_folder", "folder_then_file"])
def test_a_name_twice_is_refused_with_nothing_written(tmp_path, kind, names):
    """Names are compared after normalisation; a file and a folder of one name clash too."""
    archive = archive_of(tmp_path / f"twice.{kind}", names)
    with pytest.raises(ArchiveError, match="'STAR/a.txt' appears twice") as err:
        safe_extract(archive, tmp_path / "out")
    assert str(archive) in str(err.value) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_a_folder_entry_twice_is_harmless(tmp_path, kind):
    archive = archive_of(tmp_path / f"folders.{kind}", ["STAR/", "STAR/a.txt", "./STAR/"])
    assert [(m.name, m.is_dir) for m in safe_extract(archive, tmp_path / "out")] == [
        ("STAR", True), ("STAR/a.txt", False), ("STAR", True)]
    assert (tmp_path / "out" / "STAR" / "a.txt").read_bytes() == b"copy 1"


# ------------------------------------------------------------------ damaged archives and trust on first use


def flip_byte_in(data: bytes, inside: bytes) -> bytes:
    """``data`` with one byte changed in the middle of where ``inside`` is stored."""
    at = data.index(inside) + len(inside) // 2
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def damaged_bundles(folder: Path) -> Dict[str, Tuple[bytes, str]]:
    """Archives that pass the member checks but are not whole: (bytes, what the error says)."""
    files = star_files()
    stored = folder / "stored.zip"
    fork = b"a macOS resource fork, skipped when extracting " * 4
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr("STAR/" + name, data)
        zf.writestr("__MACOSX/STAR/._train.jsonl", fork)
    plain_tar = make_tar(folder / "plain.tar", files, top="STAR", mode="w").read_bytes()
    gz = make_tar(folder / "b.tgz", files, top="STAR").read_bytes()
    members_end = 512 * sum(1 + -(-len(d) // 512) for d in files.values())  # headers and data, before the end blocks
    return {
        "zip_bad_crc": (flip_byte_in(stored.read_bytes(), files["txt_db/events.json"]),
                        r"damaged \(member .STAR/txt_db/events.json."),
        "zip_bad_crc_in_a_skipped_member": (flip_byte_in(stored.read_bytes(), fork), r"damaged \(member .__MACOSX/"),
        "tar_cut_at_a_member_boundary": (plain_tar[:members_end], "end-of-archive"),
        "tgz_without_its_gzip_trailer": (gz[:-8], "damaged"),
    }


@pytest.mark.parametrize("case", ["zip_bad_crc", "zip_bad_crc_in_a_skipped_member", "tar_cut_at_a_member_boundary",
                                  "tgz_without_its_gzip_trailer"])
def test_a_damaged_archive_is_never_trusted_and_the_fixed_one_installs(server, tmp_path, case):
    bad, says = damaged_bundles(tmp_path)[case]
    good = make_zip(tmp_path / "good.zip", star_files(), top="STAR").read_bytes()
    route = ServedFile(bad)
    server.routes["/bundle"] = route
    url = server.url("/bundle")
    root = tmp_path / "data"
    with pytest.raises(ArchiveError, match=says) as err:
        download_data("star", root, url=url, progress=False)
    assert "no sha256 was recorded" in str(err.value)
    assert recorded() is None and get_data("star").sha256 is None
    assert not data_zoo._cache_path(get_data("star"), url).exists()  # the next run downloads afresh
    assert not (root / "STAR").exists()

    route.data = good  # the mirror fixed its file
    target = download_data("star", root, url=url, progress=False)
    assert (target / "txt_db" / "events.json").read_bytes() == star_files()["txt_db/events.json"]
    assert recorded()["sha256"] == hashlib.sha256(good).hexdigest()


def test_verify_archive_reads_every_member_to_its_end(tmp_path):
    for case, (data, says) in damaged_bundles(tmp_path).items():
        path = tmp_path / case
        path.write_bytes(data)
        check_archive(path)  # the member list alone looks fine
        with pytest.raises(ArchiveError, match=says):
            archives.verify_archive(path)
    archives.verify_archive(make_tar(tmp_path / "ok.tgz", star_files()))
    archives.verify_archive(make_zip(tmp_path / "ok.zip", star_files()))
    legacy = tmp_path / "legacy.pth"
    legacy.write_bytes(b"\x80\x02" + b"a pickle-era checkpoint" * 40)
    assert archives.looks_like_archive(tmp_path / "zip_bad_crc") and archives.looks_like_archive(tmp_path / "plain.tar")
    assert not archives.looks_like_archive(legacy)


# ------------------------------------------------------------------ interruptions


def test_interrupted_download_resumes_on_the_next_call(server, tmp_path):
    archive = make_zip(tmp_path / "a.zip", star_files(), top="STAR")
    data = archive.read_bytes()
    half = len(data) // 2
    route = ServedFile(data, drop_first=1, drop_after=half)
    server.routes["/bundle.zip"] = route
    url = server.url("/bundle.zip")
    root = tmp_path / "data"

    with pytest.raises(DownloadError, match="partial file"):
        download_data("star", root, url=url, retries=1, progress=False)
    part = Path(str(data_zoo._cache_path(get_data("star"), url)) + ".part")
    assert part.stat().st_size == half
    assert not (root / "STAR").exists() and recorded() is None

    target = download_data("star", root, url=url, retries=1, progress=False)
    assert (target / "vis_db" / "s3d.pth").read_bytes() == star_files()["vis_db/s3d.pth"]
    first, second = server.requests_to("/bundle.zip")
    assert "range" not in first.headers and second.headers["range"] == f"bytes={half}-"
    assert route.statuses == [200, 206] and not part.exists()
    assert recorded()["sha256"] == hashlib.sha256(data).hexdigest()


def test_interrupted_extraction_leaves_no_target_and_the_next_run_completes(server, tmp_path, monkeypatch):
    archive = make_tar(tmp_path / "a.tar", star_files(), top="STAR", mode="w")
    server.routes["/a.tar"] = ServedFile(archive.read_bytes())
    url = server.url("/a.tar")
    root = tmp_path / "data"
    real = archives._extract_one
    written = []

    def interrupted(*args, **kwargs):
        if len(written) == 3:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) part-way through the members
        written.append(args[3].name)
        return real(*args, **kwargs)

    monkeypatch.setattr(archives, "_extract_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_data("star", root, url=url, progress=False)
    assert len(written) == 3
    assert tree(root) == [".STAR.gf.lock"]  # no target, no half staging folder

    # A process killed outright leaves its staging folder: the next run removes it.
    stale = root / "STAR" / ".gf-staging.k1ll3d" / "txt_db"
    stale.mkdir(parents=True)
    (stale / "train.jsonl").write_text("half")
    monkeypatch.setattr(archives, "_extract_one", real)
    requests = len(server.requests)
    target = download_data("star", root, url=url, progress=False)
    assert len(server.requests) == requests  # the verified cached archive is reused
    assert tree(root) == [".STAR.gf.lock", "STAR"] + sorted(f"STAR/{p}" for p in tree(target))
    assert [p for p in tree(target) if "gf-staging" in p] == []
    assert len(build_split(root, "test")) == 2


# ------------------------------------------------------------------ layout and existing folders


def test_bundle_in_another_layout_names_what_is_missing_and_what_was_found(server, tmp_path):
    files = star_files()
    del files["vis_db/s3d.pth"]
    archive = make_zip(tmp_path / "a.zip", files, top="STAR")
    server.routes["/a.zip"] = ServedFile(archive.read_bytes())
    root = tmp_path / "data"
    with pytest.raises(BundleLayoutError) as err:
        download_data("star", root, url=server.url("/a.zip"), progress=False)
    message = str(err.value)
    assert "missing vis_db/s3d.pth" in message and "STAR/txt_db/train.jsonl" in message
    assert "under its top folder 'STAR/'" in message
    assert not root.exists() and recorded() is None

    # Files at the root of an archive with two top folders: neither layout fits.
    other = make_zip(tmp_path / "b.zip", {"annotations/" + k: v for k, v in files.items()} | {"x/y.txt": b""})
    with pytest.raises(BundleLayoutError, match="missing txt_db/train.jsonl.*at its root"):
        data_zoo._plan_layout(other, get_data("star"), check_archive(other))


def test_folder_not_made_by_gf_keeps_its_files_and_only_collisions_are_refused(server, tmp_path):
    archive = make_zip(tmp_path / "a.zip", star_files(), top="STAR")
    server.routes["/a.zip"] = ServedFile(archive.read_bytes())
    url = server.url("/a.zip")
    root = tmp_path / "data"
    (root / "STAR" / "vis_db").mkdir(parents=True)
    (root / "STAR" / "mine.txt").write_text("keep")
    (root / "STAR" / "vis_db" / "clip.pth").write_bytes(b"my features")
    (root / "STAR" / "txt_db").mkdir()
    (root / "STAR" / "txt_db" / "train.jsonl").write_text("my own annotations\n")
    mine = snapshot(root / "STAR", ["mine.txt", "vis_db/clip.pth", "txt_db/train.jsonl"])
    with pytest.raises(DestinationExistsError) as err:
        download_data("star", root, url=url, progress=False)
    message = str(err.value)
    assert "'txt_db/train.jsonl' (not installed by gf)" in message and "--overwrite" in message
    assert "mine.txt" not in message and "clip.pth" not in message  # only the collision is named
    assert tree(root / "STAR") == ["mine.txt", "txt_db", "txt_db/train.jsonl", "vis_db", "vis_db/clip.pth"]
    assert snapshot(root / "STAR", mine) == mine

    # --overwrite replaces the colliding file only; the others stay exactly as they were
    target = download_data("star", root, url=url, overwrite=True, progress=False)
    assert (target / "txt_db" / "train.jsonl").read_bytes() == star_files()["txt_db/train.jsonl"]
    assert snapshot(target, ["mine.txt", "vis_db/clip.pth"]) == {k: mine[k] for k in ("mine.txt", "vis_db/clip.pth")}
    assert [p for p in tree(target) if "gf-staging" in p] == []
    assert set(installed(target)) == set(star_files())

    # a user file that holds exactly the bundle's bytes is no collision: it is kept as it is
    other = tmp_path / "other"
    (other / "STAR" / "txt_db").mkdir(parents=True)
    (other / "STAR" / "txt_db" / "val.jsonl").write_bytes(star_files()["txt_db/val.jsonl"])
    same = snapshot(other / "STAR", ["txt_db/val.jsonl"])
    download_data("star", other, url=url, progress=False)
    assert snapshot(other / "STAR", same) == same and "txt_db/val.jsonl" in installed(other / "STAR")


def test_a_folder_or_link_in_the_way_is_refused_even_with_overwrite(server, tmp_path):
    archive = make_zip(tmp_path / "a.zip", star_files(), top="STAR")
    server.routes["/a.zip"] = ServedFile(archive.read_bytes())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "data"
    (root / "STAR").mkdir(parents=True)
    (root / "STAR" / "vis_db").symlink_to(elsewhere, target_is_directory=True)
    for overwrite in (False, True):
        with pytest.raises(DestinationExistsError, match=r"'vis_db/s3d.pth'.*folder or a link is in the way"):
            download_data("star", root, url=server.url("/a.zip"), overwrite=overwrite, progress=False)
    assert list(elsewhere.iterdir()) == [] and tree(root / "STAR") == ["vis_db"]


def test_a_link_at_a_bundle_path_is_replaced_with_overwrite_never_written_through(server, tmp_path):
    archive = make_zip(tmp_path / "a.zip", star_files(), top="STAR")
    server.routes["/a.zip"] = ServedFile(archive.read_bytes())
    folder, file = tmp_path / "elsewhere", tmp_path / "mine.txt"
    folder.mkdir()
    (folder / "inside.txt").write_text("mine")
    file.write_text("my file")
    root = tmp_path / "data"
    target = root / "STAR"
    (target / "vis_db").mkdir(parents=True)
    (target / "txt_db").mkdir()
    links = ("vis_db/s3d.pth", "txt_db/events.json")
    (target / links[0]).symlink_to(folder, target_is_directory=True)  # a link to a folder
    (target / links[1]).symlink_to(file)  # a link to a file
    with pytest.raises(DestinationExistsError, match=r"'txt_db/events.json' \(not installed by gf"):
        download_data("star", root, url=server.url("/a.zip"), progress=False)
    assert all((target / rel).is_symlink() for rel in links)
    download_data("star", root, url=server.url("/a.zip"), overwrite=True, progress=False)
    for rel in links:  # the link itself is replaced by the bundle's file
        assert not (target / rel).is_symlink() and (target / rel).read_bytes() == star_files()[rel]
    assert tree(folder) == ["inside.txt"] and (folder / "inside.txt").read_text() == "mine"
    assert file.read_text() == "my file"


def test_user_features_survive_a_version_change(server, tmp_path):
    v1 = star_files()
    server.routes["/v1.zip"] = ServedFile(make_zip(tmp_path / "v1.zip", v1, top="STAR").read_bytes())
    root = tmp_path / "data"
    target = download_data("star", root, url=server.url("/v1.zip"), progress=False)
    # what the README tells users to do: their own features next to the bundle's
    (target / "vis_db" / "clip_vit.pth").write_bytes(b"user features")
    (target / "vis_db" / "clip_vit").mkdir()
    (target / "vis_db" / "clip_vit" / "shard-0.tar").write_bytes(b"shard")
    (target / "notes.md").write_text("mine")
    users = ["vis_db/clip_vit.pth", "vis_db/clip_vit/shard-0.tar", "notes.md"]
    kept = snapshot(target, users)

    v2 = dict(v1)
    v2["vis_db/s3d.pth"] = v1["vis_db/s3d.pth"] + b"v2"
    del v2["vis_db/strID2numID.json"]  # no longer in the bundle: removed (it is unchanged)
    v2["vis_db/new_in_v2.json"] = b"{}"
    server.routes["/v2.zip"] = ServedFile(make_zip(tmp_path / "v2.zip", v2, top="STAR").read_bytes())
    forget_record()  # the documented way to accept a different bundle
    assert download_data("star", root, url=server.url("/v2.zip"), progress=False) == target
    assert snapshot(target, users) == kept  # not rewritten, not even touched
    for name, data in v2.items():
        assert (target / name).read_bytes() == data
    assert not (target / "vis_db" / "strID2numID.json").exists()
    assert set(installed(target)) == set(v2)
    assert recorded()["sha256"] == sha(tmp_path / "v2.zip")


def test_a_missing_bundle_file_is_restored_without_touching_the_others(server, tmp_path):
    archive = make_zip(tmp_path / "a.zip", star_files(), top="STAR")
    server.routes["/a.zip"] = ServedFile(archive.read_bytes())
    root = tmp_path / "data"
    target = download_data("star", root, url=server.url("/a.zip"), progress=False)
    (target / "txt_db" / "val.jsonl").unlink()
    others = snapshot(target, [n for n in star_files() if n != "txt_db/val.jsonl"])
    requests = len(server.requests)
    assert download_data("star", root, url=server.url("/a.zip"), progress=False) == target
    assert (target / "txt_db" / "val.jsonl").read_bytes() == star_files()["txt_db/val.jsonl"]
    assert snapshot(target, others) == others  # same inode and mtime: not rewritten
    assert len(server.requests) == requests  # the verified cached archive was used


def test_a_modified_installed_file_is_refused_and_kept(server, tmp_path):
    v1 = star_files()
    server.routes["/a.zip"] = ServedFile(make_zip(tmp_path / "a.zip", v1, top="STAR").read_bytes())
    root = tmp_path / "data"
    target = download_data("star", root, url=server.url("/a.zip"), progress=False)
    (target / "txt_db" / "train.jsonl").write_text("edited by hand\n")
    (target / "vis_db" / "strID2numID.json").write_text('{"edited": 1}')
    (target / "txt_db" / "val.jsonl").unlink()  # so the bundle is not complete: the next call must act
    with pytest.raises(DestinationExistsError, match=r"'txt_db/train.jsonl' \(changed since gf installed it\)"):
        download_data("star", root, url=server.url("/a.zip"), progress=False)
    assert (target / "txt_db" / "train.jsonl").read_text() == "edited by hand\n"
    assert not (target / "txt_db" / "val.jsonl").exists()  # refused means nothing changed

    # a new version without strID2numID.json: the edited file is not removed, it is the user's now
    v2 = {k: v for k, v in v1.items() if k != "vis_db/strID2numID.json"}
    v2["txt_db/train.jsonl"] = b"edited by hand\n"  # the same bytes as the user's: no collision
    server.routes["/v2.zip"] = ServedFile(make_zip(tmp_path / "v2.zip", v2, top="STAR").read_bytes())
    forget_record()
    download_data("star", root, url=server.url("/v2.zip"), progress=False)
    assert (target / "vis_db" / "strID2numID.json").read_text() == '{"edited": 1}'
    assert "vis_db/strID2numID.json" not in installed(target)
    assert (target / "txt_db" / "val.jsonl").read_bytes() == v1["txt_db/val.jsonl"]


def test_an_interrupted_install_is_finished_by_the_next_run(server, tmp_path, monkeypatch):
    v1 = star_files()
    server.routes["/v1.zip"] = ServedFile(make_zip(tmp_path / "v1.zip", v1, top="STAR").read_bytes())
    root = tmp_path / "data"
    target = download_data("star", root, url=server.url("/v1.zip"), progress=False)
    v2 = {name: data + b" v2" for name, data in v1.items() if name.startswith("txt_db/")}
    v2["vis_db/s3d.pth"] = v1["vis_db/s3d.pth"]
    server.routes["/v2.zip"] = ServedFile(make_zip(tmp_path / "v2.zip", v2, top="STAR").read_bytes())
    forget_record()
    real, moved = os.replace, []

    def killed(src, dst):
        if ".gf-staging." in str(src):  # a bundle file moving into place, not a marker or zoo file
            if len(moved) == 2:
                raise KeyboardInterrupt  # killed between two files of the install
            moved.append(dst)
        return real(src, dst)

    monkeypatch.setattr(data_zoo.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        download_data("star", root, url=server.url("/v2.zip"), progress=False)
    monkeypatch.setattr(data_zoo.os, "replace", real)
    assert len(moved) == 2  # some files are v2 now, the others v1: none of them counts as the user's
    assert download_data("star", root, url=server.url("/v2.zip"), progress=False) == target
    for name, data in v2.items():
        assert (target / name).read_bytes() == data
    assert not (target / "vis_db" / "strID2numID.json").exists() and set(installed(target)) == set(v2)

    # interrupted again, and then another version arrives: both older versions are gf's
    v3 = {name: data + b" v3" for name, data in v2.items()}
    server.routes["/v3.zip"] = ServedFile(make_zip(tmp_path / "v3.zip", v3, top="STAR").read_bytes())
    v4 = {name: data + b" v4" for name, data in v2.items()}
    server.routes["/v4.zip"] = ServedFile(make_zip(tmp_path / "v4.zip", v4, top="STAR").read_bytes())
    forget_record()
    moved.clear()
    monkeypatch.setattr(data_zoo.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        download_data("star", root, url=server.url("/v3.zip"), progress=False)
    monkeypatch.setattr(data_zoo.os, "replace", real)
    forget_record()
    assert download_data("star", root, url=server.url("/v4.zip"), progress=False) == target
    assert all((target / name).read_bytes() == data for name, data in v4.items())


def test_builders_refuse_a_bundle_folder_whose_install_was_interrupted(server, tmp_path, monkeypatch):
    """A kill between two files leaves old and new bundle files side by side; the marker
    says so ('installing'), and the builder refuses the folder, naming the command that
    finishes the install, instead of training on the mix."""
    v1 = star_files()
    server.routes["/v1.zip"] = ServedFile(make_zip(tmp_path / "v1.zip", v1, top="STAR").read_bytes())
    v2 = dict(v1, **{f"txt_db/{s}.jsonl": v1[f"txt_db/{s}.jsonl"].replace(b"What", b"Which") for s in ("train", "val")})
    server.routes["/v2.zip"] = ServedFile(make_zip(tmp_path / "v2.zip", v2, top="STAR").read_bytes())
    root = tmp_path / "data"
    target = download_data("star", root, url=server.url("/v1.zip"), progress=False)
    forget_record()
    real = os.replace

    def killed(src, dst):
        real(src, dst)
        if str(dst).endswith("train.jsonl"):
            raise KeyboardInterrupt  # killed after train.jsonl moved in, before val.jsonl

    monkeypatch.setattr(data_zoo.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        download_data("star", root, url=server.url("/v2.zip"), progress=False)
    monkeypatch.setattr(data_zoo.os, "replace", real)
    assert (target / "txt_db" / "train.jsonl").read_bytes() == v2["txt_db/train.jsonl"]
    assert (target / "txt_db" / "val.jsonl").read_bytes() == v1["txt_db/val.jsonl"]  # the mix
    rerun = f"gf download data:star --url {server.url('/v2.zip')} --data-root {root}"
    for split in ("train", "val"):
        with pytest.raises(DataFileError, match="unfinished install of the data:star bundle") as err:
            build_split(root, split)
        assert rerun in str(err.value) and "installing" in str(err.value)
    download_data("star", root, url=server.url("/v2.zip"), progress=False)  # finishes the install
    assert build_split(root, "val").records[0]["question"].startswith("Which")


def test_bad_transfer_options_are_refused_even_with_nothing_left_to_do(server, tmp_path):
    """A NaN or a zero is an error, also on the call that would return at once."""
    server.routes["/a.zip"] = ServedFile(make_zip(tmp_path / "a.zip", star_files(), top="STAR").read_bytes())
    root = tmp_path / "data"
    download_data("star", root, url=server.url("/a.zip"), progress=False)
    for bad in (dict(timeout=float("nan")), dict(retries=0), dict(backoff=float("inf"))):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            download_data("star", root, url=server.url("/a.zip"), progress=False, **bad)


def test_format_is_read_from_the_content(tmp_path):
    files = {"a.txt": b"A"}
    assert archive_format(make_zip(tmp_path / "x.tar.gz", files)) == "zip"
    assert archive_format(make_tar(tmp_path / "y.zip", files)) == "tar"
    assert archive_format(make_tar(tmp_path / "z", files, mode="w")) == "tar"
    page = tmp_path / "drive_quota"
    page.write_bytes(b"<!DOCTYPE html><html><title>Google Drive - quota exceeded</title>")
    with pytest.raises(ArchiveError, match="HTML page"):
        archive_format(page)
    with pytest.raises(ArchiveError, match="expected a zip archive, but its content is a tar"):
        check_archive(tmp_path / "y.zip", format="zip")
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes((tmp_path / "y.zip").read_bytes()[:30])
    with pytest.raises(ArchiveError, match="gzip-compressed .* truncated or corrupt"):
        check_archive(truncated)
    out = tmp_path / "out"
    assert [m.name for m in safe_extract(tmp_path / "x.tar.gz", out)] == ["a.txt"]
    assert (out / "a.txt").read_bytes() == b"A"
    with pytest.raises(ArchiveError, match="not an empty folder"):
        safe_extract(tmp_path / "x.tar.gz", out)


def test_a_truncated_zip_is_called_truncated_and_not_trusted(server, tmp_path):
    """A download cut short keeps the zip signature but loses the central directory (at the end)."""
    whole = make_zip(tmp_path / "whole.zip", star_files(), top="STAR").read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[:-10])
    with pytest.raises(ArchiveError, match=r"cut\.zip starts with a zip signature \(bytes 50 4b 03 04\) .* "
                                           r"truncated or corrupt\. Download it again") as err:
        check_archive(cut)
    assert "not a zip or tar archive" not in str(err.value) and "browser" not in str(err.value)
    server.routes["/bundle"] = ServedFile(whole[:len(whole) // 2])
    with pytest.raises(ArchiveError, match="truncated or corrupt.*no sha256 was recorded"):
        download_data("star", tmp_path / "data", url=server.url("/bundle"), progress=False)
    assert recorded() is None


def test_tar_of_a_folder_with_its_root_entry_and_zip_with_macos_junk(server, tmp_path):
    """Archives as common tools make them: ``tar czf b.tgz .`` (a ``.`` root member, names
    starting ``./``, real folder members) and macOS zips (``__MACOSX/`` resource forks)."""
    source = tmp_path / "src"
    for name, data in star_files().items():
        (source / "STAR" / name).parent.mkdir(parents=True, exist_ok=True)
        (source / "STAR" / name).write_bytes(data)
    tgz = tmp_path / "b.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(source, arcname=".")
    assert tarfile.open(tgz).getnames()[:2] == [".", "./STAR"]
    server.routes["/b.tgz"] = ServedFile(tgz.read_bytes())
    target = download_data("star", tmp_path / "data", url=server.url("/b.tgz"), progress=False)
    assert (target / "vis_db" / "s3d.pth").read_bytes() == star_files()["vis_db/s3d.pth"]
    assert (target / "txt_db").is_dir() and not (target / "STAR").exists()

    mac = make_zip(tmp_path / "mac.zip", star_files(), top="STAR")
    with zipfile.ZipFile(mac, "a") as zf:
        zf.writestr("__MACOSX/STAR/._train.jsonl", b"resource fork")
    members = check_archive(mac)
    assert data_zoo._plan_layout(mac, get_data("star"), members) == "STAR"
    out = tmp_path / "mac_out"
    safe_extract(mac, out, strip="STAR", exclude=data_zoo._is_junk)
    assert sorted(p.name for p in out.iterdir()) == ["txt_db", "vis_db"]


def test_gf_download_data_star_through_the_command(server, tmp_path, capsys):
    """`gf download data:star --url MIRROR --data-root R`, and `gf list data` shows the entry."""
    from gf.cli import main as gf_main

    archive = make_tar(tmp_path / "a.tgz", star_files())
    server.routes["/bundle"] = ServedFile(archive.read_bytes())
    root = tmp_path / "data"
    assert gf_main(["download", "data:star", "--url", server.url("/bundle"), "--data-root", str(root),
                    "--quiet"]) == 0
    out = capsys.readouterr().out
    assert str(root / "STAR") in out and sha(archive) in out
    assert build_split(root, "val")[0]["video"].shape == (4, D)
    assert gf_main(["list", "data"]) == 0
    assert f"data:star  -> <data_root>/STAR" in capsys.readouterr().out
    assert gf_main(["download", "data:star", "--dest", str(tmp_path / "x")]) == 2
    assert gf_main(["download", "https://example.org/f.bin", "--data-root", str(root)]) == 2


def test_download_data_offline_uses_the_cache_only_and_says_so(tmp_path):
    """``offline=True`` (as for ``download`` and ``download_pretrained``): a bundle not in the
    cache is an OfflineError naming it, and nothing is fetched or written under data_root."""
    from gf.common.download import OfflineError

    root = tmp_path / "data"
    with pytest.raises(OfflineError, match="offline"):
        download_data("star", root, url="http://127.0.0.1:9/never.zip", offline=True, progress=False)
    assert not (root / "STAR").exists()
