"""gf.common.dist under torchrun: leaving the process group leaves no gloo thread behind."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RANK_SCRIPT = textwrap.dedent("""
    import os
    import torch
    from gf.common import dist

    def threads():
        return len(os.listdir("/proc/self/task"))

    before = threads()
    assert dist.init_distributed(torch.device("cpu"))
    import torch.distributed.nn.functional  # what transformers imports as it loads a text encoder
    parts = dist.all_gather_objects(dist.get_rank())
    assert parts == [0, 1], parts
    dist.cleanup()
    print(f"rank {os.environ['RANK']}: threads {before} -> {threads()}", flush=True)
    assert threads() == before, "gloo threads outlived destroy_process_group"
""")


def test_cleanup_ends_the_process_groups_threads(tmp_path):
    """A process group still referenced after destroy_process_group keeps gloo's threads
    until interpreter shutdown, where they sometimes abort a finished rank (SIGABRT)."""
    if not os.path.isdir("/proc/self/task"):
        import pytest
        pytest.skip("counting threads needs /proc (Linux)")
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script)], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("threads") == 2
