"""A list option given twice (``--options a=1 --options b=2``) used to keep only the last
list (argparse's ``store``), silently dropping the first: every list option now joins them."""
import argparse

import pytest

from gf.cli import COMMANDS, build_parser
from gf.cli import main as gf_main
from test_config_values import write_cfg


def _command_parsers():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in COMMANDS:
        parser = sub.choices[name]
        parser._load()
        yield name, parser
        for action in parser._actions:  # gf leaderboard run / render, gf zoo list / publish
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub_parser in action.choices.items():
                    yield f"{name} {sub_name}", sub_parser


PARSERS = dict(_command_parsers())


@pytest.mark.parametrize("name", list(PARSERS))
def test_every_list_option_given_twice_keeps_both(name):
    parser = PARSERS[name]
    lists = [a for a in parser._actions if a.nargs in ("+", "*") and a.option_strings]
    for action in lists:
        assert isinstance(action, argparse._ExtendAction), f"gf {name} {action.option_strings[0]} drops a repeat"


def test_options_given_twice_both_apply(tmp_path, capsys):
    argv = ["validate", "--cfg-path", write_cfg(tmp_path), "--options", "run.lr=1e-3", "--options", "run.max_steps=2"]
    assert gf_main(argv) == 0
    out = capsys.readouterr().out
    assert "  lr: 0.001\n" in out and "  max_steps: 2\n" in out
