"""How often do a trained model's time-sorted memories spell the annotated event sequence?

"Right after X" can only be read off the memories when neighbouring slots hold
neighbouring events. This loads a gf checkpoint of a ``memory: sup`` model, runs the
glance stage on every clip of a split of the synthetic benchmark (or any benchmark whose
builder returns ``spans``/``event_classes``), keeps the slots whose most likely class is an
event, orders them by predicted centre and compares their classes with the annotated
events in time order. Printed per split: clips whose sequence is exactly right, clips
with a repeated class, clips with the right number of events and with the right set.

Not a test (pytest does not collect it). Example, on the demo's run folder:

    python tools/probe_event_sequences.py output/glance_focus/demo/train_sup/demo_sup_grounded/checkpoint_best.pth
    python tools/probe_event_sequences.py CKPT --suppress-duplicates   # gf's dedup on
"""
from __future__ import annotations

import argparse
import collections
import sys

import torch
from omegaconf import OmegaConf

from gf.api import load_dataset, load_model
from gf.common.safe_load import torch_load_safe
from gf.models.glance_focus.model import duplicate_events


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a gf checkpoint (checkpoint_best.pth / checkpoint_last.pth)")
    parser.add_argument("--dataset", default=None, help="builder name (default: the run's only dataset)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--suppress-duplicates", action="store_true",
                        help="drop a less confident overlapping copy of an event first (suppress_duplicate_events)")
    args = parser.parse_args(argv)

    state = torch_load_safe(args.checkpoint)
    run_cfg = OmegaConf.create(state["config"])
    datasets = OmegaConf.to_container(run_cfg.datasets, resolve=True)
    name = args.dataset or next(iter(datasets))
    split = load_dataset(name, datasets[name], splits=[args.split])[args.split]
    model = load_model("glance_focus", checkpoint=args.checkpoint).eval()
    background = model.config.event_pred_dim - 1

    stats = collections.Counter()
    for i in range(len(split)):
        sample = split[i]
        if "event_classes" not in sample:
            raise SystemExit(f"{name} {args.split}: sample {i} has no event annotations to compare with")
        video = sample["video"][None]
        pad = None if sample.get("video_mask") is None else ~sample["video_mask"][None].bool()
        with torch.no_grad():
            out = model.glance(model._project_frames(video), pad)
        logits, spans = out["pred_logits"], out["pred_spans"]
        keep = logits.argmax(-1) != background
        if args.suppress_duplicates:
            keep &= ~duplicate_events(logits, spans)
        classes = logits[0].argmax(-1)
        predicted = [int(classes[j]) for j in spans[0, :, 0].argsort() if keep[0, j]]
        annotated = [int(c) for c in sample["event_classes"][sample["spans"][:, 0].argsort()]]
        stats["clips"] += 1
        stats["exact sequence"] += predicted == annotated
        stats["a class repeated"] += len(predicted) != len(set(predicted))
        stats["right number of events"] += len(predicted) == len(annotated)
        stats["right set of classes"] += set(predicted) == set(annotated)
    print(f"{args.checkpoint} -- {name} {args.split}"
          f"{' (duplicates suppressed)' if args.suppress_duplicates else ''}")
    for key, value in stats.items():
        print(f"  {key:<24} {value:>6}" + ("" if key == "clips" else f"  ({100.0 * value / stats['clips']:.1f}%)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
