"""Config sections, ``--options`` entries and run values that gf used to take with a raw
traceback, or accept and then fail on (or misuse) at train time: each is a ConfigError
naming the key, what was found and what is expected, from ``gf validate`` already."""
import re

import pytest
import yaml

from gf.cli import main as gf_main
from gf.common.config import ConfigError, build_config


def write_cfg(tmp_path, **sections):
    """The synthetic demo config with ``sections`` replacing whole top-level sections."""
    cfg = {"model": {"name": "glance_focus", "model_type": "demo_sup"},
           "datasets": {"synthetic_star": {"data_root": str(tmp_path / "data"), "max_events": 8}},
           "run": {"output_dir": str(tmp_path / "out"), "best_metric": "mean"}}
    cfg.update(sections)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_the_base_config_is_valid(tmp_path):
    cfg = build_config(write_cfg(tmp_path), ["datasets.synthetic_star.data_root=."])
    assert cfg.datasets.synthetic_star.data_root == "."  # the current folder, said explicitly


@pytest.mark.parametrize("sections, options, message", [
    ({}, ["run=3"], r"^run in --options must be a mapping .*got int 3$"),
    ({}, ["model=3"], r"^model in --options must be a mapping .*got int 3$"),
    ({"model": [1, 2]}, [], r"^model in file .*cfg\.yaml must be a mapping .*got list \[1, 2\]$"),
    ({"datasets": 5}, [], r"^datasets in file .*cfg\.yaml must be a mapping .*got int 5$"),
    ({}, ["datasets.synthetic_star=3"], r"^datasets\.synthetic_star in --options must be a mapping .*got int 3$"),
    ({"plugins": [3]}, [], r"^each item of plugins in file .*must be a module name .*got int 3$"),
    ({}, ["plugins=3"], r"^plugins in --options must be a list of module names .*got int 3$"),
    ({"plugins": "foo"}, [], r"^plugins in file .*must be a list of module names .*got str 'foo'$"),
    ({"plugins": {"a": 1}}, [], r"^plugins in file .*must be a list of module names .*got dict \{'a': 1\}$"),
    ({}, ["datasets.synthetic_star.generator=7"],
     r"^datasets\.synthetic_star\.generator in --options must be a mapping, got int 7$"),
    ({}, ["datasets.synthetic_star.splits=train"],
     r"^datasets\.synthetic_star\.splits in --options must be a list, got str 'train'$"),
])
def test_sections_of_the_wrong_type_name_section_and_types(tmp_path, sections, options, message):
    with pytest.raises(ConfigError, match=message):
        build_config(write_cfg(tmp_path, **sections), options)


@pytest.mark.parametrize("option", ["run.hooks=[a", "run.lr={", "run.lr='", "run.lr=${"])
def test_unreadable_options_name_the_entry(tmp_path, option):
    with pytest.raises(ConfigError, match=rf"^--options entry .{re.escape(option)}.: the value cannot be read"):
        build_config(write_cfg(tmp_path), [option])


def test_options_that_are_not_utf8_name_the_entry(tmp_path, capsys):
    option = "run.output_dir=/tmp/u\udcff"  # how Python hands over the argument bytes /tmp/u\xff
    with pytest.raises(ConfigError, match=r"^--options entry 'run\.output_dir=/tmp/u\\xff' \(byte 0xff\) is not UTF-8 text"):
        build_config(write_cfg(tmp_path), [option])
    assert gf_main(["validate", "--cfg-path", write_cfg(tmp_path), "--options", option]) == 2
    assert "not UTF-8" in capsys.readouterr().err


def test_interpolation_error_in_a_numeric_run_key_is_the_clean_message(tmp_path):
    path = write_cfg(tmp_path, run={"lr": "${nosuch.key}", "best_metric": "mean"})
    with pytest.raises(ConfigError, match=r"^config interpolation failed at run\.lr: .*nosuch\.key"):
        build_config(path)


def test_a_list_key_given_text_or_an_index_names_the_key_and_the_fix(tmp_path, monkeypatch):
    """Text from oc.env for a list key named no key ("full_key: object_type=None"), and
    run.seeds.0=5 blamed the empty key "run."."""
    monkeypatch.setenv("GF_TEST_SEEDS", "0,1")
    with pytest.raises(ConfigError, match=r"^config interpolation failed at run\.seeds: .*oc\.decode:\$\{oc\.env:VAR\}"):
        build_config(write_cfg(tmp_path), ["run.seeds=${oc.env:GF_TEST_SEEDS}"])
    monkeypatch.setenv("GF_TEST_SEEDS", "[0,1]")
    assert list(build_config(write_cfg(tmp_path), ["run.seeds=${oc.decode:${oc.env:GF_TEST_SEEDS}}"]).run.seeds) == [0, 1]
    with pytest.raises(ConfigError, match=r"^invalid value for run\.seeds in --options: .*give the whole list "
                                          r"\(run\.seeds=\[\.\.\.\]\)"):
        build_config(write_cfg(tmp_path), ["run.seeds.0=5"])


@pytest.mark.parametrize("seed", [-1, 2 ** 32])
def test_run_seed_outside_numpys_range_is_refused(tmp_path, seed):
    with pytest.raises(ConfigError, match=rf"^run\.seed must be an integer in \[0, 2\*\*32\).*got {seed}$"):
        build_config(write_cfg(tmp_path), [f"run.seed={seed}"])
    # with run.seeds, each seed replaces run.seed: it is not used, so not refused
    assert build_config(write_cfg(tmp_path), [f"run.seed={seed}", "run.seeds=[0,1]"]).run.seeds == [0, 1]


@pytest.mark.parametrize("option, message", [
    ("run.valid_splits=[val,val]", r"^run\.valid_splits lists 'val' more than once"),
    ("run.test_splits=[test,val,test]", r"^run\.test_splits lists 'test' more than once"),
    ('run.output_dir=""', r"^run\.output_dir is empty"),
    ("datasets.synthetic_star.data_root=null", r"^datasets\.synthetic_star\.data_root is null: name the folder"),
    # the whole data root would be the synthetic benchmark's folder, and "delete it to regenerate" advised
    ("datasets.synthetic_star.dataset_dir=null", r"^datasets\.synthetic_star\.dataset_dir is null: name the folder "
                                                r".*'\.' for data_root itself"),
    ('datasets.synthetic_star.dataset_dir=""', r"^datasets\.synthetic_star\.dataset_dir is '': name the folder"),
    ('datasets.synthetic_star.data_root=""', r"^datasets\.synthetic_star\.data_root is '': name the folder"),
])
def test_values_that_would_be_misused_are_refused(tmp_path, option, message):
    with pytest.raises(ConfigError, match=message):
        build_config(write_cfg(tmp_path), [option])


@pytest.mark.parametrize("train_dataset, message", [
    (None, "the config lists several datasets (star, synthetic_star); set run.train_dataset "
           "to the one to train on (every listed dataset is evaluated)."),
    ("sta", "run.train_dataset is 'sta', which is not under datasets: (star, synthetic_star)."),
])
def test_the_training_dataset_is_named_or_refused_word_for_word(tmp_path, train_dataset, message):
    datasets = {"synthetic_star": {"data_root": str(tmp_path / "data"), "max_events": 8},
                "star": {"data_root": str(tmp_path / "star")}}
    options = [] if train_dataset is None else [f"run.train_dataset={train_dataset}"]
    path = write_cfg(tmp_path, datasets=datasets)
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        build_config(path, options)
    chosen = build_config(path, ["run.train_dataset=synthetic_star"])
    assert chosen.run.train_dataset == "synthetic_star"


@pytest.mark.parametrize("option, message", [
    *[(f"model.{key}={value}", rf"^model: {key} must be an integer >= 1, got {value}$")
      for key in ("nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward", "text_max_length")
      for value in (0, -1)],
    *[(f"model.{key}={value}", rf"^model: {key} must be a finite number >= 0, got {shown}$")
      for key in ("cost_cls", "cost_l1", "eos_coef", "loss_weights.loss_l1", "loss_weights.loss_qa")
      for value, shown in ((-1, r"-1\.0"), (".nan", "nan"), (".inf", "inf"))],
])
def test_model_sizes_and_weights_out_of_range_are_refused_by_name(tmp_path, option, message):
    """Each gave a raw ZeroDivisionError or RuntimeError at build time, or trained: without an
    encoder, with an inverted matching (a negative cost), or into a NaN loss blamed on the lr."""
    with pytest.raises(ConfigError, match=message):
        build_config(write_cfg(tmp_path), [option])


def test_gf_validate_refuses_what_train_would_fail_on(tmp_path, capsys):
    for option in ("datasets.synthetic_star.generator=7", "run.seed=-1", "run=3"):
        assert gf_main(["validate", "--cfg-path", write_cfg(tmp_path), "--options", option]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and option.split("=")[0] in err


@pytest.mark.parametrize("option, code, message", [
    ("datasets.synthetic_star.max_feats=0", 2, r"datasets\.synthetic_star\.max_feats must be a positive integer"),
    ("datasets.synthetic_star.frame_probe=shufle", 2, r"datasets\.synthetic_star\.frame_probe must be null, shuffle"),
    ("datasets.synthetic_star.text_format={q}", 2, r"datasets\.synthetic_star\.text_format: text_format must be a str"),
    ('datasets.synthetic_star.text_format="{q}"', 2, r"datasets\.synthetic_star\.text_format: .*unknown placeholder"),
    ("datasets.synthetic_star.seed=true", 2, r"datasets\.synthetic_star\.seed must be an integer, got True"),
    ("run.valid_splits=[vall]", 3, r"datasets\.synthetic_star: unknown split\(s\) \['vall'\]"),
    ("run.train_split=trian", 3, r"datasets\.synthetic_star: unknown split\(s\) \['trian'\]"),
])
def test_gf_validate_runs_the_dataset_checks_of_gf_train(tmp_path, capsys, option, code, message):
    """Each was printed 'valid' and then refused by gf train (a bad text_format with exit 3,
    a dataset error, where every other config key exits 2). No data is generated to check."""
    assert gf_main(["validate", "--cfg-path", write_cfg(tmp_path), "--options", option]) == code
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err and "valid\n" not in err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("hooks, message", [
    ("[lr_scheduler]", r"run\.hooks lists 'lr_scheduler', a built-in hook that always runs"),
    ("[grounding_diagnostics,evaluation]", r"run\.hooks lists 'evaluation', a built-in hook that always runs"),
    ("[grounding_diagnostics,grounding_diagnostics]", r"run\.hooks lists 'grounding_diagnostics' more than once"),
])
def test_a_hook_that_would_run_twice_is_refused(tmp_path, capsys, hooks, message):
    """Each ran twice (the learning rate stepped twice a step, two records an epoch), silently."""
    from gf.runners.build import build_hooks

    assert gf_main(["validate", "--cfg-path", write_cfg(tmp_path), "--options", f"run.hooks={hooks}"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    with pytest.raises(ConfigError, match=message):  # a run built from the config without the CLI
        build_hooks(build_config(write_cfg(tmp_path), [f"run.hooks={hooks}"]))
    assert len(build_hooks(build_config(write_cfg(tmp_path), ["run.hooks=[grounding_diagnostics]"]))) == 7


def test_loss_weights_can_be_set_from_options_and_yaml(tmp_path):
    """Any key under model.loss_weights was refused ('not in struct'); the model's own check
    still refuses a loss name it does not know."""
    cfg = build_config(write_cfg(tmp_path), ["model.loss_weights.loss_qa=2.0"])
    assert cfg.model.loss_weights == {"loss_qa": 2.0}
    model = {"name": "glance_focus", "model_type": "demo_sup", "loss_weights": {"loss_qa": 2.0, "loss_cls": 1.5}}
    assert build_config(write_cfg(tmp_path, model=model)).model.loss_weights == {"loss_qa": 2.0, "loss_cls": 1.5}
    with pytest.raises(ConfigError, match=r"^model: unknown loss weight\(s\) \['loss_qx'\]"):
        build_config(write_cfg(tmp_path), ["model.loss_weights.loss_qx=2.0"])


def test_an_extra_split_is_accepted_and_other_sections_stay_closed(tmp_path):
    """The builder takes a new split under annotations; the config layer refused it."""
    options = ["datasets.synthetic_star.annotations.val_small=txt_db/val_small.jsonl",
               "datasets.synthetic_star.splits=[train,val,val_small,test]"]
    cfg = build_config(write_cfg(tmp_path), options)
    assert cfg.datasets.synthetic_star.annotations.val_small == "txt_db/val_small.jsonl"
    for option in ("datasets.synthetic_star.generator.train_per_typ=3", "datasets.synthetic_star.stream.enabld=1"):
        with pytest.raises(ConfigError, match=r"is not in struct"):
            build_config(write_cfg(tmp_path), [option])


def test_model_type_from_an_environment_variable_is_resolved(tmp_path, monkeypatch):
    """It was looked up unresolved: "unknown model type '${oc.env:MT,demo_sup}'"."""
    option = "model.model_type=${oc.env:GF_TEST_MT,demo_sup}"
    assert build_config(write_cfg(tmp_path), [option]).model.model_type == "demo_sup"
    monkeypatch.setenv("GF_TEST_MT", "demo_uns")
    assert build_config(write_cfg(tmp_path), [option]).model.memory == "uns"
    with pytest.raises(ConfigError, match=r"^model\.model_type is '\$\{run\.seed\}', which cannot be resolved before"):
        build_config(write_cfg(tmp_path), ["model.model_type=${run.seed}"])


def test_a_number_from_oc_env_is_text_and_the_error_says_how_to_get_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("GF_TEST_MAXF", "20")
    with pytest.raises(ConfigError, match=r"^datasets\.synthetic_star\.max_feats is '\$\{oc\.env:GF_TEST_MAXF,36\}', "
                                          r"which gives the text '20', not a number: oc\.env gives text; write "
                                          r"\$\{oc\.decode:\$\{oc\.env:VAR\}\} to get a number$"):
        build_config(write_cfg(tmp_path), ["datasets.synthetic_star.max_feats=${oc.env:GF_TEST_MAXF,36}"])
    cfg = build_config(write_cfg(tmp_path), ["datasets.synthetic_star.max_feats=${oc.decode:${oc.env:GF_TEST_MAXF}}"])
    assert cfg.datasets.synthetic_star.max_feats == 20
    # a key of the generator mapping too (its error named SyntheticStarConfig.seed, not the config key)
    with pytest.raises(ConfigError, match=r"^datasets\.synthetic_star\.generator\.seed is '\$\{oc\.env:GF_TEST_MAXF\}', "
                                          r"which gives the text '20'"):
        build_config(write_cfg(tmp_path), ["datasets.synthetic_star.generator.seed=${oc.env:GF_TEST_MAXF}"])
