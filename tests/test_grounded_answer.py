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


def test_identical_options_fall_back_to_the_whole_text():
    ids = [[101, 5, 6, 102], [101, 5, 6, 102]]
    option, question = option_token_masks(ids, 2, length=4)
    assert option.all() and not question.any()


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
    scores = head(memories, texts, question_mask, ~question_mask).squeeze(-1)
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
        plain = tiny_model(tiny_text_encoder).eval()(batch)["pred_answer"]
    assert not torch.allclose(alone, plain)  # the head is really added


@pytest.mark.parametrize("overrides", [dict(arch="reference"), dict(answer_mode="oe")])
def test_grounded_answer_needs_paper_arch_and_multiple_choice(overrides, tiny_text_encoder):
    with pytest.raises(ValueError, match="grounded_answer needs arch 'paper' and answer_mode 'mc'"):
        GlanceFocus(dict(TINY, text_encoder=tiny_text_encoder, grounded_answer=True, **overrides))


@pytest.mark.parametrize("memory", ["sup", "uns"])
def test_supervised_pointer_reads_the_glance_classes(memory, tiny_text_encoder):
    """sup: the pointer's memories are class probabilities x class embeddings, in the prompts'
    time order, and carry no gradient into the classifier; uns: it reads the prompts."""
    model = tiny_model(tiny_text_encoder, grounded_answer=True, memory=memory, num_queries=3, event_pred_dim=4)
    logits = torch.tensor([[[0.0, 6, 0, 0], [6.0, 0, 0, 0], [0, 0, 6.0, 0]]], requires_grad=True)
    events = {"memory_prompt": torch.randn(1, 3, 32), "pred_logits": logits,
              "pred_spans": torch.tensor([[[0.8, 0.1], [0.2, 0.1], [0.5, 0.1]]])}
    sorted_mem, pointer = model._sorted_memories(events)
    torch.testing.assert_close(sorted_mem, events["memory_prompt"][:, [1, 2, 0]])
    if memory == "uns":
        assert pointer is None
        return
    expected = model.grounded_answer.event_embed(logits.detach().softmax(-1))[:, [1, 2, 0]]
    torch.testing.assert_close(pointer, expected)
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
