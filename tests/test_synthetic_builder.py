import pytest

from gf.common.registry import registry
from gf.benchmarks.synthetic.generate import SyntheticBenchmarkError

TINY = dict(train_per_type=2, val_per_type=1, test_per_type=1, feature_dim=8, max_event_frames=3, max_gap_frames=1)


def build(tmp_path, **generator):
    cls = registry.get_builder_class("synthetic_star")
    return cls({"data_root": str(tmp_path), "max_feats": 24, "generator": {**TINY, **generator}})


def test_generated_on_first_use_and_read_through_the_star_code_path(tmp_path):
    builder = build(tmp_path)
    datasets = builder.build_datasets()
    assert (tmp_path / "SYNTHETIC_STAR" / "txt_db" / "train.jsonl").is_file()
    assert {k: len(v) for k, v in datasets.items()} == {"train": 8, "val": 4, "test": 4}
    info = builder.info()
    assert info["event_pred_dim"] == 21 and info["feature_dim"] == 8 and info["num_options"] == 4
    sample = datasets["test"][0]
    assert sample["answer"] is not None  # the synthetic test split is labelled, unlike STAR's
    assert sample["video"].shape == (24, 8) and len(sample["text"]) == 4
    assert builder.benchmark == "star"


def test_a_folder_generated_with_another_config_is_refused(tmp_path):
    build(tmp_path).build_datasets(["train"])
    with pytest.raises(SyntheticBenchmarkError, match="another config"):
        build(tmp_path, seed=1).build_datasets(["train"])


def test_unknown_generator_key_is_an_error(tmp_path):
    with pytest.raises((TypeError, ValueError), match="num_verb"):
        build(tmp_path, num_verb=3)


def test_typo_in_a_generator_key_names_the_key_and_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"datasets\.synthetic_star\.generator: unknown key 'trian_per_type' "
                                         r"\(did you mean 'train_per_type'\?\)\. Known keys: .*train_per_type") as e:
        build(tmp_path, trian_per_type=5)
    assert not isinstance(e.value, TypeError)
    assert not (tmp_path / "SYNTHETIC_STAR").exists()  # refused before generating anything


def test_version_2_through_the_builder_and_a_v1_folder_is_refused(tmp_path):
    builder = build(tmp_path / "a", version=2, max_events=6)
    assert builder.generator_config.version == 2 and builder.generator_config.num_classes == 48
    assert builder.info()["event_pred_dim"] == 49
    build(tmp_path / "b").build_datasets(["train"])  # version 1 (the default)
    with pytest.raises(SyntheticBenchmarkError, match="version: folder has 1, requested 2"):
        build(tmp_path / "b", version=2).build_datasets(["train"])
