"""gf.common.io: the shared JSONL writer and load_json's pass-through of json.load options."""
import json
import os

import pytest

from gf.common.io import DataFileError, atomic_write_jsonl, current_umask, load_json


def test_atomic_write_jsonl_writes_one_line_per_row_like_json_dumps(tmp_path):
    rows = [{"question_id": "q1", "question": "où ?"}, {"question_id": "q2", "options": ["a", "b"]}]
    path = tmp_path / "sub" / "train.jsonl"
    atomic_write_jsonl(path, (r for r in rows), ensure_ascii=False)  # a generator works too
    assert path.read_bytes() == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    atomic_write_jsonl(path, rows)  # json.dumps defaults otherwise
    assert path.read_text(encoding="utf-8") == "".join(json.dumps(r) + "\n" for r in rows)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~current_umask()  # not mkstemp's 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["train.jsonl"]


def test_atomic_write_jsonl_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("old\n")

    def rows():
        yield {"ok": 1}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write_jsonl(path, rows())
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]  # no temporary file left


def test_load_json_passes_json_options_and_keeps_its_messages(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"k": 1, "k": 2}')
    assert load_json(path) == {"k": 2}
    assert load_json(path, object_pairs_hook=list) == [("k", 1), ("k", 2)]
    path.write_text('{"k": ')
    with pytest.raises(DataFileError, match=r"a\.json: invalid JSON at line 1, column 7"):
        load_json(path, object_pairs_hook=list)
    with pytest.raises(DataFileError, match=r"answer file not found: .*missing\.json"):
        load_json(tmp_path / "missing.json", "answer file")


def test_current_umask_reads_the_process_umask():
    previous = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # reading it did not change it
    finally:
        os.umask(previous)
