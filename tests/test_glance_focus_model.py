"""The corrected (paper) model and every registered variant, on tiny random batches.

R codes (R1, R3, R4, R8) are the differences from the authors' code listed in
docs/differences_from_authors.md."""
import pytest
import torch

from gf.common.registry import registry
from gf.models.state_dict import CheckpointMismatchError, load_state_dict_checked
from gf.models.glance_focus import GlanceFocus, GlanceFocusConfig

TINY = dict(d_model=32, nhead=4, dim_feedforward=64, num_queries=5, feature_dim=12, max_feats=16,
            event_pred_dim=7, num_answers=9, dropout=0.0, resizer_dropout=0.0)
VARIANTS = registry.list_model_types("glance_focus")


def tiny_model(text_encoder, **overrides):
    torch.manual_seed(0)
    cfg = dict(TINY, text_encoder=text_encoder)
    cfg.update(overrides)
    return GlanceFocus(cfg)


def random_batch(model, batch=2, frames=10, seed=0, with_labels=True):
    g = torch.Generator().manual_seed(seed)
    cfg = model.config
    k = cfg.num_options if cfg.answer_mode == "mc" else 1
    questions = ["what did the person do after holding the cup", "which object was eaten"][:batch]
    options = ["took the towel", "opened the door", "sat on the sofa", "ate the sandwich", "closed the box"]
    text = [f"{q} {options[j]}" for q in questions for j in range(k)] if k > 1 else questions
    out = dict(video=torch.randn(batch, frames, cfg.feature_dim, generator=g),
               video_mask=torch.ones(batch, frames, dtype=torch.bool), text=text)
    if with_labels:
        out["answer"] = torch.randint(0, k if k > 1 else cfg.num_answers, (batch,), generator=g)
        out["spans"] = [torch.tensor([[0.2, 0.1], [0.6, 0.3]]), torch.zeros(0, 2)][:batch]
        out["event_classes"] = [torch.tensor([1, 3]), torch.zeros(0, dtype=torch.long)][:batch]
    return out


def variant_model(variant, text_encoder):
    overrides = registry.get_model_type("glance_focus", variant)
    overrides.update(TINY, text_encoder=text_encoder, text_encoder_init="pretrained")
    return tiny_model(**overrides)


# Parameters that get no gradient by construction in arch "reference": the answer is read
# from the first decoder layer (R3), so the focus-only norms of later layers are dead; and
# the decoder starts from zero targets, so the first self-attention sees identical values
# (its input projection never learns; out_proj/norm1 weights only once biases move).
def reference_dead_parameters(model):
    n = model.config.num_decoder_layers
    r3 = {f"decoder.layers.{i}.{norm}.{p}" for i in range(1, n) for norm in ("norm2", "norm5")
          for p in ("weight", "bias")}
    zero_targets = {"decoder.layers.0.self_attn.in_proj_weight", "decoder.layers.0.self_attn.out_proj.weight",
                    "decoder.layers.0.norm1.weight"}
    return r3 | zero_targets


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_trains(variant, tiny_text_encoder):
    model = variant_model(variant, tiny_text_encoder).train()
    out = model(random_batch(model))
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    # "receives a gradient" = a finite, non-zero one (stacked layer outputs hand zeros to dead paths)
    no_grad = {n for n, p in model.named_parameters() if p.requires_grad and (
        p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0)}
    expected = reference_dead_parameters(model) if model.config.arch == "reference" else set()
    assert no_grad == expected


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_round_trip(variant, tiny_text_encoder):
    a = variant_model(variant, tiny_text_encoder).eval()
    torch.manual_seed(123)
    b = GlanceFocus(a.config).eval()
    batch = random_batch(a, with_labels=False)
    with torch.no_grad():
        before = b(batch)["pred_answer"]
        load_state_dict_checked(b, a.state_dict())
        torch.testing.assert_close(b(batch)["pred_answer"], a(batch)["pred_answer"], atol=0, rtol=0)
    assert not torch.allclose(before, a(batch)["pred_answer"])


def test_wrong_shape_state_dict_is_refused_whole(tiny_text_encoder):
    a = tiny_model(tiny_text_encoder)
    b = tiny_model(tiny_text_encoder, num_queries=6)
    before = {k: v.clone() for k, v in b.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match="query_embed.weight"):
        load_state_dict_checked(b, a.state_dict())
    assert all(torch.equal(before[k], v) for k, v in b.state_dict().items())


@pytest.mark.parametrize("answer_mode", ["mc", "oe"])
def test_padded_frames_and_text_do_not_change_the_answer(answer_mode, tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, answer_mode=answer_mode).eval()
    batch = random_batch(model, batch=1, frames=8, with_labels=False)
    padded = dict(batch)
    padded["video"] = torch.cat([batch["video"], torch.randn(1, 5, model.config.feature_dim) * 3], 1)
    padded["video_mask"] = torch.cat([batch["video_mask"], torch.zeros(1, 5, dtype=torch.bool)], 1)
    with torch.no_grad():
        ref = model(batch)
        out = model(padded)
        torch.testing.assert_close(out["pred_answer"], ref["pred_answer"], atol=1e-5, rtol=0)
        torch.testing.assert_close(out["pred_spans"], ref["pred_spans"], atol=1e-5, rtol=0)
        # padded text: the same question batched with a much longer one gets padding tokens
        long_q = "a much longer question about many different things that happened in the kitchen " * 2
        other = random_batch(model, batch=1, frames=8, seed=1, with_labels=False)
        k = len(batch["text"])
        two = dict(video=torch.cat([batch["video"], other["video"]]),
                   video_mask=torch.cat([batch["video_mask"], other["video_mask"]]),
                   text=batch["text"] + [long_q] * k)
        torch.testing.assert_close(model(two)["pred_answer"][:1], ref["pred_answer"], atol=1e-5, rtol=0)


def test_reference_arch_attends_to_padding_as_the_authors_did(tiny_text_encoder):
    """R4 reproduced: in arch reference, padded frames do change the answer."""
    model = tiny_model(tiny_text_encoder, arch="reference", frame_pos="none").eval()
    batch = random_batch(model, batch=1, frames=8, with_labels=False)
    padded = dict(batch, video=torch.cat([batch["video"], torch.zeros(1, 5, model.config.feature_dim)], 1),
                  video_mask=torch.cat([batch["video_mask"], torch.zeros(1, 5, dtype=torch.bool)], 1))
    with torch.no_grad():
        assert not torch.allclose(model(padded)["pred_answer"], model(batch)["pred_answer"], atol=1e-4)


@pytest.mark.parametrize("arch,frame_pos", [("paper", "sine"), ("paper", "learned")])
def test_frame_order_matters_in_paper_arch(arch, frame_pos, tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, arch=arch, frame_pos=frame_pos).eval()
    batch = random_batch(model, batch=1, frames=10, with_labels=False)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    shuffled = dict(batch, video=batch["video"][:, perm])
    with torch.no_grad():
        diff = (model(shuffled)["pred_spans"] - model(batch)["pred_spans"]).abs().max()
    assert diff > 1e-3


def test_reference_arch_is_blind_to_frame_order(tiny_text_encoder):
    """R1 reproduced: without positions the glance stage is permutation invariant."""
    model = tiny_model(tiny_text_encoder, arch="reference", frame_pos="none").eval()
    batch = random_batch(model, batch=1, frames=10, with_labels=False)
    shuffled = dict(batch, video=batch["video"][:, torch.arange(9, -1, -1)])
    with torch.no_grad():
        torch.testing.assert_close(model(shuffled)["pred_spans"], model(batch)["pred_spans"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch", ["paper", "reference"])
def test_glance_once_per_video_equals_glance_per_option(arch, tiny_text_encoder):
    """R8: broadcasting the glance memories changes the cost, not the result."""
    once = tiny_model(tiny_text_encoder, arch=arch).eval()
    per_option = GlanceFocus(once.config, glance_per_option=True).eval()
    per_option.load_state_dict(once.state_dict())
    batch = random_batch(once)
    with torch.no_grad():
        a, b = once(batch), per_option(batch)
    for key in ("pred_answer", "pred_spans", "pred_logits", "loss"):
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=0)


@pytest.mark.parametrize("num_options", [4, 5])
def test_multiple_choice_any_number_of_options(num_options, tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, num_options=num_options).eval()
    out = model.predict(random_batch(model, with_labels=False))
    assert out["scores"].shape == (2, num_options)
    assert out["prediction"].shape == (2,)


def test_open_ended_head_size(tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, answer_mode="oe", num_answers=13).eval()
    assert model.predict(random_batch(model, with_labels=False))["scores"].shape == (2, 13)


def test_text_count_mismatch_is_a_clear_error(tiny_text_encoder):
    model = tiny_model(tiny_text_encoder)
    batch = random_batch(model, with_labels=False)
    batch["text"] = batch["text"][:-1]
    with pytest.raises(ValueError, match="grouped by question"):
        model(batch)


def test_frozen_text_encoder_caches_each_text_once(tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, freeze_text_encoder=True).eval()
    uncached = tiny_model(tiny_text_encoder, freeze_text_encoder=True, cache_text_features=False).eval()
    uncached.load_state_dict(model.state_dict())
    calls = []
    model.text_encoder.backbone.register_forward_hook(lambda m, i, o: calls.append(1))
    batch = random_batch(model, with_labels=False)
    with torch.no_grad():
        first = model(batch)["pred_answer"]
        second = model(batch)["pred_answer"]
        torch.testing.assert_close(first, uncached(batch)["pred_answer"], atol=1e-5, rtol=0)
    torch.testing.assert_close(first, second)
    assert len(calls) == 1
    assert not any(p.requires_grad for p in model.text_encoder.backbone.parameters())
    assert all(p.requires_grad for p in model.text_encoder.resizer.parameters())


def test_offline_minilm_text_encoder():
    model = tiny_model("minilm", freeze_text_encoder=True).eval()
    assert model.text_encoder.hidden_size == 384
    out = model.predict(random_batch(model, with_labels=False))
    assert torch.isfinite(out["scores"]).all()


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="num_querys.*num_queries"):
        GlanceFocusConfig.from_dict({"num_querys": 3})
    with pytest.raises(ValueError, match="arch"):
        GlanceFocusConfig(arch="detr")
    with pytest.raises(ValueError, match="loss_l2"):
        GlanceFocusConfig(loss_weights={"loss_l2": 1.0})


def test_model_type_defaults_and_overrides(tiny_text_encoder):
    model = GlanceFocus.from_config({"model_type": "nextqa_uns", **TINY, "text_encoder": tiny_text_encoder})
    assert model.config.num_options == 5 and model.config.memory == "uns"
    assert model.config.loss_weights == {"loss_qa": 1.0, "loss_cls": 0.5, "loss_giou": 0.5, "loss_cert": 1.0}


@pytest.mark.parametrize("focus_query,focus_residual", [("resized", False), ("encoded", False), ("resized", True)])
def test_focus_ablations_build_and_differ_from_the_default(focus_query, focus_residual, tiny_text_encoder):
    default = tiny_model(tiny_text_encoder).eval()
    ablated = tiny_model(tiny_text_encoder, focus_query=focus_query, focus_residual=focus_residual).eval()
    ablated.load_state_dict(default.state_dict())
    batch = random_batch(default, with_labels=False)
    with torch.no_grad():
        a, b = default(batch), ablated(batch)
    torch.testing.assert_close(a["pred_spans"], b["pred_spans"])  # the glance stage is unchanged
    assert not torch.allclose(a["pred_answer"], b["pred_answer"], atol=1e-5)


def test_no_event_slots_sort_after_events_in_the_corrected_arch(tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, num_queries=4, event_pred_dim=3)
    memory = torch.arange(4.0).view(1, 4, 1).expand(1, 4, 2)        # slot i holds value i
    spans = torch.tensor([[[0.9, 0.1], [0.1, 0.1], [0.5, 0.1], [0.3, 0.1]]])
    logits = torch.tensor([[[5.0, 0, 0], [0, 0, 5.0], [0, 5.0, 0], [5.0, 0, 0]]])  # slot 1: background
    assert model.sort_memories(memory, spans, logits)[0, :, 0].tolist() == [3, 2, 0, 1]
    model.config.sort_background_last = False
    assert model.sort_memories(memory, spans, logits)[0, :, 0].tolist() == [1, 3, 2, 0]
    reference = tiny_model(tiny_text_encoder, num_queries=4, event_pred_dim=3, arch="reference", frame_pos="none")
    assert reference.sort_memories(memory, spans, logits)[0, :, 0].tolist() == [1, 3, 2, 0]


def test_duplicate_events_are_the_less_confident_overlapping_copies():
    from gf.models.glance_focus.model import duplicate_events

    # classes: 0, 1, background 2. Slots 0 and 3 both say class 0 over overlapping spans
    # (slot 3 more confident); slot 4 says class 0 far away; slots 1 and 2 say class 1 with
    # equal confidence and the same span (the later index is the copy); slot 5 is background.
    spans = torch.tensor([[[0.30, 0.2], [0.6, 0.1], [0.6, 0.1], [0.35, 0.2], [0.9, 0.05], [0.3, 0.2]]])
    logits = torch.tensor([[[3.0, 0, 0], [0, 4.0, 0], [0, 4.0, 0], [6.0, 0, 0], [5.0, 0, 0], [0, 0, 5.0]]])
    assert duplicate_events(logits, spans)[0].tolist() == [True, False, True, False, False, False]


def test_suppressed_duplicates_sort_after_the_events(tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, num_queries=4, event_pred_dim=3, suppress_duplicate_events=True)
    memory = torch.arange(4.0).view(1, 4, 1).expand(1, 4, 2)
    spans = torch.tensor([[[0.5, 0.2], [0.1, 0.1], [0.55, 0.2], [0.8, 0.1]]])
    logits = torch.tensor([[[5.0, 0, 0], [0, 5.0, 0], [3.0, 0, 0], [0, 5.0, 0]]])  # slot 2 copies slot 0
    assert model.sort_memories(memory, spans, logits)[0, :, 0].tolist() == [1, 0, 3, 2]
    model.config.suppress_duplicate_events = False
    assert model.sort_memories(memory, spans, logits)[0, :, 0].tolist() == [1, 0, 2, 3]


@pytest.mark.parametrize("change,match", [
    ({"answer": torch.tensor([4, 0])}, r"batch\['answer'\]\[0\] is 4, outside \[0, 4\)"),
    ({"answer": torch.tensor([0, -1])}, r"batch\['answer'\]\[1\] is -1, outside \[0, 4\)"),
    ({"video_mask": torch.ones(2, 7, dtype=torch.bool)}, r"batch\['video_mask'\] must be a \[batch, frames\] = "
                                                         r"\(2, 10\) tensor .*got \(2, 7\)"),
    ({"video_mask": torch.full((2, 10), 0.5)}, r"batch\['video_mask'\] must be bool or 0/1"),
    ({"video_mask": torch.ones(2, 10, dtype=torch.bool).index_fill(0, torch.tensor([1]), False)},
     r"batch\['video_mask'\] row 1 is all False"),
    ({"spans": [torch.tensor([[0.2, 0.1], [0.6, 0.3]]), torch.zeros(1, 2)]},
     r"video 1 of the batch: batch\['spans'\]\[1\] has shape \(1, 2\) and batch\['event_classes'\]\[1\] \(0,\)"),
    ({"event_classes": [torch.tensor([1, 3])]}, r"one entry per video \(2\); got 2 and 1"),
    ({"video": torch.randn(2, 10, 9)}, r"batch\['video'\] must be a \[batch, frames, feature_dim=12\] float tensor; "
                                       r"got \(2, 10, 9\)"),
    ({"video": torch.ones(2, 10, 12, dtype=torch.long)}, r"got dtype torch.int64"),
])
def test_a_hand_made_batch_that_does_not_fit_is_refused_naming_the_key(change, match, tiny_text_encoder):
    """model(batch), the README's API: torch's IndexError/AssertionError/RuntimeError deep in
    the model (or, for an all-False mask, an answer from no frame) became a ModelInputError
    naming the key and what it must be."""
    from gf.common.errors import ModelInputError

    model = tiny_model(tiny_text_encoder).eval()
    batch = {**random_batch(model), **change}
    with pytest.raises(ModelInputError, match=match), torch.no_grad():
        model(batch)


def test_float64_features_are_read_as_the_models_dtype(tiny_text_encoder):
    """numpy's default float64 gave "mat1 and mat2 must have the same dtype"; a float video of
    another dtype is cast to the parameters' (what predict_example does), an unlabelled
    answer (-100) is still ignored by the loss."""
    model = tiny_model(tiny_text_encoder).eval()
    batch = random_batch(model)
    batch["answer"][1] = -100
    with torch.no_grad():
        want = model(batch)
        got = model({**batch, "video": batch["video"].double()})
    torch.testing.assert_close(got["pred_answer"], want["pred_answer"])
    torch.testing.assert_close(got["loss"], want["loss"])


def test_the_reference_arch_names_the_question_whose_text_it_cannot_read(tiny_text_encoder):
    """arch reference does not cut texts (as the authors); one longer than the backbone's
    positions crashed inside it. A batch without ids gets a ModelInputError; a dataset's
    batch (question_id) a DataFileError naming the question. Freezing changes nothing (no
    text cache in the reference arch)."""
    from gf.common.errors import DataFileError, ModelInputError

    for frozen in (False, True):
        model = tiny_model(tiny_text_encoder, arch="reference", freeze_text_encoder=frozen).eval()
        assert not model.text_encoder.use_cache
        batch = random_batch(model, with_labels=False)
        batch["text"][5] = "what did the person do " * 40 + batch["text"][5]
        with pytest.raises(ModelInputError, match=r"^text 'what did .* is \d+ tokens, but the text encoder .* reads "
                                                  r"at most 128"), torch.no_grad():
            model(batch)
        with pytest.raises(DataFileError, match=r"^question_id 'q2': text 'what did"), torch.no_grad():
            model.predict({**batch, "question_id": ["q1", "q2"]})
