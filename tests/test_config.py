import sys
import textwrap

import pytest
from omegaconf import OmegaConf

from gf.cli import main as gf_main
from gf.common.config import ConfigError, build_config, save_config

PLUGIN = textwrap.dedent('''
    from gf.common.registry import registry

    @registry.register_builder("toy_cfg_bench")
    class ToyBuilder:
        benchmark = "star"
        answer_mode = "mc"
        DEFAULT_CONFIG = {"data_root": "gf_data", "max_feats": 80, "splits": ["train", "val"], "note": None}
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "toy_cfg_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "toy_cfg_plugin"
    sys.modules.pop("toy_cfg_plugin", None)


def write(tmp_path, text, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def base_yaml(plugin, extra_model="", extra_run=""):
    return f"""
        plugins: [{plugin}]
        model:
          name: glance_focus
          model_type: star_uns
          {extra_model}
        datasets:
          toy_cfg_bench:
            max_feats: 40
        run:
          lr: 0.001
          {extra_run}
    """


def test_precedence_defaults_model_type_yaml_options(tmp_path, plugin):
    path = write(tmp_path, base_yaml(plugin, extra_model="d_model: 256"))
    cfg = build_config(str(path), ["run.lr=0.5", "datasets.toy_cfg_bench.data_root=/data"])
    assert cfg.model.nhead == 8                      # component default
    assert cfg.model.memory == "uns"                 # model type star_uns
    assert cfg.model.d_model == 256                  # project YAML
    assert cfg.run.lr == 0.5                         # --options beat the YAML (0.001)
    assert cfg.run.epochs == 10                      # run default
    assert cfg.datasets.toy_cfg_bench.max_feats == 40 and cfg.datasets.toy_cfg_bench.data_root == "/data"
    assert cfg.datasets.toy_cfg_bench.splits == ["train", "val"]  # builder default


def test_unknown_keys_name_the_key_and_the_file(tmp_path, plugin):
    path = write(tmp_path, base_yaml(plugin, extra_model="num_querys: 5"))
    with pytest.raises(ConfigError, match=r"file .*cfg\.yaml: unknown key 'model\.num_querys' \(did you mean 'model\.num_queries'\?\)"):
        build_config(str(path))
    path = write(tmp_path, base_yaml(plugin), "ok.yaml")
    with pytest.raises(ConfigError, match=r"--options: unknown key 'run\.epoch' \(did you mean 'run\.epochs'\?\)"):
        build_config(str(path), ["run.epoch=3"])
    with pytest.raises(ConfigError, match=r"datasets\.toy_cfg_bench\.max_feat"):
        build_config(str(path), ["datasets.toy_cfg_bench.max_feat=3"])


def test_wrong_types_name_the_key_and_source(tmp_path, plugin):
    path = write(tmp_path, base_yaml(plugin, extra_run="epochs: many"))
    with pytest.raises(ConfigError, match=r"run\.epochs.*cfg\.yaml"):
        build_config(str(path))
    path = write(tmp_path, base_yaml(plugin), "ok.yaml")
    with pytest.raises(ConfigError, match=r"model\.d_model.*--options"):
        build_config(str(path), ["model.d_model=wide"])


def test_value_checks_before_any_work(tmp_path, plugin):
    path = write(tmp_path, base_yaml(plugin, extra_model="arch: detr"))
    with pytest.raises(ConfigError, match="arch"):
        build_config(str(path))
    path = write(tmp_path, base_yaml(plugin, extra_run="lr_sched: cosin"), "b.yaml")
    with pytest.raises(Exception, match="cosine"):
        build_config(str(path))
    path = write(tmp_path, base_yaml(plugin, extra_run="best_metric: ${oc.env:GF_TEST_UNSET_VARIABLE}"), "d.yaml")
    with pytest.raises(ConfigError, match="config interpolation failed"):  # before the value is looked at
        build_config(str(path))
    for name, value in (("dropout", "1.5"), ("resizer_dropout", "-0.1"), ("dropout", "1.0")):
        path = write(tmp_path, base_yaml(plugin, extra_model=f"{name}: {value}"), "c.yaml")
        with pytest.raises(ConfigError, match=rf"model: {name} is a probability in \[0, 1\), got {value}"):
            build_config(str(path))


def test_unknown_dataset_and_missing_plugin(tmp_path, plugin):
    path = write(tmp_path, """
        model: {name: glance_focus}
        datasets: {stars: {}}
    """)
    with pytest.raises(ConfigError, match="unknown builder 'stars'"):
        build_config(str(path))
    path = write(tmp_path, """
        plugins: [no_such_module_xyz]
        model: {name: glance_focus}
        datasets: {star: {}}
    """, "p.yaml")
    with pytest.raises(ConfigError, match="no_such_module_xyz"):
        build_config(str(path))


def test_env_interpolation_and_saved_resolved_config(tmp_path, plugin, monkeypatch):
    monkeypatch.setenv("GF_TEST_ROOT", "/somewhere")
    path = write(tmp_path, base_yaml(plugin).replace("max_feats: 40", "data_root: ${oc.env:GF_TEST_ROOT,gf_data}"))
    cfg = build_config(str(path))
    save_config(cfg, tmp_path / "out" / "config.yaml")
    saved = OmegaConf.load(tmp_path / "out" / "config.yaml")
    assert saved.datasets.toy_cfg_bench.data_root == "/somewhere"
    assert saved.plugins == [plugin]


def test_gf_validate_command(tmp_path, plugin, capsys):
    path = write(tmp_path, base_yaml(plugin))
    assert gf_main(["validate", "--cfg-path", str(path)]) == 0
    assert "toy_cfg_bench" in capsys.readouterr().out
    assert gf_main(["validate", "--cfg-path", str(path), "--options", "run.nope=1"]) == 2
    assert "run.nope" in capsys.readouterr().err
