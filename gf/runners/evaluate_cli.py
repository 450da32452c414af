"""Arguments and entry point of ``gf evaluate``: evaluate a checkpoint, or re-score a
predictions file without the model."""
from __future__ import annotations

import argparse

from gf.common.errors import ConfigError
from gf.runners.run_config import add_config_arguments, config_from_args
from gf.runners.run_layout import RUN_TAGS

__all__ = ["add_arguments", "run"]


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _tag(text: str) -> str:
    """``--tag``: a plain name (``gf.evaluation.base.PLAIN_NAME``, the rule of every output
    file name) and not a probe's file tag (``PROBE_TAG``, so that a probed result and an
    unperturbed one never share file names), checked before anything is built."""
    from gf.evaluation.base import PLAIN_NAME, PROBE_TAG

    if not PLAIN_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain name: use letters, digits and '_', '.', '-', '+', "
                                         f"'=', starting with a letter, digit or '_' (it becomes part of the output "
                                         f"file names)")
    probed = PROBE_TAG.fullmatch(text)
    if probed:  # unperturbed answers under a probe's file names would read as that probe's
        raise argparse.ArgumentTypeError(f"{text} is the file tag of probe {probed['probe']} (seed {probed['seed']}) "
                                         f"under tag {probed['tag']}; choose another tag")
    return text


def _check_run_tag(runner, splits, tag: str) -> None:
    """A run's own tag (best, last, epoch<N>) may recreate one of its reports that is missing
    (as the seeds summary's message advises), never replace one, nor make one the run never
    writes (``last`` beside checkpoint_best.pth, or any in a run whose training is not done,
    where the best so far is not the run's): the summary reads them as the run's figures."""
    if not RUN_TAGS.fullmatch(tag):
        return
    from gf.evaluation.base import output_file
    from gf.runners.seed_layout import seed_layout, training_done

    layout = seed_layout(runner.output_dir)
    if layout is not None and not training_done(layout):
        raise ConfigError(f"--tag {tag}: the run in {runner.output_dir} has not finished training (its "
                          f"checkpoint_last.pth is missing or from before run.epochs / run.max_steps), so a {tag} "
                          f"report written there would stand for a run that did not end. Finish the run first (gf "
                          f"train --cfg-path {layout.folder / 'config.yaml'} --resume auto), or choose another --tag "
                          f"(e.g. {tag}-eval).")

    existing = [str(path) for name in runner.dataset_names() for split in splits
                if (path := output_file(runner.eval_dir(name), split, tag, "report.json")).exists()]
    if existing:
        raise ConfigError(f"--tag {tag} would replace {', '.join(existing)}: best, last and epoch<N> tag the training "
                          f"run's own reports. Choose another --tag (e.g. {tag}-eval).")
    best = runner.output_dir / "checkpoint_best.pth"
    if tag == "last" and best.is_file():
        raise ConfigError(f"--tag last: {runner.output_dir} has {best.name}, so its run tests with it and writes no "
                          f"'last' report; one written here would stand for the run's test. Recreate the run's test "
                          f"report with --checkpoint {best} --tag best, or choose another --tag (e.g. last-eval).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint", help="gf checkpoint, the authors' model_N.tar, a URL or zoo:<name> "
                                        "(default: model.checkpoint of the config)")
    p.add_argument("--splits", nargs="+", action="extend", help="splits to evaluate (default: run.test_splits)")
    p.add_argument("--tag", type=_tag, default="eval",
                   help="name used in the output files: letters, digits, '.', '_', '-' (best, last and epoch<N>, the "
                        "training run's own, only to recreate a missing report)")
    p.add_argument("--predictions", help="a gf predictions file to re-score without the model (with --cfg-path: "
                                         "checked against the split's questions)")
    p.add_argument("--benchmark", help="with --predictions: check the file is for this benchmark")
    p.add_argument("--split", help="with --predictions: the split name to report")
    p.add_argument("--report", help="with --predictions: write the report JSON here")
    p.add_argument("--plugins", nargs="+", action="extend", metavar="MODULE",
                   help="with --predictions: modules to import first (a plugin benchmark's evaluator)")
    p.add_argument("--probe", nargs="+", action="extend", metavar="NAME",
                   help="also evaluate with the video perturbed (shuffle, reverse, static, zeros, noise, swap_events, "
                        "...: gf list probes); each probe gets its own files (tag <tag>_probe-<name>-s<seed>) and a "
                        "comparison with the unperturbed answers (<split>_<tag>_probes.json)")
    p.add_argument("--probe-seed", type=_non_negative_int, metavar="S",
                   help="seeds the probes' per-question draws (default 0)")


def _rescore(args) -> int:
    """``gf evaluate --predictions P``: score a predictions file without the model; with
    ``--cfg-path`` the split, read through its builder, checks coverage (README.md, "Runs and
    their output folders") and labels (``match_split``)."""
    from gf.common.config import load_plugins
    from gf.evaluation import evaluate_predictions, format_report, load_predictions, match_split, save_report
    from gf.evaluation.report import check_report_path

    load_plugins(args.plugins or [])  # a plugin benchmark's evaluator
    if args.report:
        check_report_path(args.report, "--report")  # the config, a checkpoint, the predictions: refused
    pf = load_predictions(args.predictions)
    if args.benchmark and args.benchmark != pf.benchmark:
        raise ConfigError(f"{args.predictions} holds {pf.benchmark} predictions, not {args.benchmark}")
    if args.split:
        pf.split = args.split
    info, expected, provenance, skipped = None, None, None, None
    if args.cfg_path:
        from gf.common.registry import registry
        from gf.datasets.videoqa import skipped_questions
        from gf.runners.build import build_datasets

        cfg = config_from_args(args, evaluating=True)
        matching = [name for name in cfg.datasets
                    if getattr(registry.get_builder_class(name), "benchmark", None) == pf.benchmark]
        if len(matching) != 1:
            raise ConfigError(f"{args.cfg_path}: expected one dataset whose benchmark is {pf.benchmark!r} (the "
                              f"predictions' benchmark) under datasets:, found {matching or 'none'}")
        # scoring reads the annotations only: the features need not be there
        ds = build_datasets(cfg, {matching[0]: [pf.split]}, features=False)[matching[0]]
        info, expected = ds.info, ds.splits[pf.split].question_ids()
        skipped = skipped_questions(ds.splits[pf.split])
        pf.predictions = match_split(pf, ds.splits[pf.split].records)
        if ds.fingerprint is not None:
            provenance = {"split_fingerprint": ds.fingerprint(pf.split),
                          "split_fingerprint_scope": "features" if ds.features else "annotations"}
    report = evaluate_predictions(pf, info, expected_ids=expected, provenance=provenance, skipped=skipped)
    print(format_report(report))
    if args.report:
        save_report(args.report, report)
    return 0


def _check_probe_arguments(args) -> None:
    """``--probe`` / ``--probe-seed`` where they cannot apply are refused, not ignored: an
    unperturbed report printed in their place would be taken for the probed one."""
    if args.predictions and (args.probe or args.probe_seed is not None):
        option = "--probe" if args.probe else "--probe-seed"
        raise ConfigError(f"{option} needs a model to run (--cfg-path with --checkpoint); a predictions file cannot "
                          f"be probed")
    if args.probe_seed is not None and not args.probe:
        raise ConfigError("--probe-seed seeds the probes' draws: give the probes too (--probe NAME ...)")


def run(args) -> int:
    _check_probe_arguments(args)
    if args.predictions:
        return _rescore(args)
    if not args.cfg_path:
        raise ConfigError("give --cfg-path (with --checkpoint, or model.checkpoint in the config), or --predictions")
    cfg = config_from_args(args, evaluating=True)
    if not cfg.model.checkpoint:
        raise ConfigError(f"{args.cfg_path}: nothing to evaluate: give --checkpoint (a gf checkpoint, the authors' "
                          f"model_N.tar, a URL or zoo:<name>) or set model.checkpoint")
    from gf.runners.build import build_runner

    splits = args.splits or list(cfg.run.test_splits)
    if args.probe:
        from gf.probes import get_probe

        for name in args.probe:  # an unknown name fails before anything is built
            get_probe(name)
    with build_runner(cfg, splits=splits) as runner:  # initialises the model from model.checkpoint
        _check_run_tag(runner, splits, args.tag)
        if args.probe:
            from gf.probes.evaluate import evaluate_with_probes

            evaluate_with_probes(runner, splits, args.probe, args.probe_seed or 0, args.tag)
            return 0
        from gf.probes.evaluate import drop_probes_record

        for name in runner.dataset_names():
            for split in splits:
                drop_probes_record(runner, name, split, args.tag)  # it compared the predictions rewritten here
                runner.evaluate_split(split, tag=args.tag, dataset=name)
    return 0
