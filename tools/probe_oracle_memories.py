"""Is the demo's Sequence type limited by the glance (event detection) or by the focus stage?

Trains the demo recipe with *perfect* memories: each video's ground-truth events, embedded
by class and put in their true temporal order, replace the glance stage's memory prompts
(the glance still runs and is still trained; only what the focus stage reads changes).
If Sequence stays at chance here, better event detection cannot fix it: the focus stage
does not learn "what happened right after X" from this much data.

Not a test (pytest does not collect it). Prints the run's per-type tables. It probes the
demo's model type (``demo_sup_grounded``; with ``grounded_answer`` its pointer reads the
ground-truth events too) unless told otherwise. Example (the published model, the demo
benchmark, Sequence questions only, 40 epochs; README "Demo"):

    python tools/probe_oracle_memories.py --types Sequence --epochs 40 model.model_type=demo_sup

Extra ``key=value`` arguments go to ``--options`` (e.g. ``run.lr=1e-3``). This module is
also the plugin that registers the model ``glance_focus_oracle_memories``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from gf.benchmarks.synthetic.models import demo_sup, demo_sup_grounded
from gf.common.registry import registry
from gf.models.glance_focus.model import GlanceFocus

ROOT = Path(__file__).resolve().parents[1]
MODEL = "glance_focus_oracle_memories"


@registry.register_model(MODEL)
class GlanceFocusOracleMemories(GlanceFocus):
    """Glance-Focus whose focus stage reads the ground-truth events, in temporal order."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_embed = nn.Embedding(self.config.event_pred_dim, self.config.d_model)

    def forward(self, batch):
        self._targets = (batch["spans"], batch["event_classes"])
        return super().forward(batch)

    def sort_memories(self, memory_prompt, pred_spans, pred_logits=None):
        spans, classes = self._targets
        b, q = memory_prompt.shape[:2]
        background = self.config.event_pred_dim - 1
        cls = torch.full((b, q), background, dtype=torch.long, device=memory_prompt.device)
        key = torch.full((b, q), 2.0, device=memory_prompt.device)  # no-event slots go last
        for i, (s, c) in enumerate(zip(spans, classes)):
            n = min(len(c), q)
            cls[i, :n] = c[:n].long()
            key[i, :n] = s[:n, 0]
        order = key.argsort(dim=1, stable=True)
        return self.class_embed(cls.gather(1, order))


registry.register_model_type(MODEL, "demo_sup")(demo_sup)
registry.register_model_type(MODEL, "demo_sup_grounded")(demo_sup_grounded)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", nargs="+", default=None,
                        help="question types to keep (e.g. Sequence); others go to a skip file")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-per-type", type=int, default=None,
                        help="training questions per type (the demo's default: 750); a larger "
                             "benchmark is generated into --data-root")
    parser.add_argument("--data-root", default=os.environ.get("DATA_ROOT", str(ROOT / "gf_data")))
    parser.add_argument("--output-dir", default=str(ROOT / "output" / "probe_oracle_memories"))
    parser.add_argument("options", nargs="*", help="extra key=value config overrides")
    args = parser.parse_args(argv)

    env = dict(os.environ, DATA_ROOT=args.data_root,
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    options = [f"run.output_dir={args.output_dir}", f"run.epochs={args.epochs}"]
    if args.train_per_type is not None:
        options.append(f"datasets.synthetic_star.generator.train_per_type={args.train_per_type}")
    options += list(args.options)
    with tempfile.TemporaryDirectory() as tmp:
        project = (ROOT / "projects/glance_focus/demo/train_sup.yaml").read_text(encoding="utf-8")
        cfg_path = Path(tmp) / "oracle.yaml"
        cfg_path.write_text("plugins: [probe_oracle_memories]\n"
                            + project.replace("name: glance_focus\n", f"name: {MODEL}\n", 1), encoding="utf-8")
        if args.types:
            # generate the benchmark now (as the builder would on first use) to list its ids
            from omegaconf import OmegaConf

            from gf.benchmarks.synthetic.config import SyntheticStarConfig
            from gf.benchmarks.synthetic.generate import ensure_synthetic_star

            generator = OmegaConf.to_container(OmegaConf.create(project).datasets.synthetic_star.generator)
            if args.train_per_type is not None:
                generator["train_per_type"] = args.train_per_type
            folder = Path(args.data_root) / "SYNTHETIC_STAR"
            ensure_synthetic_star(folder, SyntheticStarConfig.from_dict(generator))
            txt_db = folder / "txt_db"
            skip = Path(tmp) / "skip.txt"
            with skip.open("w", encoding="utf-8") as out:
                for split in ("train", "val", "test"):
                    for line in (txt_db / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
                        qid = json.loads(line)["question_id"]
                        if qid.split("_")[0] not in args.types:
                            out.write(qid + "\n")
            options.append(f"datasets.synthetic_star.skip_file={skip}")
        cmd = [sys.executable, "-m", "gf", "train", "--cfg-path", str(cfg_path), "--options", *options]
        return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
