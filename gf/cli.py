"""The ``gf`` command line: ``gf <command> ...``. Each command lives in its own function.

Every error gf raises on purpose derives from :class:`gf.common.errors.GfError`; the
command prints it as one line (``gf <command>: error: ...``) and exits with that error's
``exit_code`` (2 config/usage, 3 data, 4 checkpoint, 5 evaluation, 6 download, 1 training);
``gf --debug <command>`` shows the traceback instead. Anything else is a bug in gf and
keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

def _kind_aliases():
    """Every name ``gf list`` takes for a kind: each of ``registry.KINDS`` as it is and in the
    plural (``model``, ``models``), plus a few other words users type. A kind added to the
    registry is listed with no edit here."""
    from gf.common.registry import registry

    aliases = {"datasets": "builder", "dataset": "builder", "schedulers": "lr_scheduler", "stores": "feature_store",
               "zoo": "pretrained"}
    for kind in registry.KINDS:
        aliases[kind] = aliases[kind if kind == "pretrained" else f"{kind}s"] = kind
    return aliases


KIND_ALIASES = _kind_aliases()


def cmd_list(args) -> int:
    from gf.common.config import load_plugins
    from gf.common.registry import registry

    from gf.common.errors import ConfigError
    from gf.common.utils import did_you_mean

    load_plugins(args.plugins or [])
    if args.kind is not None and args.kind not in KIND_ALIASES:
        raise ConfigError(f"unknown kind {args.kind!r}.{did_you_mean(args.kind, KIND_ALIASES)} Choose from: "
                          f"{', '.join(sorted(set(KIND_ALIASES.values())))}.")
    kinds = [KIND_ALIASES[args.kind]] if args.kind else list(registry.registries)
    for kind in kinds:
        names = registry.list(kind, args.pattern)
        label = kind if kind == "pretrained" else f"{kind}s"
        print(f"{label}:" if len(kinds) > 1 else f"{label} ({len(names)}):")
        for name in names:
            line = f"  {name}"
            if kind == "model":
                types = registry.list_model_types(name)
                if types:
                    line += f"  model_types: {', '.join(types)}"
            print(line)
            if kind == "model":
                from gf.models import zoo

                for entry_name in zoo.list_pretrained(name):
                    entry = zoo.get_pretrained(entry_name)
                    print(f"    pretrained {entry_name}  ({entry.format}, {entry.benchmark or '-'}, "
                          f"sha256 {entry.sha256 or 'not yet known'})")
        if not names:
            print("  (none)")
    if args.kind is None or KIND_ALIASES[args.kind] == "pretrained":
        from gf.datasets import data_zoo

        entries = [e for e in data_zoo.list_data() if not args.pattern or args.pattern in e.key]
        print("data:")
        for e in entries:
            print(f"  {e.summary()}")
    return 0


def _config(args):
    from gf.common.config import build_config

    options = list(args.options or [])
    if getattr(args, "resume", None):
        options.append(f"run.resume={args.resume}")
    if getattr(args, "seeds", None):  # last: --seeds wins over run.seeds of the YAML and --options
        options.append(f"run.seeds=[{','.join(str(s) for s in args.seeds)}]")
    return build_config(args.cfg_path, options)


def cmd_validate(args) -> int:
    from omegaconf import OmegaConf

    cfg = _config(args)
    print(OmegaConf.to_yaml(cfg, resolve=True))
    print(f"[gf] {args.cfg_path}: valid", file=sys.stderr)
    return 0


def train_one(cfg) -> None:
    """One run: train, then test ``run.test_splits`` (every seed of ``--seeds`` is one)."""
    from gf.runners import build_runner

    with build_runner(cfg) as runner:  # closes, without waiting for other ranks if this one failed
        runner.train()
        if cfg.run.test_splits:
            runner.test()


def cmd_train(args) -> int:
    cfg = _config(args)
    if cfg.run.seeds:
        from gf.runners.seeds import train_seeds

        train_seeds(cfg, train_one)
    else:
        train_one(cfg)
    return 0


def cmd_summarize_seeds(args) -> int:
    from gf.runners.seeds import format_summary, summarize, write_summary

    summary = summarize(args.output_dir, args.seeds)
    write_summary(args.output_dir, summary)
    print(format_summary(summary))
    return 0


def _rescore(args) -> int:
    """``gf evaluate --predictions P``: score a predictions file without the model. With
    ``--cfg-path``, the split is read through its builder, so every question of the split
    must be predicted and no other (without it, the report says coverage was not checked)."""
    from gf.common.config import load_plugins
    from gf.common.errors import ConfigError
    from gf.evaluation import check_distinct_paths, evaluate_predictions, format_report, load_predictions, save_report

    load_plugins(args.plugins or [])  # a plugin benchmark's evaluator
    if args.report:
        check_distinct_paths({"--predictions": args.predictions}, {"--report": args.report})
    pf = load_predictions(args.predictions)
    if args.benchmark and args.benchmark != pf.benchmark:
        raise ConfigError(f"{args.predictions} holds {pf.benchmark} predictions, not {args.benchmark}")
    if args.split:
        pf.split = args.split
    info, expected, provenance = None, None, None
    if args.cfg_path:
        from gf.common.registry import registry
        from gf.runners.build import build_datasets

        cfg = _config(args)
        matching = [name for name in cfg.datasets
                    if getattr(registry.get_builder_class(name), "benchmark", None) == pf.benchmark]
        if len(matching) != 1:
            raise ConfigError(f"{args.cfg_path}: expected one dataset whose benchmark is {pf.benchmark!r} (the "
                              f"predictions' benchmark) under datasets:, found {matching or 'none'}")
        # scoring reads the annotations only: the features need not be there
        ds = build_datasets(cfg, {matching[0]: [pf.split]}, features=False)[matching[0]]
        info, expected = ds.info, ds.splits[pf.split].question_ids()
        if ds.fingerprint is not None:
            provenance = {"split_fingerprint": ds.fingerprint(pf.split),
                          "split_fingerprint_scope": "features" if ds.features else "annotations"}
    report = evaluate_predictions(pf, info, expected_ids=expected, provenance=provenance)
    print(format_report(report))
    if args.report:
        save_report(args.report, report)
    return 0


def cmd_evaluate(args) -> int:
    from gf.common.errors import ConfigError

    if args.predictions:
        return _rescore(args)
    if not args.cfg_path:
        raise ConfigError("give --cfg-path (with --checkpoint, or model.checkpoint in the config), or --predictions")
    if args.checkpoint:
        args.options = [*args.options, f"model.checkpoint={args.checkpoint}"]
    cfg = _config(args)
    if not cfg.model.checkpoint:
        raise ConfigError(f"{args.cfg_path}: nothing to evaluate: give --checkpoint (a gf checkpoint, the authors' "
                          f"model_N.tar, a URL or zoo:<name>) or set model.checkpoint")
    from gf.runners import build_runner

    splits = args.splits or list(cfg.run.test_splits)
    if args.probe:
        from gf.probes import get_probe

        for name in args.probe:  # an unknown name fails before anything is built
            get_probe(name)
    with build_runner(cfg, splits=splits) as runner:  # initialises the model from model.checkpoint
        if args.probe:
            from gf.probes.evaluate import evaluate_with_probes

            evaluate_with_probes(runner, splits, args.probe, args.probe_seed, args.tag)
            return 0
        for name in runner.dataset_names():
            for split in splits:
                runner.evaluate_split(split, tag=args.tag, dataset=name)
    return 0


def cmd_prepare(args) -> int:
    import json

    from gf.common.config import load_plugins
    from gf.datasets.converters import prepare

    from gf.common.errors import ConfigError

    load_plugins(args.plugins or [])
    options = {}
    for item in args.set or []:
        if "=" not in item:
            raise ConfigError(f"--set entries must look like key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    from gf.evaluation import check_distinct_paths

    check_distinct_paths({"--raw": args.raw}, {"--out": args.out})  # the release is never written over
    summary = prepare(args.benchmark, args.raw, args.out, overwrite=args.overwrite, **options)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_download(args) -> int:
    from gf.common.download import check_transfer_options, download
    from gf.common.io import sha256sum
    from gf.common.errors import ConfigError

    # Checked before anything else, so a refused command creates no folder, part or lock file.
    transfer = dict(timeout=args.timeout, retries=args.retries, backoff=args.backoff)
    check_transfer_options(**transfer, names=("--timeout", "--retries", "--backoff"), where="")
    if args.url.startswith("data:"):
        if args.sha256 or args.dest:
            raise ConfigError("a data bundle pins its own hash and extracts into the data root; drop --sha256/--dest "
                              "(use --data-root, and --url for a mirror)")
        from gf.datasets import data_zoo

        target = data_zoo.download_data(args.url, args.data_root, url=args.mirror, overwrite=args.overwrite,
                                        progress=not args.quiet, **transfer)
        print(f"{target}\nsha256 {data_zoo.get_data(args.url).sha256}")
        return 0
    if args.mirror or args.data_root:
        raise ConfigError("--url and --data-root go with data:<name> only")
    if args.url.startswith(("model:", "zoo:")):
        if args.sha256 or args.dest or args.overwrite:
            raise ConfigError("a zoo entry pins its own hash and cache place; drop --sha256/--dest/--overwrite")
        from gf.models import zoo

        path = zoo.download_pretrained(args.url.split(":", 1)[1], progress=not args.quiet, **transfer)
    else:
        path = download(args.url, sha256=args.sha256, dest=args.dest, progress=not args.quiet,
                        overwrite=args.overwrite, **transfer)
    print(f"{path}\nsha256 {sha256sum(path)}")
    return 0


def cmd_zoo(args) -> int:
    import json

    from gf.models import zoo

    if args.zoo_command == "publish":
        entry = zoo.publish_checkpoint(args.checkpoint, args.name, url=args.url, zoo_file=args.zoo_file,
                                       reported=json.loads(args.reported) if args.reported else None)
        print(f"{entry.name}\n  url {entry.url}\n  sha256 {entry.sha256}\n  written to {zoo.user_zoo_file()}")
        return 0
    for name in zoo.list_pretrained(args.model):
        e = zoo.get_pretrained(name)
        print(f"{name}  format={e.format} benchmark={e.benchmark} sha256={e.sha256 or 'not yet known'}")
    return 0


def cmd_extract(args) -> int:
    from gf.extraction.cli import run

    return run(args)


def cmd_predict(args) -> int:
    from gf.inference.cli import run

    return run(args)


def cmd_leaderboard(args) -> int:
    from gf.leaderboards.cli import run

    return run(args)


def cmd_demo_data(args) -> int:
    from gf.benchmarks.synthetic.cli import run

    return run(args)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from gf.version import __version__

    parser = argparse.ArgumentParser(prog="gf", description="Glance-Focus and multi-event VideoQA suite")
    parser.add_argument("--version", action="version", version=f"gf {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of gf's errors too")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    p = sub.add_parser("list", help="list registered components")
    p.add_argument("kind", nargs="?", help="models | datasets | processors | tasks | runners | hooks | optimizers | "
                                           "lr_schedulers | evaluators | converters | feature_stores | pretrained | probes")
    p.add_argument("pattern", nargs="?", help="substring or shell pattern to filter names")
    p.add_argument("--plugins", nargs="+", metavar="MODULE", help="modules to import first (as under plugins:)")
    p.set_defaults(func=cmd_list)

    def add_cfg(p, required=True):
        p.add_argument("--cfg-path", required=required, help="project YAML (sections model, datasets, run)")
        p.add_argument("--options", nargs="+", default=[], metavar="KEY=VALUE",
                       help="overrides, e.g. run.lr=1e-4 datasets.star.data_root=/data")

    p = sub.add_parser("validate", help="check a config without running it")
    add_cfg(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("train", help="train (and finally test) as the config says")
    add_cfg(p)
    p.add_argument("--resume", help="auto (continue from OUTPUT_DIR/checkpoint_last.pth) or a checkpoint path")
    p.add_argument("--seeds", type=int, nargs="+", metavar="N",
                   help="one run per seed in OUTPUT_DIR/seed<N> (finished seeds reused, interrupted ones continued), "
                        "then OUTPUT_DIR/seeds_summary.{json,md}; wins over run.seeds")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("summarize-seeds", help="re-write the seeds summary of a gf train --seeds folder from its "
                                               "seed<N> runs (e.g. after a SLURM array), without training")
    p.add_argument("output_dir", help="the run.output_dir that holds seed<N>/ folders")
    p.add_argument("--seeds", type=int, nargs="+", metavar="N",
                   help="the seeds to summarise (default: every seed<N> folder); unfinished ones are listed")
    p.set_defaults(func=cmd_summarize_seeds)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint, or re-score a predictions file")
    add_cfg(p, required=False)
    p.add_argument("--checkpoint", help="gf checkpoint, the authors' model_N.tar, a URL or zoo:<name> "
                                        "(default: model.checkpoint of the config)")
    p.add_argument("--splits", nargs="+", help="splits to evaluate (default: run.test_splits)")
    p.add_argument("--tag", default="eval", help="name used in the output files")
    p.add_argument("--predictions", help="a gf predictions file to re-score without the model (with --cfg-path: "
                                         "checked against the split's questions)")
    p.add_argument("--benchmark", help="with --predictions: check the file is for this benchmark")
    p.add_argument("--split", help="with --predictions: the split name to report")
    p.add_argument("--report", help="with --predictions: write the report JSON here")
    p.add_argument("--plugins", nargs="+", metavar="MODULE",
                   help="with --predictions: modules to import first (a plugin benchmark's evaluator)")
    p.add_argument("--probe", nargs="+", metavar="NAME",
                   help="also evaluate with the video perturbed (shuffle, reverse, static, zeros, noise, swap_events, "
                        "...: gf list probes); each probe gets its own files (tag <tag>_probe-<name>-s<seed>) and a "
                        "comparison with the unperturbed answers (<split>_<tag>_probes.json)")
    p.add_argument("--probe-seed", type=_non_negative_int, default=0, metavar="S",
                   help="seeds the probes' per-question draws (default 0)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("prepare", help="convert a benchmark's official release into gf's layout")
    p.add_argument("benchmark", help="star | agqa | egotaskqa | nextqa (gf list converters)")
    p.add_argument("--raw", required=True, help="folder with the official release files")
    p.add_argument("--out", required=True, help="output folder, e.g. $DATA_ROOT/NExT-QA")
    p.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="converter options (JSON values)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the annotations gf prepare wrote before (other files in --out are kept)")
    p.add_argument("--plugins", nargs="+", metavar="MODULE", help="modules to import first (a plugin's converter)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("download", help="download a file (http(s)://, file://, hf://, Google Drive) into the cache, "
                                        "or a data bundle (data:star) into the data root")
    p.add_argument("url")
    p.add_argument("--sha256", help="expected hash; a mismatch is an error and nothing is kept")
    p.add_argument("--dest", help="destination file or folder (default: the gf cache, $GF_CACHE_DIR)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="with --dest: replace an existing file (otherwise it is verified against --sha256 or refused); "
                        "with data:<name>: replace files at the bundle's paths that gf did not install or that "
                        "changed since (other files in the folder are never touched)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds per connect or read, > 0 and at most 86400 (default 30)")
    p.add_argument("--retries", type=int, default=3, metavar="N",
                   help="attempts in all, 1 (no retry) to 100 (default 3); a transfer cut short resumes its .part file")
    p.add_argument("--backoff", type=float, default=1.0, metavar="S",
                   help="seconds before the second retry, doubled each time, 0 to 60 (default 1)")
    p.add_argument("--url", dest="mirror", metavar="URL",
                   help="with data:<name>: fetch the bundle from this mirror (verified against the same sha256; "
                        "default $GF_DATA_URL_<NAME>, else the entry's URL)")
    p.add_argument("--data-root", help="with data:<name>: folder that holds the datasets (default $DATA_ROOT, "
                                       "else gf_data)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("zoo", help="pretrained model entries: list, publish")
    zsub = p.add_subparsers(dest="zoo_command", metavar="<zoo command>", required=True)
    z = zsub.add_parser("list", help="list zoo entries")
    z.add_argument("model", nargs="?")
    z = zsub.add_parser("publish", help="publish a gf checkpoint as a zoo entry (sha256 recorded)")
    z.add_argument("checkpoint")
    z.add_argument("--name", required=True, help="e.g. glance_focus/demo_sup")
    z.add_argument("--url", help="where the file will be served (default: its file:// URI)")
    z.add_argument("--zoo-file", help="zoo JSON to write (default: $GF_ZOO or $GF_CACHE_DIR/zoo.json)")
    z.add_argument("--reported", help="JSON dict of reported figures (with a 'source')")
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("extract", help="frame features from videos with a timm backbone (decord, PyAV fallback) "
                                       "into webdataset shards or another store; --verify compares with a reference")
    from gf.extraction.cli import add_arguments as extract_arguments

    extract_arguments(p)
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("predict", help="answer a question about a video file: features made with the checkpoint's "
                                       "own extraction recipe, option scores and the predicted events")
    from gf.inference.cli import add_arguments as predict_arguments

    predict_arguments(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("leaderboard", help="batch evaluation: many checkpoints x benchmarks, with intervals, "
                                           "significance, tables, plots and an HTML page")
    from gf.leaderboards.cli import add_arguments as leaderboard_arguments

    leaderboard_arguments(p)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("demo-data", help="the synthetic demo benchmark of a config (generated through its builder "
                                         "when needed), rendered as small videos for the demo from pixels")
    from gf.benchmarks.synthetic.cli import add_arguments as demo_data_arguments

    demo_data_arguments(p)
    p.set_defaults(func=cmd_demo_data)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from gf.common.errors import GfError

    try:
        return int(args.func(args) or 0)
    except GfError as e:
        if args.debug:
            raise
        message = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        print(f"gf {args.command}: error: {message}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
