"""gf extract over a job array: ``--shard I/N`` parts in one folder, ``--merge``, the SLURM script.

Real H.264 videos written by PyAV and timm's ``test_efficientnet`` with random init, as in
``test_extraction.py``. ``--batch-size 4`` with ``--num-frames 4`` makes every forward pass
one video's frames, in one run as in a part, so the features must be equal bit for bit.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gf.common.errors import ConfigError, DataFileError, OutputLockedError
from gf.common.io import output_lock
from gf.datasets.feature_recipe import identity
from gf.datasets.feature_stores import open_feature_store

from test_extraction import DEFAULTS, as_dict, extract, gf_extract
from video_fixtures import write_test_videos, write_video

REPO = Path(__file__).resolve().parents[1]
FLAGS = [x for kv in DEFAULTS.items() for x in kv] + ["--batch-size", "4", "--shard-size", "1", "--no-progress"]
#: part of every video under 3 parts: ids sorted (bad empty v1 v2 v3 w0 w1 w2 w3), the k-th to part k % 3
PARTS = {0: ["bad", "v2", "w1"], 1: ["empty", "v3", "w2"], 2: ["v1", "w0", "w3"]}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_test_videos(folder)  # v1 v2 v3, bad.mp4 (random bytes), empty.mp4
    for i in range(4):
        write_video(folder / f"w{i}.mp4", 1.0 + 0.3 * i, hue=30 * i + 10)
    return folder


@pytest.fixture(scope="module")
def one_run(videos, tmp_path_factory):
    """The same extraction without --shard: what the parts must add up to. One torch thread,
    as the parts' processes have (OMP_NUM_THREADS=1): another thread count may round the
    backbone's sums in another order, and the features are compared bit for bit."""
    import torch

    out = tmp_path_factory.mktemp("one") / "out"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(DataFileError, match="2 of 9 videos failed"):
            extract(videos, out, "--batch-size", "4", "--shard-size", "1")
    finally:
        torch.set_num_threads(threads)
    return out


def env_with(**extra):
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1",
                PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]), **extra)


def gf_command(videos, out, *extra):
    return [sys.executable, "-m", "gf", "extract", "--videos", str(videos), "--out", str(out), *FLAGS, *extra]


def extract_parts(videos, out, *flags, count=3):
    """Parts 0..count-1 one after the other in this process; ``{part: error}`` of the parts
    that ended with failures."""
    errors = {}
    for i in range(count):
        try:
            extract(videos, out, *flags, "--shard", f"{i}/{count}")
        except DataFileError as e:
            errors[i] = str(e)
    return errors


def failure_lines(out):
    return sorted((Path(out) / "failures.jsonl").read_text().splitlines())


def assert_same_as_one_run(out, one):
    """Same keys and equal arrays through the builders' store, one recipe (of the same
    identity), the same failures, and every stored key in exactly one file of the index."""
    got, want = as_dict(open_feature_store(out)), as_dict(open_feature_store(one))
    assert sorted(got) == sorted(want) == ["v1", "v2", "v3", "w0", "w1", "w2", "w3"]
    for key in want:
        assert np.array_equal(got[key], want[key]), key
    assert [p.name for p in Path(out).rglob("features.json")] == ["features.json"]
    recipes = [json.loads((Path(d) / "features.json").read_text()) for d in (out, one)]
    assert identity(recipes[0]) == identity(recipes[1])
    assert failure_lines(out) == failure_lines(one)
    assert sorted((Path(out) / "failed_keys.txt").read_text().split()) == ["bad", "empty"]
    index = json.loads((Path(out) / "index.json").read_text())
    listed = [k for keys in index["files"].values() for k in keys]
    assert sorted(listed) == sorted(want) and index["samples"] == 7 and index["failed"] == 2
    assert not list(Path(out).rglob("*.tmp"))


# ---------------------------------------------------------------------------------------
def test_three_concurrent_array_tasks_then_the_merge_give_the_one_run(videos, one_run, tmp_path):
    """The SLURM script, with the variables SLURM sets for tasks 0..2 of an array and a fake
    sbatch that records the merge job; the three `python -m gf extract` run at once."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "sbatch_calls"
    (bin_dir / "sbatch").write_text(f'#!/usr/bin/env bash\nprintf "%s\\0" "$@" >> {calls}\necho >> {calls}\n')
    (bin_dir / "sbatch").chmod(0o755)
    out = tmp_path / "out"
    env = env_with(SLURM_ARRAY_TASK_COUNT="3", SLURM_ARRAY_TASK_MIN="0", SLURM_ARRAY_JOB_ID="4242")
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])
    script = str(REPO / "run_scripts/extract/slurm_array.sh")
    args = ["--videos", str(videos), "--out", str(out), *FLAGS]
    procs = [subprocess.Popen(["bash", script, *args], env=dict(env, SLURM_ARRAY_TASK_ID=str(i)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    outputs = [p.communicate(timeout=600) for p in procs]
    # parts 0 and 1 hold bad.mp4 and empty.mp4: they end with the failures code, part 2 with 0
    assert [p.returncode for p in procs] == [3, 3, 0], [o[1][-2000:] for o in outputs]
    assert "parts/part-0-of-3/failures.jsonl" in outputs[0][1]
    assert sorted(p.name for p in out.glob("*.tar")) == sorted(
        f"part-{i}-of-3-{n:06d}.tar" for i, keys in PARTS.items() for n in range(len(keys) - (i < 2)))
    for i, keys in PARTS.items():
        assert json.loads((out / "parts" / f"part-{i}-of-3" / "plan.json").read_text())["keys"] == keys
    assert not (out / "index.json").exists() and not (out / "failures.jsonl").exists()

    recorded = [line.strip("\0").split("\0") for line in calls.read_text().splitlines() if line]
    assert len(recorded) == 1  # only the array's first task queues the merge
    assert recorded[0][:2] == ["--dependency=afterany:4242", "--job-name=gf-extract-merge"]
    wrap = recorded[0][2]
    assert wrap.startswith("--wrap=python -m gf extract --merge --out ")
    merge = subprocess.run(["bash", "-c", wrap[len("--wrap="):]], env=env, capture_output=True, text=True)
    assert merge.returncode == 3, merge.stderr  # the merged failures, as one run reports them
    assert "2 of 9 videos failed" in merge.stderr and str(out / "failures.jsonl") in merge.stderr
    assert json.loads(merge.stdout)["samples"] == 7
    assert_same_as_one_run(out, one_run)


KILLER = """
import os, signal, sys, tarfile
real = tarfile.TarFile.addfile
calls = []
def addfile(self, *a, **k):  # shards of one sample (2 members): the 3rd member opens the 2nd shard
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *a, **k)
tarfile.TarFile.addfile = addfile
from gf.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_part_killed_while_writing_a_shard_resumes_and_the_merge_waits_for_it(videos, one_run, tmp_path):
    out = tmp_path / "out"
    env = env_with()
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    for i in (0, 1):
        subprocess.run(gf_command(videos, out, "--shard", f"{i}/3"), env=env, capture_output=True, timeout=600)
    cmd = gf_command(videos, out, "--shard", "2/3")
    killed = subprocess.run([sys.executable, str(killer), *cmd[3:]], env=env, capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    first = out / "part-2-of-3-000000.tar"
    half = list(out.glob(".part-2-of-3-000001.tar.*.tmp"))
    assert first.exists() and len(half) == 1  # the shard being written when it was killed
    inode = first.stat().st_ino

    with pytest.raises(DataFileError, match=r"part 2/3 did not finish .*--shard 2/3\); it resumes") as err:
        gf_extract("--merge", "--out", out)
    assert "part 0/3" not in str(err.value)
    assert not (out / "index.json").exists() and not (out / "failures.jsonl").exists()  # nothing merged

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["skipped"] == 1 and json.loads(again.stdout)["written"] == 2
    assert first.stat().st_ino == inode and not half[0].exists()  # kept; the half-written one removed
    with pytest.raises(DataFileError, match="2 of 9 videos failed"):
        gf_extract("--merge", "--out", out)
    assert_same_as_one_run(out, one_run)


SETUP_KILLER = """
import os, signal, sys
from gf.extraction import shards
real = shards.atomic_write_json
def first_write_then_die(*a, **k):  # the first file the setup of a fresh folder writes, then SIGKILL
    real(*a, **k)
    os.kill(os.getpid(), signal.SIGKILL)
shards.atomic_write_json = first_write_then_die
from gf.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_first_job_killed_while_setting_the_folder_up_is_resumed_by_its_rerun(videos, tmp_path):
    """Killed after the first of the setup's writes, nothing stored yet: the rerun (and the
    other parts) carry on; the layout was written first and locked the folder for good."""
    out = tmp_path / "out"
    killer = tmp_path / "killer.py"
    killer.write_text(SETUP_KILLER)
    killed = subprocess.run([sys.executable, str(killer), *gf_command(videos, out, "--shard", "2/3")[3:]],
                            env=env_with(), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not list(out.glob("*.tar"))
    assert extract(videos, out, "--shard", "2/3", "--batch-size", "4", "--shard-size", "1") == 0
    assert sorted(open_feature_store(out).keys()) == PARTS[2]
    assert json.loads((out / "parts" / "layout.json").read_text())["parts"] == 3


def test_npy_works_sharded_and_a_builder_reads_the_merged_windows(videos, tmp_path):
    """STAR-style windows (questions split with their video; one whose video is missing is
    a failure of the part its video id falls in), --format npy, parts run one after the
    other in this process, read back by the `star` builder as the one run is."""
    from gf.common.registry import registry
    from gf.datasets.videoqa import collate_videoqa

    windows = [{"question_id": f"Interaction_q{i}", "video_id": vid, "start": 0.1 * i, "end": 0.1 * i + 0.8}
               for i, vid in enumerate(["v1", "v1", "v2", "v3", "w0", "w1", "w2", "w3", "nope"])]
    ann = tmp_path / "STAR" / "txt_db" / "val.jsonl"
    ann.parent.mkdir(parents=True)
    ann.write_text("".join(json.dumps({**w, "question": "q?", "options": list("abcd"), "answer": 0}) + "\n"
                           for w in windows))
    (ann.parent / "action_mapping.txt").write_text("open\nclose")
    flags = ["--windows", ann, "--format", "npy", "--batch-size", "4"]
    with pytest.raises(DataFileError, match="1 of 9 questions failed"):
        extract(videos, tmp_path / "one", *flags)
    errors = extract_parts(videos, tmp_path / "parts", *flags)
    assert list(errors) == [0] and "question Interaction_q8" in errors[0]  # 'nope' sorts first: part 0
    assert str(tmp_path / "parts" / "parts" / "part-0-of-3" / "failures.jsonl") in errors[0]
    with pytest.raises(DataFileError, match="1 of 9 questions failed"):
        gf_extract("--merge", "--out", tmp_path / "parts")
    assert failure_lines(tmp_path / "parts") == failure_lines(tmp_path / "one")
    batches = []
    for features in ("one", "parts"):
        builder = registry.get_builder_class("star")({
            "data_root": str(tmp_path), "features": str(tmp_path / features), "events": None, "max_feats": 6,
            "annotations": {"val": "txt_db/val.jsonl"}, "splits": ["val"], "unlabelled_splits": [],
            "skip_file": str(tmp_path / features / "failed_keys.txt")})
        split = builder.build_datasets(["val"])["val"]
        batches.append(collate_videoqa([split[i] for i in range(len(split))]))
    assert batches[0]["question_id"] == batches[1]["question_id"] == [f"Interaction_q{i}" for i in range(8)]
    assert batches[1]["video"].abs().sum() > 0
    for name in ("video", "video_mask"):
        assert np.array_equal(batches[0][name].numpy(), batches[1][name].numpy())


@pytest.mark.parametrize("fmt", ["pth", "h5"])
def test_a_format_gathered_into_one_file_is_refused_with_shard(videos, tmp_path, fmt):
    with pytest.raises(ConfigError, match=rf"--format {fmt} gathers every sample into one file.* --format "
                                          rf"webdataset \(default\) or npy") as err:
        extract(videos, tmp_path / "new" / "out", "--format", fmt, "--shard", "0/2")
    assert err.value.exit_code == 2 and not (tmp_path / "new").exists()


@pytest.mark.parametrize("shard, match", [
    ("3/3", r"--shard '3/3': I must be in 0\.\.2"), ("-1/3", r"I must be in 0\.\.2"),
    ("1/0", r"N \(the number of shards\) must be >= 1"), ("x/3", r"--shard must look like I/N"),
    ("1", r"--shard must look like I/N"),
])
def test_a_bad_shard_is_refused_before_anything_is_made(videos, tmp_path, shard, match):
    with pytest.raises(ConfigError, match=match):
        extract(videos, tmp_path / "new" / "out", f"--shard={shard}")
    assert not (tmp_path / "new").exists()


def test_jobs_of_one_array_must_agree_and_the_folder_is_one_kind(videos, one_run, tmp_path):
    out = tmp_path / "out"
    some = tmp_path / "some.txt"
    some.write_text(f"{videos / 'v1.mp4'}\n{videos / 'v2.mp4'}\n")
    with pytest.raises(DataFileError):  # part 0 of 3 holds bad.mp4
        extract(videos, out, "--shard", "0/3", "--batch-size", "4")
    recipe = (out / "features.json").read_text()
    layout = (out / "parts" / "layout.json").read_text()
    for flags, match in (
            (["--shard", "1/3", "--seed", "1"], r"--shard 1/3: .*features\.json \(the recipe of .*, followed by "
                                                r"part-0-of-3\) differs from this job's \(recipe's value -> this "
                                                r"job's\): backbone\.weights\.seed: 0 -> 1"),
            (["--shard", "1/4"], r"--shard 1/4: .* is extracted in 3 parts .*not 4: give --shard I/3")):
        with pytest.raises(ConfigError, match=match):
            extract(videos, out, *flags)
    with pytest.raises(ConfigError, match=r"this job lists other samples \(2\) than the job that started .* \(9;"):
        extract(some, out, "--shard", "1/3")
    assert (out / "features.json").read_text() == recipe and (out / "parts" / "layout.json").read_text() == layout
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["layout.json", "part-0-of-3"]

    with output_lock(out / "parts" / "part-1-of-3", "gf extract --shard 1/3"):  # the same part, elsewhere
        with pytest.raises(OutputLockedError, match="part-1-of-3 is in use by process"):
            extract(videos, out, "--shard", "1/3")
    with pytest.raises(ConfigError, match=r"is extracted by a job array .*run its parts with --shard I/3, or gf "
                                          r"extract --merge"):
        extract(videos, out)
    with pytest.raises(ConfigError, match=r"--shard 0/2: --out .* holds features of a run without --shard"):
        extract(videos, shutil.copytree(one_run, tmp_path / "copy"), "--shard", "0/2")
    assert not (tmp_path / "copy" / "parts").exists()
    with pytest.raises(ConfigError, match=r"--merge .*: not a folder extracted with gf extract --shard"):
        gf_extract("--merge", "--out", one_run)
    with pytest.raises(ConfigError, match="--merge joins the parts already in --out; drop --videos"):
        gf_extract("--merge", "--out", out, "--videos", videos)


def test_a_job_waits_for_another_jobs_setup_and_refuses_a_run_without_shard(videos, tmp_path, monkeypatch):
    from gf.common import io

    out = tmp_path / "out"
    with output_lock(out, "gf extract"):  # a run without --shard holds the folder for hours
        with pytest.raises(OutputLockedError, match=r"in use by process \d+ \(gf extract\)"):
            extract(videos, out, "--shard", "2/3")
    setup = output_lock(out, "gf extract --shard 0/3 (setting up)").acquire()
    sleeps = []
    monkeypatch.setattr(io.time, "sleep", lambda s: sleeps.append(s) or setup.release())
    assert extract(videos, out, "--shard", "2/3", "--batch-size", "4") == 0  # waited once, then went on
    assert len(sleeps) == 1 and sorted(open_feature_store(out).keys()) == PARTS[2]
    # a job that has taken the lock but not yet written its command into it is waited for
    # too (it was refused as if it were a run without --shard)
    import fcntl
    fd = os.open(out / ".gf.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)
    sleeps.clear()
    monkeypatch.setattr(io.time, "sleep", lambda s: sleeps.append(s) or os.close(fd))
    assert extract(videos, out, "--shard", "2/3", "--batch-size", "4") == 0  # its samples stored: skipped
    assert len(sleeps) == 1


def test_a_job_waits_for_a_stuck_merge_ten_minutes_then_gives_up_naming_it(videos, tmp_path, monkeypatch):
    """A holder that should take moments but stays (a hung merge) ends the wait with an error
    naming it, instead of a job spinning forever. The clock is faked: sleeps advance it."""
    from gf.common import io

    out = tmp_path / "out"
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds
        if clock[0] > 3600:
            raise RuntimeError("still waiting after an hour: the job never gives up")

    monkeypatch.setattr(io.time, "sleep", sleep)
    monkeypatch.setattr(io.time, "monotonic", lambda: clock[0])
    with output_lock(out, "gf extract --merge"):
        with pytest.raises(OutputLockedError, match=r"in use by process \d+ \(gf extract --merge\).* \(gave up "
                                                    r"after waiting 600 s\)"):
            extract(videos, out, "--shard", "1/3")
    assert 600 <= clock[0] < 602


def test_the_merge_names_a_key_stored_twice_a_missing_one_and_a_part_that_never_ran(videos, tmp_path):
    out = tmp_path / "out"
    assert sorted(extract_parts(videos, out, "--batch-size", "4", "--shard-size", "1")) == [0, 1]
    merged = [out / name for name in ("index.json", "failures.jsonl", "failed_keys.txt")]
    # the advice names the reruns of the parts holding the failed videos, then the merge
    with pytest.raises(DataFileError, match=r"2 of 9 videos failed .*fix or remove the failed videos and rerun the "
                                            r"parts that hold them \(--shard 0/3, --shard 1/3; stored samples are "
                                            r"skipped\), then gf extract --merge --out .*out again\.$"):
        gf_extract("--merge", "--out", out)
    assert all(p.exists() for p in merged)
    assert extract(videos, out, "--shard", "2/3", "--batch-size", "4", "--shard-size", "1") == 0
    assert not any(p.exists() for p in merged)  # a part rerun: the merge's lists go with its index
    with pytest.raises(DataFileError, match="2 of 9 videos failed"):
        gf_extract("--merge", "--out", out)
    shutil.copy(out / "part-2-of-3-000000.tar", out / "copy.tar")
    with pytest.raises(DataFileError, match=r"1 key\(s\) stored more than once, e.g. 'v1' in copy\.tar and "
                                            r"part-2-of-3-000000\.tar"):
        gf_extract("--merge", "--out", out)
    assert not any(p.exists() for p in merged)  # so does a refused merge
    os.unlink(out / "copy.tar")
    os.unlink(out / "part-1-of-3-000001.tar")
    with pytest.raises(DataFileError, match=r"1 sample\(s\) neither stored nor listed as failed \('w2'\) of part\(s\) "
                                            r"1/3: rerun"):
        gf_extract("--merge", "--out", out)
    os.unlink(out / "parts" / "part-0-of-3" / "plan.json")
    with pytest.raises(DataFileError, match=r"part 0/3 never ran .*run it with --shard 0/3"):
        gf_extract("--merge", "--out", out)
    with output_lock(out / "parts" / "part-1-of-3", "gf extract --shard 1/3"):
        with pytest.raises(DataFileError, match=r"part 1/3 is still running \(process \d+\)"):
            gf_extract("--merge", "--out", out)
    assert not (out / "index.json").exists()  # a refused merge removes the earlier merge's index


def test_the_array_script_numbers_parts_from_the_arrays_first_id_and_reruns_one_part(tmp_path):
    """With `python` and `sbatch` faked (recording their arguments): --array=1-4 gives parts
    0..3 of 4, only the first task queues the merge, GF_EXTRACT_PARTS reruns one part alone
    (GF_EXTRACT_FIRST: the original array's first id), and a call outside an array, without
    --out or with a bad GF_EXTRACT_FIRST runs nothing."""
    from gf.cli import build_parser

    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("python", "sbatch"):
        (bin_dir / name).write_text(f'#!/usr/bin/env bash\nprintf "%s\\0" {name} "$@" >> {calls}\necho >> {calls}\n')
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    script = str(REPO / "run_scripts/extract/slurm_array.sh")
    args = ["bash", script, "--videos", "v", "--out=/data/o u t", "--backbone", "b"]

    def run(**slurm):
        calls.unlink(missing_ok=True)
        proc = subprocess.run(args, env={**env, **slurm}, capture_output=True, text=True)
        recorded = [line.strip("\0").split("\0") for line in calls.read_text().splitlines()] if calls.exists() else []
        return proc.returncode, recorded

    array = {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_JOB_ID": "77"}
    code, recorded = run(**array, SLURM_ARRAY_TASK_ID="3")
    assert code == 0 and recorded == [["python", "-m", "gf", "extract", *args[2:], "--shard", "2/4", "--no-progress"]]
    build_parser().parse_args(recorded[0][3:])  # a command gf accepts
    code, recorded = run(**array, SLURM_ARRAY_TASK_ID="1")
    assert code == 0 and [r[0] for r in recorded] == ["sbatch", "python"] and recorded[1][-2] == "0/4"
    assert recorded[0][1:3] == ["--dependency=afterany:77", "--job-name=gf-extract-merge"]
    assert recorded[0][3] == "--wrap=python -m gf extract --merge --out /data/o\\ u\\ t"
    rerun = {"SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_JOB_ID": "78"}
    code, recorded = run(**rerun, SLURM_ARRAY_TASK_ID="5", GF_EXTRACT_PARTS="8")
    assert code == 0 and recorded[0][1] == "--dependency=afterany:78" and recorded[1][-2] == "5/8"
    # a rerun of task 6 of --array=1-8 runs part 5, given the original array's first id
    code, recorded = run(**{**rerun, "SLURM_ARRAY_TASK_MIN": "6"}, SLURM_ARRAY_TASK_ID="6", GF_EXTRACT_PARTS="8",
                         GF_EXTRACT_FIRST="1")
    assert code == 0 and recorded[1][-2] == "5/8"
    assert run(**rerun, SLURM_ARRAY_TASK_ID="5", GF_EXTRACT_PARTS="8", GF_EXTRACT_FIRST="x")[0] == 2 and not calls.exists()
    assert run(**array, SLURM_ARRAY_TASK_ID="1", GF_EXTRACT_FIRST="1")[0] == 2 and not calls.exists()
    assert run()[0] != 0 and not calls.exists()  # not an array task
    args.remove("--out=/data/o u t")
    assert run(**array, SLURM_ARRAY_TASK_ID="1")[0] == 2 and not calls.exists()


def test_a_two_stream_clip_recipe_works_sharded_and_merges_into_the_one_run(videos, tmp_path):
    """Appearance (timm) + motion (random-init r2plus1d_18 clips) rows, three parts then the
    merge: the same rows as one run (one video per forward pass in both), one recipe."""
    from test_extraction_clips import extract as clip_extract

    flags = ["--backbone", "test_efficientnet", "--input-size", "64", "--motion-backbone", "torchvision:r2plus1d_18",
             "--motion-input-size", "32", "--clip-len", "4", "--num-clips", "2", "--batch-size", "2"]
    with pytest.raises(DataFileError, match="2 of 9 videos failed"):
        clip_extract(videos, tmp_path / "one", *flags)
    for i in range(3):
        with pytest.raises(DataFileError) if i < 2 else contextlib.nullcontext():  # 'bad', 'empty': parts 0, 1
            clip_extract(videos, tmp_path / "parts", *flags, "--shard", f"{i}/3")
    with pytest.raises(DataFileError, match="2 of 9 videos failed"):
        gf_extract("--merge", "--out", tmp_path / "parts")
    got, want = as_dict(open_feature_store(tmp_path / "parts")), as_dict(open_feature_store(tmp_path / "one"))
    assert sorted(got) == sorted(want) and len(want) == 7
    for key in want:
        assert got[key].shape == (2, 256 + 512) and np.array_equal(got[key], want[key]), key
    recipe = json.loads((tmp_path / "parts" / "features.json").read_text())
    assert recipe["motion_backbone"]["name"] == "torchvision:r2plus1d_18"
    assert identity(recipe) == identity(json.loads((tmp_path / "one" / "features.json").read_text()))
