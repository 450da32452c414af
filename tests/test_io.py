"""gf.common.io: the shared JSONL writer, load_json's pass-through of json.load options, and the checks that
keep a command's outputs off its inputs and off files it did not write."""
import json
import os
import re

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


def test_check_outputs_apart_refuses_an_output_that_is_or_holds_an_input(tmp_path):
    from gf.common.errors import ConfigError
    from gf.common.io import check_outputs_apart

    data = tmp_path / "data"
    video = data / "clips" / "a.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(b"video")
    link = tmp_path / "link.mp4"
    link.symlink_to(video)
    hard = tmp_path / "hard.mp4"
    os.link(video, hard)
    inputs = [("--video", video), ("--weights", None)]
    cases = [(video, "is the same file as --video"), (link, "is the same file as --video"),
             (hard, "is the same file as --video"), (data / "clips" / ".." / "clips" / "a.mp4", "is the same file"),
             (data, "holds --video"), (data / "clips", "holds --video"), (tmp_path, "holds --video")]
    for out, says in cases:
        with pytest.raises(ConfigError, match=rf"^--out {re.escape(str(out))} {says} .*a\.mp4, an input of this "
                                              rf"command"):
            check_outputs_apart({"--out": out}, inputs, command="gf test")
    # beside or below an input, or a new path: fine (None paths are skipped)
    for out in (tmp_path / "features", data / "clips" / "a.mp4.features", data / "other", None):
        check_outputs_apart([("--out", out)], inputs, command="gf test")
    assert video.read_bytes() == b"video"


def test_check_replaceable_replaces_only_what_the_command_wrote(tmp_path):
    from gf.common.errors import ConfigError
    from gf.common.io import check_replaceable

    ours = tmp_path / "report.json"
    ours.write_text('{"written_by": "gf test"}')
    theirs = tmp_path / "notes.json"
    theirs.write_text("my notes")
    owned = lambda path: "gf test" in path.read_text()  # noqa: E731
    check_replaceable(ours, "--report", owned=owned, command="gf test")
    check_replaceable(tmp_path / "new.json", "--report", owned=owned, command="gf test")
    with pytest.raises(ConfigError, match=r"--report .*notes\.json exists and was not written by gf test"):
        check_replaceable(theirs, "--report", owned=owned, command="gf test")
    with pytest.raises(ConfigError, match=r"--report .* is a folder; give the path of a JSON file"):
        check_replaceable(tmp_path, "--report", owned=owned, command="gf test", kind="JSON file")


def test_is_gf_leftover_knows_the_lock_and_interrupted_writes_only():
    from gf.common.io import LOCK_NAME, is_gf_leftover

    assert is_gf_leftover(LOCK_NAME) and is_gf_leftover(".features.json.ab12cd34.tmp")
    assert not any(map(is_gf_leftover, ["features.json", "notes.tmp", ".hidden", "x.npy"]))


def _hold_in_another_process(folder, seconds):
    """A second process that holds ``folder``'s output lock for ``seconds``; returns once it holds it."""
    import subprocess
    import sys

    code = ("import sys, time; from gf.common.io import output_lock\n"
            "with output_lock(sys.argv[1], 'holder'):\n"
            "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_waiting_output_lock_gets_the_folder_once_the_holder_leaves_and_gives_up_after_its_wait(tmp_path):
    from gf.common.errors import OutputLockedError
    from gf.common.io import output_lock

    holder = _hold_in_another_process(tmp_path, 1.0)
    with pytest.raises(OutputLockedError, match="holder"):  # not waiting: refused at once, naming the holder
        output_lock(tmp_path, "me").acquire()
    with output_lock(tmp_path, "me", wait_s=60) as lock:  # waits for the holder to finish
        assert lock.held and holder.poll() is not None
        assert json.loads((tmp_path / ".gf.lock").read_text())["command"] == "me"
    holder = _hold_in_another_process(tmp_path, 30)
    try:
        with pytest.raises(OutputLockedError, match="holder"):  # a holder that stays: the wait ends
            output_lock(tmp_path, "me", wait_s=0.3).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_an_output_lock_waits_only_for_the_holders_wait_for_accepts_and_says_how_long_it_waited(tmp_path):
    import time

    from gf.common.errors import OutputLockedError
    from gf.common.io import output_lock

    holder = _hold_in_another_process(tmp_path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(OutputLockedError, match=r"\(holder\): .*another folder\.$"):  # not one to wait for
            output_lock(tmp_path, "me", wait_s=60, wait_for=lambda command: command != "holder").acquire()
        assert time.monotonic() - start < 10  # refused at once, not after the 60 s
        with pytest.raises(OutputLockedError, match=r"\(holder\): .* \(gave up after waiting 0 s\)$") as e:
            output_lock(tmp_path, "me", wait_s=0.3, wait_for=lambda command: command == "holder").acquire()
        assert e.value.command == "holder" and e.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_file_in_the_way_of_an_output_is_a_config_error_naming_it(tmp_path):
    """Not FileExistsError / NotADirectoryError / IsADirectoryError: an output path is the user's to fix."""
    from gf.common.errors import ConfigError
    from gf.common.io import atomic_write_text, output_lock

    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ConfigError, match=re.escape(f"{afile} cannot be an output folder: it is a file")):
        output_lock(afile, "me").acquire()
    with pytest.raises(ConfigError, match=re.escape(f"it lies under {afile}, which is a file")):
        atomic_write_text(afile / "sub" / "report.json", "{}")
    (tmp_path / "report.json").mkdir()
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'report.json'} is a folder")):
        atomic_write_text(tmp_path / "report.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "report.json"]  # no temporary file left


@pytest.mark.parametrize("target", ["elsewhere.txt", "missing.txt"])
def test_an_output_lock_file_that_is_a_symbolic_link_is_a_config_error_naming_it(tmp_path, target):
    """filelock refuses to follow it (O_NOFOLLOW), but the refusal was a raw
    `OSError: [Errno 40] Too many levels of symbolic links`, a traceback from the CLI."""
    from gf.common.errors import ConfigError
    from gf.common.io import output_lock

    (tmp_path / "elsewhere.txt").write_text("keep")
    (tmp_path / "out").mkdir()
    link = tmp_path / "out" / ".gf.lock"
    link.symlink_to(tmp_path / target)
    with pytest.raises(ConfigError, match=re.escape(f"{link} is a symbolic link; gf does not follow it for its "
                                                    f"lock: remove it")):
        output_lock(tmp_path / "out", "me").acquire()
    assert link.is_symlink() and (tmp_path / "elsewhere.txt").read_text() == "keep"
    assert not (tmp_path / "missing.txt").exists()


def test_an_output_lock_removes_the_folders_it_made_when_they_stay_empty(tmp_path):
    """A command refused after taking its folder's lock leaves no empty folder behind; a
    folder that existed, or that got content, stays."""
    from gf.common.io import output_lock

    with output_lock(tmp_path / "a" / "b", "me"):
        assert (tmp_path / "a" / "b" / ".gf.lock").is_file()
    assert list(tmp_path.iterdir()) == []
    with output_lock(tmp_path / "a" / "b", "me"):
        (tmp_path / "a" / "b" / "report.json").write_text("{}")
    assert (tmp_path / "a" / "b" / "report.json").is_file()
    (tmp_path / "c").mkdir()
    with output_lock(tmp_path / "c", "me"):
        pass
    assert (tmp_path / "c").is_dir()


def test_an_output_lock_whose_folder_is_removed_before_it_opens_the_lock_file_makes_it_again(tmp_path, monkeypatch):
    """The holder before us removes the empty folders it made when it leaves; a waiter that
    loses its folder between making it and opening ``.gf.lock`` makes it again instead of
    failing with a FileNotFoundError."""
    import shutil

    from gf.common.io import LOCK_NAME, output_lock

    real_open, removed = os.open, []

    def open_after_the_folder_is_removed(path, flags, *args, **kwargs):
        if str(path).endswith(LOCK_NAME) and not removed:
            removed.append(path)
            shutil.rmtree(tmp_path / "gone")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_after_the_folder_is_removed)
    with output_lock(tmp_path / "gone" / "run", "me") as lock:
        assert removed and lock.held and (tmp_path / "gone" / "run" / LOCK_NAME).is_file()
