"""The event-grounded option score (``grounded_answer: true``): option tokens, the pointer, the model."""
import pytest
import torch

from gf.models.glance_focus import GlanceFocus
from gf.models.glance_focus.grounded import GroundedAnswerScore, option_token_masks

from test_glance_focus_model import TINY, random_batch, tiny_model


def _tokens(mask_row, ids):
    return [t for t, m in zip(ids, mask_row.tolist()) if m]


def test_option_tokens_are_where_the_texts_of_a_question_differ():
    # question 1: options share their first token ("hold"); question 2: the template puts
    # the option first, so the question is the common suffix
    ids = [[101, 7, 8, 9, 50, 60, 102], [101, 7, 8, 9, 50, 61, 62, 102],
           [101, 70, 1, 2, 102], [101, 71, 1, 2, 102]]
    option, question = option_token_masks(ids, 2, length=9)
    assert _tokens(option[0], ids[0]) == [60] and _tokens(option[1], ids[1]) == [61, 62]
    assert _tokens(question[0], ids[0]) == [101, 7, 8, 9, 50, 102]
    assert _tokens(option[2], ids[2]) == [70] and _tokens(option[3], ids[3]) == [71]
    assert _tokens(question[3], ids[3]) == [101, 1, 2, 102]
    assert not option[:, 8].any() and not question[:, 8].any()  # padding is neither


def test_identical_options_fall_back_to_the_whole_text_and_keep_the_question():
    ids = [[101, 5, 6, 102], [101, 5, 6, 102]]
    option, question = option_token_masks(ids, 2, length=4)
    assert option.all() and question.all()  # the question was empty: a NaN score


def test_an_option_that_is_the_others_common_prefix_keeps_the_shared_question():
    """"open the box" beside "open the box lid": the first text has no token of its own."""
    ids = [[101, 5, 6, 102], [101, 5, 6, 7, 102]]
    option, question = option_token_masks(ids, 2, length=6)
    assert _tokens(option[0], ids[0]) == ids[0] and _tokens(question[0], ids[0]) == ids[0]
    assert _tokens(option[1], ids[1]) == [7] and _tokens(question[1], ids[1]) == [101, 5, 6, 102]


def test_a_text_without_question_tokens_gets_a_uniform_pointer_and_finite_gradients():
    head = GroundedAnswerScore(8)
    memories, texts = torch.randn(2, 5, 8), torch.randn(2, 3, 8, requires_grad=True)
    question_mask = torch.tensor([[False] * 3, [True, True, False]])
    score, pointer = head(memories, texts, question_mask, torch.ones(2, 3, dtype=torch.bool))
    assert torch.isfinite(score).all() and torch.equal(pointer["anchor_logits"][0], torch.zeros(5))
    score.sum().backward()
    assert torch.isfinite(texts.grad).all() and all(torch.isfinite(p.grad).all() for p in head.parameters())


@pytest.mark.parametrize("overrides, options", [
    ({}, [["the box", "the box lid", "the box top", "the box bottom"], ["the cup"] * 4]),
    ({"text_max_length": 3}, None),  # truncation leaves identical texts
])
def test_grounded_scores_and_losses_stay_finite_when_the_question_is_all_shared(tiny_text_encoder, overrides,
                                                                               options):
    model = tiny_model(tiny_text_encoder, grounded_answer=True, pointer_loss=1.0, **overrides)
    batch = random_batch(model)
    if options:
        batch["text"] = [f"what did the person open {o}" for group in options for o in group]
    batch.update(named_event=torch.tensor([0, 0]), answer_event=torch.tensor([1, -1]))
    out = model.train()(batch)
    assert torch.isfinite(out["loss"]) and all(torch.isfinite(v) for v in out["losses"].values())
    out["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    unlabelled = dict(random_batch(model, with_labels=False), text=batch["text"])
    assert torch.isfinite(model.eval().predict(unlabelled)["scores"]).all()


def _pointer_head(d=8):
    """Weights set by hand: memory i and option i are the one-hot e_i; the question's first
    token names event e_anchor; its second token's last coordinate picks the direction."""
    head = GroundedAnswerScore(d)
    with torch.no_grad():
        for lin in (head.anchor_query, head.anchor_key, head.selected_proj, head.option_proj):
            lin.weight.copy_(torch.eye(d) * 4)
            lin.bias.zero_()
        # the pooled question's last coordinate is direction / 2: 0 -> the event itself,
        # +0.5 -> the one after it, -0.5 -> the one before it
        head.shift.weight.zero_()
        head.shift.weight[:, d - 1] = torch.tensor([0.0, -40.0, 40.0])
        head.shift.bias.copy_(torch.tensor([0.0, -5.0, -5.0]))
    return head


@pytest.mark.parametrize("direction,expected", [(0.0, 2), (1.0, 3), (-1.0, 1)])
def test_the_question_points_at_the_named_event_or_its_neighbour(direction, expected):
    """Anchor = event 2 of 5; "that event" -> option 2, "after" -> option 3, "before" -> option 1."""
    d, n_mem = 8, 5
    head = _pointer_head(d)
    memories = torch.eye(d)[:n_mem].unsqueeze(0).repeat(n_mem, 1, 1)   # one copy per option
    direction_token = torch.zeros(d)
    direction_token[d - 1] = direction
    question = torch.stack([torch.eye(d)[2], direction_token])
    texts = torch.stack([torch.cat([question, torch.eye(d)[k:k + 1]]) for k in range(n_mem)])  # [K, 3, d]
    question_mask = torch.tensor([[True, True, False]] * n_mem)
    scores, _ = head(memories, texts, question_mask, ~question_mask)
    scores = scores.squeeze(-1)
    assert scores.argmax().item() == expected


def test_grounded_model_trains_and_padding_does_not_change_it(tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, grounded_answer=True).train()
    out = model(random_batch(model))
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.grounded_answer.parameters())
    model.eval()
    batch = random_batch(model, batch=1, frames=8, with_labels=False)
    long_q = "a much longer question about many different things that happened in the kitchen " * 2
    other = random_batch(model, batch=1, frames=8, seed=1, with_labels=False)
    k = len(batch["text"])
    two = dict(video=torch.cat([batch["video"], other["video"]]),
               video_mask=torch.cat([batch["video_mask"], other["video_mask"]]),
               text=batch["text"] + [long_q + f"option {i}" for i in range(k)])
    with torch.no_grad():
        alone = model(batch)["pred_answer"]
        torch.testing.assert_close(model(two)["pred_answer"][:1], alone, atol=1e-5, rtol=0)


def test_grounded_score_is_added_to_the_answer_logits(tiny_text_encoder, monkeypatch):
    """The same model (same weights) with the head's output forced to zero: the answer
    logits differ by exactly the head's score of each option, and nothing else changes."""
    model = tiny_model(tiny_text_encoder, grounded_answer=True).eval()
    batch = random_batch(model, with_labels=False)
    head_out = []
    # the model asks the head for its pointer too: (score, pointer)
    model.grounded_answer.register_forward_hook(lambda module, args, out: head_out.append(out[0].detach().clone()))
    with torch.no_grad():
        with_head = model(batch)
    assert len(head_out) == 1
    grounded = head_out[0].view(2, -1)                      # [B*K, 1] -> [B, K]
    assert grounded.shape == with_head["pred_answer"].shape
    assert grounded.abs().min() > 1e-3 and grounded.std() > 1e-3  # a real, option-dependent score

    def zero_score(self, memories, text_states, question_mask, option_mask):
        score = memories.new_zeros(memories.shape[0], 1)
        return score, {"anchor_logits": memories[..., 0], "weights": memories[..., 0]}

    monkeypatch.setattr(GroundedAnswerScore, "forward", zero_score)
    with torch.no_grad():
        without = model(batch)
    assert len(head_out) == 2 and not head_out[1].any()     # the patched head did run, giving zeros
    torch.testing.assert_close(with_head["pred_answer"] - without["pred_answer"], grounded, atol=1e-6, rtol=0)
    assert torch.equal(with_head["pred_spans"], without["pred_spans"])


@pytest.mark.parametrize("overrides", [dict(arch="reference"), dict(answer_mode="oe")])
def test_grounded_answer_needs_paper_arch_and_multiple_choice(overrides, tiny_text_encoder):
    with pytest.raises(ValueError, match="grounded_answer needs arch 'paper' and answer_mode 'mc'"):
        GlanceFocus(dict(TINY, text_encoder=tiny_text_encoder, grounded_answer=True, **overrides))


@pytest.mark.parametrize("memory", ["sup", "uns"])
def test_supervised_pointer_reads_the_glance_classes(memory, tiny_text_encoder):
    """sup: the pointer's memories are class probabilities x class embeddings, in the prompts'
    time order, and carry no gradient into the classifier; uns: it reads the prompts."""
    model = tiny_model(tiny_text_encoder, grounded_answer=True, memory=memory, num_queries=3, event_pred_dim=4)
    # logits = log(probabilities), so the softmax gives the probabilities back:
    # slot 0 (centre .8) [.1 .7 .1 .1], slot 1 (centre .2) [.7 .1 .1 .1], slot 2 (centre .5) [.1 .1 .7 .1]
    probs = torch.tensor([[[0.1, 0.7, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]]])
    logits = probs.log().requires_grad_()
    events = {"memory_prompt": torch.randn(1, 3, 32), "pred_logits": logits,
              "pred_spans": torch.tensor([[[0.8, 0.1], [0.2, 0.1], [0.5, 0.1]]])}
    if memory == "sup":
        # class embeddings set by hand: coordinate 0 reads the classes as digits 1, 10, 100,
        # 1000; coordinate 1 sums the probabilities; the other 30 coordinates are 0
        with torch.no_grad():
            model.grounded_answer.event_embed.weight.zero_()
            model.grounded_answer.event_embed.weight[0] = torch.tensor([1.0, 10.0, 100.0, 1000.0])
            model.grounded_answer.event_embed.weight[1] = 1.0
    sorted_mem, pointer = model._sorted_memories(events)
    # time order by centre: slot 1 (.2), slot 2 (.5), slot 0 (.8)
    torch.testing.assert_close(sorted_mem, events["memory_prompt"][:, [1, 2, 0]])
    if memory == "uns":
        assert pointer is None
        return
    # coordinate 0, by hand: slot 1: .7 + 10*.1 + 100*.1 + 1000*.1 = 111.7
    #                        slot 2: .1 + 10*.1 + 100*.7 + 1000*.1 = 171.1
    #                        slot 0: .1 + 10*.7 + 100*.1 + 1000*.1 = 117.1
    expected = torch.zeros(1, 3, 32)
    expected[0, :, 0] = torch.tensor([111.7, 171.1, 117.1])
    expected[0, :, 1] = 1.0
    torch.testing.assert_close(pointer, expected, atol=1e-4, rtol=0)
    pointer.sum().backward()
    assert logits.grad is None


def test_cached_token_ids_are_a_fresh_tokenisation(tiny_text_encoder):
    from gf.models.glance_focus.text_encoder import TextEncoder

    encoder = TextEncoder(tiny_text_encoder, 16, freeze=True, max_length=6)
    texts = ["what did the person do after holding the cup took the towel", "short", "short"]
    fresh = encoder.token_ids(texts)          # nothing cached yet: tokenised
    encoder(texts)
    assert encoder.token_ids(texts) == fresh  # now read from the cache
    assert len(fresh[0]) == 6                 # truncated as the states are
