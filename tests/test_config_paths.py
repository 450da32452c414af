"""Config values gf used to change or take without a word (review round nine, configs): a
path cut at ' #' or read as an interpolation, '~' kept literally, a '\\${' that config.yaml
could not read back, meta keys of any type; and user input that ended in a traceback."""
import argparse
import os
import re

import pytest
import yaml
from omegaconf import OmegaConf

from gf.cli import main as gf_main
from gf.common.config import ConfigError, build_config, load_plugins, save_config
from gf.common.registry import registry
from gf.runners.run_config import config_from_args
from test_config_values import write_cfg


def test_an_options_value_cut_at_a_comment_is_refused_naming_the_entry(tmp_path):
    entry = f"run.output_dir={tmp_path}/exp #2"
    with pytest.raises(ConfigError, match=rf"^--options entry .{re.escape(entry)}.: YAML reads what follows '#'"):
        build_config(write_cfg(tmp_path), [entry])
    quoted = build_config(write_cfg(tmp_path), [f'run.output_dir="{tmp_path}/exp #2"'])
    assert quoted.run.output_dir == f"{tmp_path}/exp #2"  # quoted: kept whole
    inside = build_config(write_cfg(tmp_path), [f"run.output_dir={tmp_path}/exp#2"])
    assert inside.run.output_dir == f"{tmp_path}/exp#2"  # '#' inside a word is no comment: kept


def test_typed_flags_pass_paths_as_typed(tmp_path):
    """--resume and --checkpoint were turned into dotlist text: ' #2' was dropped and '${x}'
    read as an interpolation, so the run resumed from (or evaluated) another path."""
    resume, checkpoint = f"{tmp_path}/run #2/c_${{x}}.pth", f"{tmp_path}/a #1/${{y}}.pth"
    args = argparse.Namespace(cfg_path=write_cfg(tmp_path), options=[], resume=resume, seeds=None,
                              checkpoint=checkpoint)
    cfg = config_from_args(args)
    assert (cfg.run.resume, cfg.model.checkpoint) == (resume, checkpoint)
    flags = {"datasets": {"synthetic_star": {"data_root": f"{tmp_path}/d #3"}}}  # gf demo-data --data-root
    assert build_config(write_cfg(tmp_path), flags=flags).datasets.synthetic_star.data_root == f"{tmp_path}/d #3"


def test_run_flags_are_checked_by_gf_validate_naming_the_flag(tmp_path, capsys):
    base = ["validate", "--cfg-path", write_cfg(tmp_path)]
    assert gf_main([*base, "--resume", f"{tmp_path}/x #2.pth"]) == 0
    assert OmegaConf.create(capsys.readouterr().out).run.resume == f"{tmp_path}/x #2.pth"
    assert gf_main([*base, "--seeds", "1", "1"]) == 2
    assert "--seeds lists [1] more than once" in capsys.readouterr().err
    assert gf_main([*base, "--seeds", "1", "--resume", "x.pth"]) == 2
    assert "--resume is a checkpoint (x.pth) but --seeds lists 1 seed(s)" in capsys.readouterr().err


def test_home_is_expanded_in_output_dir_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = build_config(write_cfg(tmp_path), ["run.output_dir=~/runA", "run.resume=~/a.pth"])
    assert (cfg.run.output_dir, cfg.run.resume) == (f"{tmp_path}/home/runA", f"{tmp_path}/home/a.pth")


def test_a_run_an_earlier_gf_wrote_to_a_literal_tilde_folder_is_refused_naming_both(tmp_path, monkeypatch):
    """An earlier gf kept '~' literally and wrote the run to ./~/runs/t1: resuming it now
    would start afresh in $HOME/runs/t1 without a word. Refused, naming both folders."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    literal = tmp_path / "~" / "runs" / "t1"
    literal.mkdir(parents=True)
    (literal / "checkpoint_last.pth").write_bytes(b"")
    with pytest.raises(ConfigError, match=rf"^run.output_dir ~/runs/t1 now means {tmp_path}/home/runs/t1, but an "
                                          rf"earlier gf wrote this run to {literal}.*Move that folder"):
        build_config(write_cfg(tmp_path), ["run.output_dir=~/runs/t1"])
    (tmp_path / "home" / "runs" / "t1").mkdir(parents=True)
    (tmp_path / "home" / "runs" / "t1" / "checkpoint_last.pth").write_bytes(b"")  # moved: the home one is used
    assert build_config(write_cfg(tmp_path), ["run.output_dir=~/runs/t1"]).run.output_dir == f"{tmp_path}/home/runs/t1"


def test_a_literal_interpolation_reads_back_from_config_yaml_and_gf_validate(tmp_path, capsys):
    cfg = build_config(write_cfg(tmp_path), [f"run.output_dir={tmp_path}/out_\\${{x}}"])
    save_config(cfg, tmp_path / "config.yaml")
    again = build_config(str(tmp_path / "config.yaml"))
    assert again.run.output_dir == cfg.run.output_dir == f"{tmp_path}/out_${{x}}"
    assert gf_main(["validate", "--cfg-path", str(tmp_path / "config.yaml")]) == 0
    printed = OmegaConf.create(capsys.readouterr().out)
    assert printed.run.output_dir == f"{tmp_path}/out_${{x}}"


@pytest.mark.parametrize("option, message", [
    ("model.glance_per_option=abc", r"model\.glance_per_option .*'abc' is not a valid bool"),
    ("model.checkpoint=[1,2]", r"model\.checkpoint .*Cannot convert 'ListConfig' to string"),
    ("model.model_type=[a]", r"^model\.model_type must be a name \(text\), got list \['a'\]"),
    ("model.name=[a]", r"^model\.name must be a name \(text\), got list \['a'\]"),
])
def test_model_meta_keys_are_typed(tmp_path, option, message):
    with pytest.raises(ConfigError, match=message):
        build_config(write_cfg(tmp_path), [option])


def test_glance_per_option_text_is_not_taken_as_true(tmp_path, monkeypatch):
    monkeypatch.setenv("GPO", "false")
    cfg = build_config(write_cfg(tmp_path), ["model.glance_per_option=${oc.env:GPO,false}"])
    assert OmegaConf.to_container(cfg, resolve=True)["model"]["glance_per_option"] is False
    from gf.models.glance_focus.model import GlanceFocus

    with pytest.raises(ConfigError, match="model.glance_per_option must be true or false, got 'false'"):
        GlanceFocus.from_config({"model_type": "demo_sup", "glance_per_option": "false"})


@pytest.mark.parametrize("option, code, message", [
    ("datasets.synthetic_star.max_events=20", 2, r"datasets\.synthetic_star\.max_events \(20\) exceeds "
                                                 r"model\.num_queries \(8\)"),
    ("datasets.synthetic_star.annotations.val=null", 3, r"datasets\.synthetic_star\.annotations\.val is not set"),
])
def test_gf_validate_refuses_what_gf_train_refuses_after_building_data(tmp_path, capsys, option, code, message):
    assert gf_main(["validate", "--cfg-path", write_cfg(tmp_path), "--options", option]) == code
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("name", ["", ".x"])
def test_a_plugin_name_that_is_not_a_module_name_is_refused(name):
    with pytest.raises(ConfigError, match=rf"^--plugins: {re.escape(repr(name))} is not a module name"):
        load_plugins([name], "--plugins")


def test_a_plugin_whose_own_import_fails_names_that_import(tmp_path, monkeypatch):
    (tmp_path / "cfg_broken_dep.py").write_text("import gf.nonexistent_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"'cfg_broken_dep' \(from plugins:\) was found but failed to import "
                                          r"'gf\.nonexistent_module'"):
        load_plugins(["cfg_broken_dep"])


@pytest.mark.parametrize("model_type, message", [
    ("cfg_bad_key", r"model type 'cfg_bad_key' of model 'glance_focus' gives overrides the model refuses: .*d_modle"),
    ("cfg_not_dict", r"model type 'cfg_not_dict' of model 'glance_focus' must return a dict of config overrides"),
])
def test_a_plugin_model_type_that_fails_is_named(tmp_path, monkeypatch, model_type, message):
    registry.get_model_class("glance_focus")  # the built-ins first; the plugin's types go into a copy
    monkeypatch.setattr(registry, "_model_types", {k: dict(v) for k, v in registry._model_types.items()})
    (tmp_path / f"{model_type}_plugin.py").write_text(
        "from gf.common.registry import registry\n"
        f"@registry.register_model_type('glance_focus', 'cfg_bad_key')\ndef bad_key(): return dict(d_modle=32)\n"
        f"@registry.register_model_type('glance_focus', 'cfg_not_dict')\ndef not_dict(): return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        build_config(write_cfg(tmp_path), [f"plugins=[{model_type}_plugin]", f"model.model_type={model_type}"])


def test_a_plugin_model_type_that_gives_no_dict_is_named_when_the_model_is_built(monkeypatch):
    """Only build_config named it: GlanceFocus.from_config (and a checkpoint's variant check)
    asked the registry directly and a variant returning None was `TypeError: 'NoneType' object
    is not iterable`."""
    from gf.models.glance_focus.model import GlanceFocus

    registry.get_model_class("glance_focus")  # the built-ins first; the test's type goes into a copy
    monkeypatch.setattr(registry, "_model_types", {k: dict(v) for k, v in registry._model_types.items()})
    registry.register_model_type("glance_focus", "cfg_gives_none")(lambda: None)
    with pytest.raises(ConfigError, match=r"^model type 'cfg_gives_none' of model 'glance_focus' must return a dict "
                                          r"of config overrides: .*Fix the function registered as that model type"):
        GlanceFocus.from_config(model_type="cfg_gives_none")


@pytest.mark.parametrize("entry, flag", [("overwrite=true", "--overwrite"), ("raw_dir=x", "--raw"),
                                         ("out_dir=y", "--out")])
def test_prepare_set_keys_that_clash_with_its_own_flags_are_refused(tmp_path, capsys, entry, flag):
    (tmp_path / "raw").mkdir()
    argv = ["prepare", "star", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "prep"), "--set", entry]
    assert gf_main(argv) == 2
    err = capsys.readouterr().err
    assert f"is given by {flag}, not --set" in err and "Traceback" not in err


def test_gf_download_takes_plugins_so_a_plugin_data_bundle_downloads(tmp_path, monkeypatch, capsys):
    """gf list --plugins listed a plugin's bundle, but gf download had no --plugins to fetch it."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as z:
        z.writestr("txt_db/a.json", "{}")
    (tmp_path / "cfg_data_plugin.py").write_text(
        "from gf.datasets.data_entries import DataEntry, register_data\n"
        f"register_data(DataEntry(name='cfgbundle', url='file://{tmp_path}/bundle.zip', target='CFGB', "
        "required=('txt_db/a.json',)))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GF_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["download", "data:cfgbundle", "--data-root", str(tmp_path / "dr"), "--quiet"]
    assert gf_main([*argv, "--plugins", "cfg_data_plugin"]) == 0, capsys.readouterr().err
    assert (tmp_path / "dr" / "CFGB" / "txt_db" / "a.json").read_text() == "{}"


def _zoo_plugin(tmp_path, module: str, entry: str) -> None:
    (tmp_path / f"{module}.py").write_text(
        "from gf.models.zoo.entries import PretrainedEntry, register_pretrained\n"
        f"register_pretrained(PretrainedEntry(name='glance_focus/{entry}', model='glance_focus', "
        f"model_type='demo_sup', url='file:///nowhere/{entry}.pth', sha256=None, format='gf', config={{}}, "
        "benchmark='star', reported={}))\n")


def _gf(tmp_path, *argv):
    """gf in a process of its own: a plugin's zoo entry stays out of this one's registry."""
    from test_runner import REPO, run_gf

    path = os.pathsep.join([str(tmp_path), str(REPO)])
    return run_gf(list(argv), env_extra={"PYTHONPATH": path, "GF_CACHE_DIR": str(tmp_path / "cache")}, check=False)


def test_gf_zoo_list_takes_plugins_so_a_plugin_zoo_entry_is_listed(tmp_path):
    """gf list pretrained --plugins listed a plugin's zoo entry; gf zoo list could not."""
    _zoo_plugin(tmp_path, "cfg_zoo_plugin", "cfg_plugin_entry")
    proc = _gf(tmp_path, "zoo", "list", "--plugins", "cfg_zoo_plugin")
    assert proc.returncode == 0 and "glance_focus/cfg_plugin_entry  format=gf benchmark=star" in proc.stdout


def test_gf_predict_takes_plugins_so_a_plugin_zoo_entry_is_resolved(tmp_path):
    """gf predict had no --plugins, so --checkpoint zoo:<a plugin's entry> could not be
    named; with it the entry is resolved (here to a file that is not there)."""
    _zoo_plugin(tmp_path, "cfg_predict_plugin", "cfg_predict_entry")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    proc = _gf(tmp_path, "predict", "--checkpoint", "zoo:glance_focus/cfg_predict_entry", "--video", str(video),
               "--question", "q", "--plugins", "cfg_predict_plugin")
    assert proc.returncode != 0 and "no such file /nowhere/cfg_predict_entry.pth" in proc.stderr, proc.stderr
