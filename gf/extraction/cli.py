"""Arguments and entry point of ``gf extract`` (wired into ``gf.cli`` as a sub-command).

Three modes share the command, because all are about one output folder:
``gf extract --videos ... --out DIR --backbone NAME`` extracts,
``gf extract --merge --out DIR`` joins the parts a job array extracted into DIR, and
``gf extract --verify REFERENCE --out DIR`` compares DIR's features with a reference.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from gf.common.errors import ConfigError, DataFileError

__all__ = ["add_arguments", "run"]

#: the defaults of the options that have one, filled in by :func:`_refuse` only after
#: each mode has refused the options it does not use: parsed as ``None``, an option the
#: user typed is told from one left out even when its value is the default
_DEFAULTS = {"window_tolerance": 0.5, "timeout_per_video": 300.0, "clip_stride": 1, "seed": 0, "batch_size": 64,
             "workers": 2, "format": "webdataset", "shard_size": 1000, "min_cosine": 0.99}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("what to extract")
    g.add_argument("--videos", metavar="DIR|LIST",
                   help="folder of videos (searched recursively; key = file name without extension) or a text file "
                        "with one video path per line (relative to the list's folder)")
    g.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: the features, features.json (the recipe) and failures.jsonl")
    g.add_argument("--windows", nargs="+", action="extend", metavar="ANNOTATIONS",
                   help="STAR-style annotation files (JSON list or JSONL with question_id, video_id, start, end in "
                        "seconds): one sample per question over its [start, end], keyed by question_id")
    g.add_argument("--window-tolerance", type=float, metavar="S",
                   help="a window may end up to S seconds after the video's end (clipped); more is a failure "
                        "(default 0.5)")
    g = parser.add_argument_group("frames")
    s = g.add_mutually_exclusive_group()
    s.add_argument("--num-frames", type=int, metavar="N",
                   help="N frames per sample, uniformly over the video or window (default 32)")
    s.add_argument("--fps", type=float, metavar="F", help="F frames per second of video or window")
    g.add_argument("--timeout-per-video", type=float, metavar="S",
                   help="a video whose decoding takes longer fails with that reason (default 300; 0 = no limit)")
    _add_clip_arguments(parser)
    g = parser.add_argument_group("backbone")
    g.add_argument("--backbone", metavar="NAME",
                   help="a timm model name (timm.list_models()): one row per frame; or a clip model, "
                        "torchvision:NAME (torchvision's video models, e.g. torchvision:s3d) or hf:FOLDER|ID "
                        "(VideoMAE, X-CLIP's vision tower): one row per clip")
    g.add_argument("--weights", metavar="FILE",
                   help="local weights: a timm (or torchvision) state dict as .safetensors or torch.save file "
                        "(read without unpickling objects)")
    g.add_argument("--pretrained", action="store_true",
                   help="without --weights: let timm (torchvision, transformers) download the model's default "
                        "pretrained weights")
    g.add_argument("--seed", type=int,
                   help="seed of the random initialisation when neither --weights nor --pretrained (tests only; "
                        "default 0)")
    g.add_argument("--input-size", type=int, metavar="PX",
                   help="override the model's square input size (the rest of its data config is kept)")
    g.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    g.add_argument("--batch-size", type=int,
                   help="frames (clips, for a clip model) per forward pass, across videos (default 64)")
    g.add_argument("--workers", type=int,
                   help="DataLoader processes decoding videos while the backbone runs (0 = in this process; "
                        "default 2)")
    g = parser.add_argument_group("output")
    g.add_argument("--format", metavar="FMT",
                   help="webdataset (default: tar shards) | pth | h5 | npy")
    g.add_argument("--shard-size", type=int, metavar="N", help="samples per webdataset shard (default 1000)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = parser.add_argument_group("job array (see gf.extraction.shards)")
    g.add_argument("--shard", metavar="I/N",
                   help="extract the I-th (from 0) of N disjoint parts into --out, beside the other jobs' parts "
                        "(e.g. ${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}); --format webdataset or npy")
    g.add_argument("--merge", action="store_true",
                   help="once every part is done: check that each sample is stored once or failed, merge the "
                        "failure lists and write index.json (only --out is read)")
    g = parser.add_argument_group("verify (instead of extracting)")
    g.add_argument("--verify", metavar="REFERENCE",
                   help="compare --out's features with this feature file or folder (any store format)")
    g.add_argument("--reference-format", metavar="FMT", help="store format of REFERENCE (default: detected)")
    g.add_argument("--reference-dataset", metavar="NAME",
                   help="HDF5 reference: the dataset holding the features (default resnet_features)")
    g.add_argument("--reference-ids", metavar="NAME",
                   help="HDF5 reference: the dataset holding the ids, one per row (default ids)")
    g.add_argument("--min-cosine", type=float,
                   help="fail when a key's mean per-frame cosine similarity is below this (default 0.99)")
    g.add_argument("--report", metavar="FILE", help="with --verify: write the per-key comparison as JSON")


def _add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("clips (clip backbones: torchvision:NAME, hf:FOLDER, --motion-backbone)")
    c = g.add_mutually_exclusive_group()
    c.add_argument("--num-clips", type=int, metavar="N",
                   help="N clips per sample, uniformly over the video or window (default 8)")
    c.add_argument("--clips-per-second", type=float, metavar="F", help="F clips per second of video or window")
    g.add_argument("--clip-len", type=int, metavar="L", help="frames per clip (default: the model's own, 16 for "
                                                             "torchvision's)")
    g.add_argument("--clip-stride", type=int, metavar="S",
                   help="a clip takes every S-th frame of the video (default 1)")
    g.add_argument("--motion-backbone", metavar="NAME",
                   help="with a timm --backbone: a clip model (torchvision:NAME or hf:FOLDER) as the motion stream; "
                        "each row is the appearance feature of the clip's middle frame followed by the clip's")
    g.add_argument("--motion-weights", metavar="FILE",
                   help="local weights of --motion-backbone (a state dict); with --pretrained, only the appearance "
                        "stream downloads")
    g.add_argument("--motion-pretrained", action="store_true",
                   help="download --motion-backbone's default pretrained weights while --weights FILE sets the "
                        "appearance stream's (--pretrained alone already covers both streams)")
    g.add_argument("--motion-input-size", type=int, metavar="PX", help="override --motion-backbone's crop size")


def _check_report_path(args) -> None:
    """``--report`` never replaces the stores it compares, nor a file that is not a report
    of ``gf extract --verify`` (a rerun replaces its own report)."""
    from gf.common.io import check_outputs_apart, check_replaceable
    from gf.extraction.verify import is_verify_report

    check_outputs_apart({"--report": args.report}, {"--out": args.out, "--verify": args.verify},
                        command="gf extract --verify")
    check_replaceable(args.report, "--report", owned=is_verify_report, command="gf extract --verify",
                      kind="JSON file")
    report = Path(args.report).expanduser().resolve()
    for option in ("--out", "--verify"):  # a file inside a store folder would be read as one of its keys
        store = Path(getattr(args, option[2:])).expanduser().resolve()
        if store.is_dir() and store in report.parents:
            raise ConfigError(f"--report {args.report} lies inside {option} {getattr(args, option[2:])}, a feature "
                              f"store: the report would be read as one of its features. Write it elsewhere.")


#: options only an extraction uses: --verify and --merge refuse them rather than ignore them.
#: ``--no-progress``, ``--workers`` and ``--batch-size`` are not among them: they change how an
#: extraction runs, never what it stores, so a script passing one set of options to every step
#: (extract, then merge or verify) is not refused over them
_EXTRACT_ONLY = ("videos", "backbone", "windows", "window_tolerance", "weights", "pretrained", "seed", "num_frames",
                 "fps", "timeout_per_video", "input_size", "device", "format", "shard_size", "shard", "num_clips",
                 "clips_per_second", "clip_len", "clip_stride", "motion_backbone", "motion_weights",
                 "motion_pretrained", "motion_input_size")
#: options only --verify uses
_VERIFY_ONLY = ("verify", "reference_format", "reference_dataset", "reference_ids", "min_cosine", "report")


def _refuse(args, names, mode: str) -> None:
    """A given option this mode does not use is refused (a silently ignored option is a
    wrong result the user never hears of), named as typed on the command line. Given means
    typed: not ``None`` (options with a default are parsed as ``None``, see :data:`_DEFAULTS`)
    and not an unset flag (``False``); ``--seed 0`` or ``--workers 0`` is given. Then the
    options left out get their defaults (:data:`_DEFAULTS`)."""
    extra = [name for name in names if getattr(args, name, None) is not None and getattr(args, name) is not False]
    if extra:
        raise ConfigError(f"{mode}; drop --{extra[0].replace('_', '-')}")
    for name, value in _DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def _verify(args) -> int:
    from gf.common.io import atomic_write_json
    from gf.extraction.options import check_number_option
    from gf.extraction.verify import open_any_store, verify_features

    _refuse(args, _EXTRACT_ONLY, "--verify compares existing features")
    check_number_option("--min-cosine", args.min_cosine, -1, maximum=1)
    if args.report:
        _check_report_path(args)
    output = open_any_store(args.out, option="--out", format_option=None)
    reference = open_any_store(args.verify, args.reference_format, dataset=args.reference_dataset,
                               ids=args.reference_ids)
    report = verify_features(output, reference, min_cosine=args.min_cosine)
    print(report.format())
    if args.report:
        atomic_write_json(args.report, report.to_json(), allow_nan=False)
    s = report.summary()
    if not (s["compared"] or s["only_in_output"] or s["only_in_reference"]):
        raise DataFileError(f"{args.out} and {args.verify} hold no features at all: nothing was compared. Check "
                            f"that both paths are the stores you meant.")
    if not report.ok:
        raise DataFileError(
            f"{args.out} differs from {args.verify}: {s['only_in_output']} keys only in the output, "
            f"{s['only_in_reference']} only in the reference, {s['shape_mismatches']} shape mismatches, "
            f"{s['below_threshold']} keys below cosine {args.min_cosine:g} (min {s['min_cosine']}), "
            f"{s['non_finite']} keys holding NaN/inf values")
    return 0


def _merge(args) -> int:
    from gf.extraction.merge import merge
    from gf.extraction.out_folder import failure_error

    _refuse(args, _EXTRACT_ONLY + _VERIFY_ONLY, "--merge joins the parts already in --out")
    summary = merge(args.out)
    print(json.dumps({"out": summary.out, "parts": summary.parts, "samples": summary.samples,
                      "failed": len(summary.failures)}, indent=2), flush=True)
    if summary.failures:
        reruns = ", ".join(f"--shard {part}" for part in summary.failed_parts)
        raise failure_error(summary.failures, summary.total, summary.samples, summary.out, summary.windows,
                            rerun=f"rerun the parts that hold them ({reruns}; stored samples are skipped), then "
                                  f"gf extract --merge --out {summary.out} again")
    return 0


def run(args) -> int:
    if args.merge:
        return _merge(args)
    if args.verify:
        return _verify(args)
    from gf.common.sharding import parse_shard
    from gf.extraction.extract import ExtractOptions, extract
    from gf.extraction.out_folder import failure_error

    _refuse(args, _VERIFY_ONLY, "these options belong to --verify REFERENCE (without it, gf extract extracts)")
    for name in ("videos", "backbone"):
        if not getattr(args, name):
            raise ConfigError(f"--{name} is required to extract (or give --verify REFERENCE to compare)")
    given = {"timeout": args.timeout_per_video, "progress": not args.no_progress,  # the rest: same name
             "shard": parse_shard(args.shard) if args.shard is not None else None}
    options = ExtractOptions(**{f.name: given[f.name] if f.name in given else getattr(args, f.name)
                                for f in fields(ExtractOptions)})
    summary = extract(options)
    unit = "frames" if options.clip_len is None else "clips"
    print(json.dumps({"out": summary.out, "written": summary.written, "skipped": summary.skipped,
                      "failed": len(summary.failures), "videos": summary.videos, unit: summary.frames,
                      "seconds": round(summary.seconds, 2), "videos_per_s": round(summary.videos_per_s, 2),
                      f"{unit}_per_s": round(summary.frames_per_s, 1)}, indent=2), flush=True)
    if summary.failures:
        raise failure_error(summary.failures, summary.total, summary.written, summary.lists or summary.out,
                            bool(args.windows))
    return 0
