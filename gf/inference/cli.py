"""``gf predict``: one question about one video file, answered by a checkpoint."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a gf checkpoint trained on gf extract features "
                                                           "(path, URL or zoo:<name>)")
    parser.add_argument("--video", required=True, help="the video file")
    parser.add_argument("--question", required=True)
    parser.add_argument("--options", nargs="+", action="extend", help="the answer options (multiple-choice models)")
    parser.add_argument("--start", type=float, help="seconds: answer about the clip [start, end] only")
    parser.add_argument("--end", type=float)
    parser.add_argument("--weights", help="the backbone weights file the checkpoint's features were made with "
                                          "(checked against the recorded sha256)")
    parser.add_argument("--motion-weights", help="the motion stream's weights file, for a checkpoint trained on "
                                                 "appearance + motion features (checked against the recorded sha256)")
    parser.add_argument("--backbone", help="must be the recipe's backbone (a different one is refused)")
    parser.add_argument("--text-encoder", metavar="PATH", help="the folder the checkpoint's text encoder "
                                                              "(model.text_encoder) moved to")
    parser.add_argument("--plot", metavar="PNG", help="draw the predicted events on the video's timeline")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--plugins", nargs="+", action="extend", default=[], metavar="MODULE",
                        help="modules to import first (a plugin's zoo entry as --checkpoint zoo:<name>, its backbone)")


def check_utf8_arguments(args) -> None:
    """Refuse --question, --options and --video holding bytes that are not UTF-8: the
    tokenizer cannot take them (a TypeError from inside transformers) nor can the video
    listing that gf extract reads (a UnicodeEncodeError), so the argument is named here."""
    from gf.common.errors import ConfigError
    from gf.common.utils import non_utf8

    given = [("--question", args.question), ("--video", args.video)]
    given += [(f"--options (option {i})", option) for i, option in enumerate(args.options or [])]
    for name, value in given:
        shown = non_utf8(value)
        if shown:
            advice = ("rename the file (or link it) to a UTF-8 name" if name == "--video"
                      else "give the text in UTF-8 (check the terminal's or the script's encoding)")
            raise ConfigError(f"{name} {shown} is not UTF-8 text; {advice}")


def run(args) -> int:
    from gf.common.config import load_plugins
    from gf.inference.predict import answer_video, check_plot_path, plot_timeline

    check_utf8_arguments(args)
    load_plugins(args.plugins, "--plugins")
    if args.plot:  # before any work: never over an input or a file gf predict does not own
        check_plot_path(args.plot, [args.video, args.checkpoint, args.weights, args.motion_weights])
    result = answer_video(args.checkpoint, args.video, args.question, args.options, start=args.start, end=args.end,
                          weights=args.weights, backbone=args.backbone, device=args.device,
                          motion_weights=args.motion_weights, text_encoder=args.text_encoder)
    if result.options:
        print(f"answer: {result.answer}  (option {result.prediction})")
        width = max(len(o) for o in result.options)
        for i, (option, p) in enumerate(zip(result.options, result.probabilities)):
            mark = "*" if i == result.prediction else " "
            print(f" {mark} {i}  {option:<{width}}  {p:6.3f}")
    elif isinstance(result.answer, str):
        print(f"answer: {result.answer}  (index {result.prediction})")
    else:  # an open-ended checkpoint written before checkpoints recorded the answer vocabulary
        print(f"answer: index {result.prediction} of the training split's answer vocabulary (this checkpoint, "
              f"older than checkpoints that record it, does not say its text: look the index up in the training "
              f"dataset's answer vocabulary file)")
    start, end = result.window
    print(f"events the glance stage predicts in [{start:.2f}, {end:.2f}] s:")
    for e in result.events:
        print(f"  {e.start:7.2f} - {e.end:7.2f} s  {e.class_name}  ({e.confidence:.2f})")
    if not result.events:
        print("  (none above 'no event')")
    if args.plot:
        print(f"timeline: {plot_timeline(result, args.video, args.plot)}")
    return 0
