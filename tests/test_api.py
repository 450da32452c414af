"""gf.api (load_model_and_preprocess, load_model, load_dataset) and GlanceFocus.predict_example."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REFERENCE, TINY_TEXT_ENCODER
from helpers_http import LocalHTTPServer, ServedFile

from gf.api import load_dataset, load_model, load_model_and_preprocess
from gf.common.registry import RegistryError
from gf.models import zoo
from gf.models.glance_focus import GlanceFocus
from gf.processors.text import VideoQATextProcessor
from gf.processors.video import VideoFeatureProcessor
from gf.models.checkpoint import save_checkpoint

TINY = dict(d_model=32, nhead=4, dim_feedforward=64, num_queries=5, feature_dim=12, max_feats=16,
            event_pred_dim=7, dropout=0.0, resizer_dropout=0.0, text_encoder=TINY_TEXT_ENCODER)
QUESTIONS = ["What did the person do after holding the cup?", "Which object was eaten?"]
OPTIONS = [["Took the towel.", "Opened the door.", "Sat on the sofa.", "Ate the sandwich."],
           ["The box.", "The sandwich.", "The cup.", "The towel."]]


@pytest.fixture(autouse=True)
def isolated(isolated_cache):
    return isolated_cache


def make_checkpoint(path: Path, seed: int = 0, text_format: str = "{question} {option}") -> GlanceFocus:
    torch.manual_seed(seed)
    model_config = dict(TINY, model_type="star_sup")
    model = GlanceFocus.from_config(model_config).eval()
    save_checkpoint(path, model_state=model.state_dict(),
                    config={"model": {"name": "glance_focus", **model_config},
                            "datasets": {"nextqa": {"text_format": text_format}}, "run": {}},
                    extra={"benchmark": "star", "dataset": "nextqa", "model_config": model_config})
    return model


def clips(frames=(23, 7), dim=12, seed=0):
    g = np.random.default_rng(seed)
    return [g.standard_normal((t, dim)) for t in frames]  # float64 numpy, as users have them


def batch_from(processors, feats, questions=QUESTIONS, options=OPTIONS):
    samples = [processors["video"](torch.as_tensor(f, dtype=torch.float32)) for f in feats]
    texts = [t for q, o in zip(questions, options) for t in processors["text"](q, o)]
    return {"video": torch.stack([s["video"] for s in samples]),
            "video_mask": torch.stack([s["video_mask"] for s in samples]), "text": texts}


def test_pretrained_served_over_http_reproduces_the_original_predictions(tmp_path):
    ckpt = tmp_path / "run" / "checkpoint_best.pth"
    original = make_checkpoint(ckpt, text_format="{question} [SEP] {option}")
    with LocalHTTPServer(lifetime=30) as srv:
        srv.routes["/ckpt.pth"] = ServedFile(ckpt.read_bytes())
        entry = zoo.publish_checkpoint(ckpt, "tiny_star", url=srv.url("/ckpt.pth"))
        model, train, evaluation = load_model_and_preprocess("glance_focus", pretrained=entry.name)
        again = load_model("glance_focus", "star_sup", checkpoint="zoo:tiny_star")
        assert len(srv.requests_to("/ckpt.pth")) == 1  # the second load used the verified cache
    assert not model.training and not again.training
    assert isinstance(evaluation["video"], VideoFeatureProcessor) and not evaluation["video"].train
    assert train["video"].train and (evaluation["video"].max_feats, evaluation["video"].feature_dim) == (16, 12)
    assert isinstance(evaluation["text"], VideoQATextProcessor)
    assert evaluation["text"].text_format == "{question} [SEP] {option}"  # what the weights were trained with
    batch = batch_from(evaluation, clips())
    expected = original.predict(batch)
    for loaded in (model, again):
        got = loaded.predict(batch)
        assert torch.equal(got["scores"], expected["scores"]) and torch.equal(got["prediction"], expected["prediction"])
    with pytest.raises(ValueError, match="model_type 'star_sup'"):
        load_model("glance_focus", "star_uns", pretrained="tiny_star")
    with pytest.raises(ValueError, match="either checkpoint= or pretrained="):
        load_model("glance_focus", checkpoint=ckpt, pretrained="tiny_star")


def test_checkpoint_path_builds_the_recorded_model(tmp_path):
    ckpt = tmp_path / "c.pth"
    original = make_checkpoint(ckpt, seed=3)
    model = load_model("glance_focus", checkpoint=str(ckpt))
    assert model.config.to_dict() == original.config.to_dict()
    batch = batch_from({"video": VideoFeatureProcessor(16, 12), "text": VideoQATextProcessor()}, clips(seed=1))
    assert torch.equal(model.predict(batch)["scores"], original.predict(batch)["scores"])
    with pytest.raises(ValueError, match="trained as model_type 'star_sup'"):
        load_model("glance_focus", "star_uns", checkpoint=ckpt)
    with pytest.raises(FileNotFoundError):
        load_model("glance_focus", checkpoint=tmp_path / "missing.pth")


def test_authors_checkpoint_file_reproduces_the_reference():
    case = REFERENCE / "star_mc"
    model = load_model("glance_focus", "star_reference", checkpoint=case / "model_3.tar", nhead=4,
                       text_encoder=str(case / "text_encoder"))
    expected = torch.load(case / "expected.pt", weights_only=True)
    with torch.no_grad():
        out = model({"video": expected["frames"], "text": expected["texts"]})
    torch.testing.assert_close(out["pred_answer"], expected["pred_answer"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_type", ["agqa_sup", "egotaskqa_uns"])
def test_an_authors_checkpoint_is_refused_under_a_variant_with_another_answer_mode(model_type):
    """The authors' file is multiple-choice; an open-ended variant would silently lose its
    answer mode to the file yet keep its memory and max_feats: a model that is neither."""
    from gf.common.errors import CheckpointError

    case = REFERENCE / "star_mc"
    with pytest.raises(CheckpointError, match=rf"multiple-choice \(mc\) weights, but model_type '{model_type}' "
                                              r"is open-ended \(oe\)") as err:
        load_model("glance_focus", model_type, checkpoint=case / "model_3.tar", nhead=4,
                   text_encoder=str(case / "text_encoder"))
    assert "model_3.tar" in str(err.value)


def test_without_weights_the_variant_is_built_and_nothing_is_fetched(tmp_path):
    model, train, evaluation = load_model_and_preprocess("glance_focus", "demo_sup", is_eval=False,
                                                         text_encoder=TINY_TEXT_ENCODER, freeze_text_encoder=False)
    assert model.training and model.config.d_model == 64 and model.config.memory == "sup"
    assert (evaluation["video"].max_feats, evaluation["video"].feature_dim) == (36, 64)
    assert evaluation["text"].text_format == "{question} {option}"
    assert not (tmp_path / "cache").exists()
    with pytest.raises(RegistryError, match="unknown model type"):
        load_model("glance_focus", "demo_supp")


def test_predict_example_agrees_with_predict():
    torch.manual_seed(0)
    model = GlanceFocus.from_config(dict(TINY, model_type="star_sup")).eval()
    processors = {"video": VideoFeatureProcessor(16, 12), "text": VideoQATextProcessor()}
    feats = clips(frames=(23, 7))
    batched = model.predict(batch_from(processors, feats))
    for i, f in enumerate(feats):  # one clip longer, one shorter than max_feats
        one = model.predict_example(f, QUESTIONS[i], OPTIONS[i])
        alone = model.predict(batch_from(processors, [f], [QUESTIONS[i]], [OPTIONS[i]]))
        assert one["scores"] == alone["scores"][0].tolist()  # the same single example: exactly equal
        assert one["prediction"] == int(alone["prediction"][0]) == int(batched["prediction"][i])
        assert one["answer"] == OPTIONS[i][one["prediction"]]
        # within a batch, text padding to the longest question changes the sums by float rounding only
        torch.testing.assert_close(torch.tensor(one["scores"]), batched["scores"][i], atol=1e-5, rtol=0)
    # rows marked as padding are dropped before sampling
    padded = np.concatenate([feats[1], np.zeros((5, 12))])
    mask = np.array([True] * 7 + [False] * 5)
    assert model.predict_example(padded, QUESTIONS[1], OPTIONS[1], video_mask=mask) == \
        model.predict_example(feats[1], QUESTIONS[1], OPTIONS[1])
    with pytest.raises(ValueError, match="options"):
        model.predict_example(feats[0], QUESTIONS[0])
    with pytest.raises(ValueError, match="feature_dim=12"):
        model.predict_example(np.zeros((4, 10)), QUESTIONS[0], OPTIONS[0])


@pytest.mark.parametrize("question,options,match", [
    ("", None, "the question is empty"),
    ("  \n\t ", None, "the question is empty"),
    (None, None, "the question must be a string, got NoneType None"),
    ("what happened?", ["a", "", "c", "d"], "option 1 is empty"),
    ("what happened?", ["a", 2, "c", "d"], "option 1 must be a string, got int 2"),
    ("what happened?", ["a", "b", "   ", "d"], "option 2 is empty"),
    ("what happened?", ["took the cup", "b", "took  the cup ", "d"], "options 0 and 2 are the same"),
    ("what happened?", ["a", "a", "c", "d"], "options 0 and 1 are the same"),
])
def test_predict_example_refuses_empty_questions_and_options(question, options, match):
    from gf.common.errors import ModelInputError

    torch.manual_seed(0)
    model = GlanceFocus.from_config(dict(TINY, model_type="star_sup")).eval()
    feats = clips(frames=(20,))[0]
    with pytest.raises(ModelInputError, match=match):
        model.predict_example(feats, question, options if options is not None else OPTIONS[0])
    if options is None:  # open-ended: the question alone is checked
        oe = GlanceFocus.from_config(dict(TINY, answer_mode="oe", num_answers=9)).eval()
        with pytest.raises(ModelInputError, match=match):
            oe.predict_example(feats, question)


def test_the_text_processor_refuses_non_strings_with_a_model_input_error():
    """eval_processors["text"] called directly: a question or option that is not a string is
    a ModelInputError naming it (it was a raw TypeError; check_question called it empty)."""
    from gf.common.errors import ModelInputError

    texts = VideoQATextProcessor()
    with pytest.raises(ModelInputError, match=r"^the question must be a string, got int 3$"):
        texts(3, ["a", "b"])
    with pytest.raises(ModelInputError, match=r"^option 1 must be a string, got int 2$"):
        texts("what?", ["a", 2])
    with pytest.raises(ModelInputError, match=r"^options must be a list of strings, got str 'ab'$"):
        texts("what?", "ab")
    assert texts("what?", ["a", "b"]) == ["what? a", "what? b"]


def test_predict_example_open_ended():
    torch.manual_seed(0)
    model = GlanceFocus.from_config(dict(TINY, answer_mode="oe", num_answers=9)).eval()
    feats = clips(frames=(20,))[0]
    vocab = [f"answer{i}" for i in range(9)]
    one = model.predict_example(feats, QUESTIONS[0], answer_vocab=vocab)
    sample = VideoFeatureProcessor(16, 12)(torch.as_tensor(feats, dtype=torch.float32))
    batched = model.predict({"video": sample["video"][None], "video_mask": sample["video_mask"][None],
                             "text": [QUESTIONS[0]]})
    assert one["scores"] == batched["scores"][0].tolist() and len(one["scores"]) == 9
    assert one["answer"] == vocab[one["prediction"]] == vocab[int(batched["prediction"][0])]
    assert model.predict_example(feats, QUESTIONS[0])["answer"] == one["prediction"]
    with pytest.raises(ValueError, match="open-ended"):
        model.predict_example(feats, QUESTIONS[0], OPTIONS[0])


def test_load_dataset_uses_the_registered_builder(tmp_path):
    generator = dict(train_per_type=2, val_per_type=1, test_per_type=1, feature_dim=8, max_event_frames=3,
                     max_gap_frames=1)
    datasets = load_dataset("synthetic_star", {"max_feats": 24, "generator": generator}, splits=["val"],
                            data_root=tmp_path)
    assert list(datasets) == ["val"] and len(datasets["val"]) == 4
    assert datasets["val"][0]["video"].shape == (24, 8)
    with pytest.raises(RegistryError, match="Did you mean"):
        load_dataset("synthetic_starr")
    with pytest.raises(ValueError, match="max_feat"):
        load_dataset("synthetic_star", {"max_feat": 24}, data_root=tmp_path)


def test_importing_gf_api_does_not_import_torch():
    code = "import sys, gf, gf.api; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_lazy_api_on_gf_imports_no_torch_until_used():
    import subprocess
    import sys

    code = ("import sys, gf; assert 'torch' not in sys.modules; "
            "gf.load_model, gf.load_model_and_preprocess, gf.load_dataset")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_predict_example_refuses_a_question_that_would_cut_the_options():
    """The text is cut at text_max_length from its end, which is the option: every option
    would score alike and option 0 come out as a tie-break."""
    from gf.common.errors import ModelInputError

    torch.manual_seed(0)
    model = GlanceFocus.from_config(dict(TINY, model_type="star_sup", text_max_length=16)).eval()
    feats = clips(frames=(20,))[0]
    model.predict_example(feats, "what did the person do?", OPTIONS[0])  # fits
    with pytest.raises(ModelInputError, match=r"longest option \(option \d\) is \d+ tokens.*at most 16"):
        model.predict_example(feats, "what did the person do " * 6, OPTIONS[0])


def test_nan_features_are_refused_by_the_api_processors_and_predict_example():
    """NaN/Inf features used to pass through and give an answer from NaN scores."""
    from gf.common.errors import DataFileError

    torch.manual_seed(0)
    model, _, processors = load_model_and_preprocess("glance_focus", model_type="star_sup", **TINY)
    feats = torch.randn(20, 12)
    feats[3, 5], feats[7, 0] = float("nan"), float("inf")
    for call in (processors["video"], lambda f: model.predict_example(f, QUESTIONS[0], OPTIONS[0])):
        with pytest.raises(DataFileError, match=r"1 NaN and 1 infinite value\(s\), in frame\(s\) 3, 7"):
            call(feats)


def test_load_model_answers_with_the_checkpoints_text_format(tmp_path):
    """predict_example of gf.load_model(checkpoint=...) used "{question} {option}" whatever the
    weights were trained with; now it defaults to the checkpoint's format, as evaluation does."""
    make_checkpoint(tmp_path / "ck.pth", text_format="Q: {question} A: {option}")
    model = load_model("glance_focus", checkpoint=tmp_path / "ck.pth")
    assert model.text_format == "Q: {question} A: {option}"
    feats = clips(frames=(20,))[0]
    one = model.predict_example(feats, QUESTIONS[0], OPTIONS[0])
    assert one == model.predict_example(feats, QUESTIONS[0], OPTIONS[0], text_format="Q: {question} A: {option}")
    assert one["scores"] != model.predict_example(feats, QUESTIONS[0], OPTIONS[0],
                                                  text_format="{question} {option}")["scores"]
    assert load_model_and_preprocess("glance_focus", checkpoint=tmp_path / "ck.pth")[2]["text"].text_format == \
        "Q: {question} A: {option}"


def test_api_refuses_bad_arguments_with_gf_errors(tmp_path):
    """Each of these was a raw TypeError/RuntimeError/ValueError/KeyError from deep inside."""
    from gf.common.errors import ConfigError, ModelInputError

    with pytest.raises(ConfigError, match="d_model must be an integer, got str 'abc'"):
        load_model("glance_focus", model_type="star_sup", **dict(TINY, d_model="abc"))
    make_checkpoint(tmp_path / "ck.pth")
    with pytest.raises(ConfigError, match="device 'gpu' is not a torch device"):
        load_model("glance_focus", checkpoint=tmp_path / "ck.pth", device="gpu")
    with pytest.raises(ConfigError, match="device 'gpu' is not a torch device"):
        load_model("glance_focus", model_type="star_sup", device="gpu", **TINY)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device cuda: this machine has 0 CUDA device"):
            load_model("glance_focus", checkpoint=tmp_path / "ck.pth", device="cuda")
    with pytest.raises(ConfigError, match="cfg must be a mapping.*got list"):
        load_dataset("synthetic_star", ["a"])
    model = load_model("glance_focus", checkpoint=tmp_path / "ck.pth")
    with pytest.raises(ModelInputError, match="give options as a list of strings"):
        model.predict_example(clips(frames=(20,))[0], QUESTIONS[0], {"a": 1, "b": 2, "c": 3, "d": 4})


def test_predict_example_checks_the_mask_and_the_option_count():
    """An all-False mask was blamed on a feature file, a 0.5 mask read as all True, and a
    4-option model took 3 or 5 options (gf predict refuses them)."""
    from gf.common.errors import ModelInputError

    torch.manual_seed(0)
    model = GlanceFocus.from_config(dict(TINY, model_type="star_sup")).eval()
    feats = clips(frames=(12,))[0]
    with pytest.raises(ModelInputError, match="video_mask is all False"):
        model.predict_example(feats, QUESTIONS[0], OPTIONS[0], video_mask=np.zeros(12, dtype=bool))
    with pytest.raises(ModelInputError, match="video_mask must be bool or 0/1.*0.5"):
        model.predict_example(feats, QUESTIONS[0], OPTIONS[0], video_mask=np.full(12, 0.5))
    mask = np.array([1] * 7 + [0] * 5)
    assert model.predict_example(feats, QUESTIONS[0], OPTIONS[0], video_mask=mask) == \
        model.predict_example(feats[:7], QUESTIONS[0], OPTIONS[0])
    for options in (OPTIONS[0][:3], OPTIONS[0] + ["Ran away."]):
        with pytest.raises(ModelInputError, match=f"multiple-choice with 4 options per question; got {len(options)}"):
            model.predict_example(feats, QUESTIONS[0], options)
