import os
import subprocess
import sys

import pytest

from gf.cli import main as gf_main
from gf.common.registry import Registry, RegistryError, registry


def test_register_lookup_and_list_with_patterns():
    reg = Registry("widget")

    @reg.register("glance_small")
    class A:
        pass

    reg.register("glance_large", object)
    reg.register("focus_only", dict)
    assert reg.get("glance_small") is A
    assert reg.names() == ["focus_only", "glance_large", "glance_small"]
    assert reg.names("glance") == ["glance_large", "glance_small"]
    assert reg.names("*_only") == ["focus_only"]


def test_unknown_name_error_names_kind_name_known_and_close_matches():
    reg = Registry("builder")
    for name in ("star", "agqa", "nextqa", "egotaskqa"):
        reg.register(name, type(name, (), {}))
    with pytest.raises(RegistryError) as err:
        reg.get("nextq")
    msg = str(err.value)
    assert "unknown builder 'nextq'" in msg
    assert "Did you mean: 'nextqa'" in msg
    assert "Registered builder names: agqa, egotaskqa, nextqa, star." in msg


def test_registering_a_different_object_under_a_taken_name_raises():
    reg = Registry("model")

    class A:
        pass

    class B:
        pass

    reg.register("m", A)
    reg.register("m", A)  # the same object again is fine (module re-import)
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("m", B)


def test_builtins_register_lazily_without_user_imports():
    code = ("import sys; import gf; assert 'gf.models' not in sys.modules; "
            "print(gf.registry.list_models()); assert 'gf.models' in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "glance_focus" in out.stdout


def test_import_gf_is_light():
    """import gf must not pull in torch, timm, torchvision or decord (it stays well under 2 s)."""
    code = "import sys, gf; print(sorted(m for m in ('torch','timm','torchvision','decord','transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_zoo_lists_its_entries_without_torch(tmp_path):
    """gf.models.zoo (gf zoo list, gf list pretrained) imports no torch; the model is still
    registered when the kind is looked up, and gf.models.GlanceFocus is there on first use."""
    code = ("import sys; from gf.models import zoo; names = zoo.list_pretrained(); "
            "assert names and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:3]; "
            "import gf; from gf.models import GlanceFocus; "
            "assert gf.registry.get_model_class('glance_focus') is GlanceFocus; print('ok')")
    env = dict(os.environ, GF_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-500:]


def test_model_types_and_unknown_model_type_error():
    assert {"star_sup", "star_reference", "demo_sup"} <= set(registry.list_model_types("glance_focus"))
    with pytest.raises(RegistryError, match="unknown model type 'star_sp'.*'star_sup'"):
        registry.get_model_type("glance_focus", "star_sp")
    with pytest.raises(RegistryError, match="unknown model 'glance'.*glance_focus"):
        registry.get_model_class("glance")


def test_every_kind_lists_and_unknown_kind_is_clear():
    assert "cosine" in registry.list_lr_schedulers()
    with pytest.raises(RegistryError, match="Kinds: builder, converter, data, evaluator, feature_store, hook, "
                                            "lr_scheduler, model, optimizer, pretrained, probe, processor, runner, "
                                            "task"):
        registry.kind("widgets")


def test_cli_list(capsys):
    assert gf_main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "glance_focus" in out and "star_sup" in out
    assert "pretrained glance_focus/star_reference_authors" in out  # the authors' released STAR model
    assert gf_main(["list", "lr_schedulers", "cos"]) == 0
    assert capsys.readouterr().out.split() == ["lr_schedulers", "(1):", "cosine"]
    assert gf_main(["list", "gizmos"]) == 2


def test_python_dash_m_gf_works():
    out = subprocess.run([sys.executable, "-m", "gf", "list", "models"], capture_output=True, text=True)
    assert out.returncode == 0 and "glance_focus" in out.stdout


def test_data_bundles_are_a_registry_kind(capsys):
    """Data bundles register like `pretrained`: the registry, `gf list data` and get_data see one table."""
    from gf.common.errors import ConfigError
    from gf.datasets.data_entries import DataEntry, get_data, register_data

    assert "star" in registry.list("data")
    assert registry.get("data", "star") == get_data("data:star")
    entry = DataEntry(name="toy-registry-bundle", url="https://example.org/toy.zip", target="TOY",
                      required=("a.txt",))
    assert register_data(entry) is entry
    assert register_data(DataEntry(**{**entry.__dict__})) is entry  # an equal entry again: a no-op
    with pytest.raises(ConfigError, match="already registered"):
        register_data(DataEntry(name="toy-registry-bundle", url="https://example.org/other.zip", target="TOY",
                                required=("a.txt",)))
    assert gf_main(["list", "bundles", "toy-registry"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "data (1):", "  data:toy-registry-bundle  -> <data_root>/TOY  url https://example.org/toy.zip  "
                     "sha256 not yet known"]


@pytest.mark.parametrize("module, source, message", [
    # Plugins register before the lazily loaded built-ins, so the clash blamed the built-in
    # ("cannot register gf.common.optim.adamw")
    ("clash_plugin", "@registry.register('optimizer', 'adamw')\ndef my_adamw(params, lr, weight_decay=0.0):\n"
                     "    pass\n",
     "RegistryError: optimizer name 'adamw' is already registered to gf.common.optim.adamw; cannot register "
     "clash_plugin.my_adamw under the same name. Choose another name."),
    # register_model_type did not load the built-ins first: the error came while gf's own
    # variants were imported and named neither the clash nor what to do
    ("clash_type_plugin", "@registry.register_model_type('glance_focus', 'demo_sup')\ndef my_demo_sup():\n"
                          "    return dict(d_model=32)\n",
     "RegistryError: model type 'demo_sup' of model 'glance_focus' is already registered to "
     "gf.benchmarks.synthetic.models.demo_sup; cannot register clash_type_plugin.my_demo_sup under the same "
     "name. Choose another name."),
])
def test_a_plugin_clashing_with_a_builtin_is_the_one_refused(tmp_path, module, source, message):
    """The plugin is the one told to rename, for a registered name and a model type alike."""
    (tmp_path / f"{module}.py").write_text("from gf.common.registry import registry\n" + source)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([repo, str(tmp_path)]))
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True, text=True)
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr
