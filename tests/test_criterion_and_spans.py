import pytest
import torch
import torch.nn.functional as F

from gf.models.glance_focus.config import GlanceFocusConfig
from gf.models.glance_focus.criterion import GlanceFocusCriterion
from gf.models.glance_focus.spans import generalized_temporal_iou, span_cxw_to_xx, span_xx_to_cxw, temporal_iou


def test_span_conversions_round_trip():
    xx = torch.tensor([[0.0, 1.0], [0.2, 0.4]])
    cxw = span_xx_to_cxw(xx)
    torch.testing.assert_close(cxw, torch.tensor([[0.5, 1.0], [0.3, 0.2]]))
    torch.testing.assert_close(span_cxw_to_xx(cxw), xx)


def test_giou_hand_computed():
    a = torch.tensor([[0.0, 0.2], [0.5, 1.0]])
    b = torch.tensor([[0.0, 0.3], [0.0, 1.0]])
    # [0,.2] vs [0,.3]: iou .2/.3; enclosing .3 = union -> giou .6667
    # [.5,1] vs [0,.3]: iou 0; union .8; enclosing 1 -> 0 - .2/1 = -.2
    torch.testing.assert_close(generalized_temporal_iou(a, b), torch.tensor([[2 / 3, 0.2], [-0.2, 0.5]]))
    iou, union = temporal_iou(a, b)
    # [0,.2] vs [0,.3]: inter .2 / union .3;  [0,.2] vs [0,1]: .2 / 1
    # [.5,1] vs [0,.3]: disjoint, 0 / .8;      [.5,1] vs [0,1]: .5 / 1
    torch.testing.assert_close(iou, torch.tensor([[2 / 3, 0.2], [0.0, 0.5]]))
    torch.testing.assert_close(union, torch.tensor([[0.3, 1.0], [0.8, 1.0]]))


def test_iou_and_giou_of_partial_overlaps_and_gaps_hand_computed():
    a = torch.tensor([[0.1, 0.5], [0.0, 0.2]])
    b = torch.tensor([[0.3, 0.9], [0.6, 1.0], [0.4, 0.45]])
    # a0=[.1,.5] vs b0=[.3,.9]: inter .2, union .8, iou .25, enclosing [.1,.9] .8 -> giou .25
    # a0 vs b1=[.6,1]:        inter 0, union .8, iou 0, enclosing [.1,1] .9 -> 0 - .1/.9 = -1/9
    # a0 vs b2=[.4,.45]:      inside a0: inter .05, union .4, iou .125, enclosing .4 -> .125
    # a1=[0,.2] vs b0:        inter 0, union .8, enclosing [0,.9] .9 -> -.1/.9 = -1/9
    # a1 vs b1:               inter 0, union .6, enclosing 1 -> -.4
    # a1 vs b2:               inter 0, union .25, enclosing [0,.45] .45 -> -.2/.45 = -4/9
    iou, union = temporal_iou(a, b)
    torch.testing.assert_close(iou, torch.tensor([[0.25, 0.0, 0.125], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(union, torch.tensor([[0.8, 0.8, 0.4], [0.8, 0.6, 0.25]]))
    torch.testing.assert_close(generalized_temporal_iou(a, b),
                               torch.tensor([[0.25, -1 / 9, 0.125], [-1 / 9, -0.4, -4 / 9]]))


def _criterion(**kw):
    return GlanceFocusCriterion(GlanceFocusConfig(event_pred_dim=4, **kw))


def test_no_event_batch_gives_zero_event_losses_not_nan():
    """R10 (docs/differences_from_authors.md): the authors' loss was NaN when no sample in
    the batch had events."""
    logits = torch.randn(2, 3, 4, requires_grad=True)
    spans = torch.rand(2, 3, 2, requires_grad=True)
    outputs = {"pred_answer": torch.randn(2, 4, requires_grad=True), "pred_logits": logits, "pred_spans": spans}
    for arch in ("paper", "reference"):
        out = _criterion(arch=arch)(outputs, torch.tensor([0, 1]), [torch.zeros(0, 2)] * 2,
                                    [torch.zeros(0, dtype=torch.long)] * 2)
        assert out["losses"]["loss_l1"].item() == 0 and out["losses"]["loss_cls"].item() == 0
        assert torch.isfinite(out["loss"])
        out["loss"].backward()


def test_paper_class_loss_trains_unmatched_queries_as_background():
    """R7 by hand: one video with one event, three queries, class 2 of {0,1,2, bg=3}."""
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4)
    spans = torch.tensor([[[0.1, 0.1], [0.5, 0.2], [0.9, 0.1]]])
    outputs = {"pred_answer": torch.zeros(1, 4), "pred_logits": logits, "pred_spans": spans}
    tgt_spans, tgt_cls = [torch.tensor([[0.5, 0.2]])], [torch.tensor([2])]
    paper = _criterion(arch="paper", eos_coef=0.1)(outputs, torch.tensor([0]), tgt_spans, tgt_cls)
    q, _ = paper["matcher_indices"][0]
    assert q.tolist() == [1]  # the query on the event
    w = torch.tensor([1.0, 1.0, 1.0, 0.1])
    targets = torch.tensor([3, 2, 3])
    nll = -F.log_softmax(logits[0], -1)[torch.arange(3), targets]
    expected = (w[targets] * nll).sum() / w[targets].sum()
    assert abs(paper["losses"]["loss_cls"].item() - expected.item()) < 1e-6
    reference = _criterion(arch="reference", eos_coef=0.1)(outputs, torch.tensor([0]), tgt_spans, tgt_cls)
    assert abs(reference["losses"]["loss_cls"].item() - nll[1].item()) < 1e-6


def test_videos_without_events_are_left_out_of_the_class_loss():
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4)
    outputs = {"pred_answer": torch.zeros(2, 4), "pred_logits": logits, "pred_spans": torch.rand(2, 3, 2)}
    crit = _criterion(arch="paper")
    both = crit(outputs, torch.tensor([0, 0]), [torch.tensor([[0.5, 0.2]]), torch.zeros(0, 2)],
                [torch.tensor([2]), torch.zeros(0, dtype=torch.long)])
    alone = crit({k: v[:1] for k, v in outputs.items()}, torch.tensor([0]), [torch.tensor([[0.5, 0.2]])],
                 [torch.tensor([2])])
    assert abs(both["losses"]["loss_cls"].item() - alone["losses"]["loss_cls"].item()) < 1e-6


def test_out_of_range_event_class_is_a_clear_error():
    outputs = {"pred_answer": torch.zeros(1, 4), "pred_logits": torch.randn(1, 3, 4),
               "pred_spans": torch.rand(1, 3, 2)}
    with pytest.raises(ValueError, match="event_pred_dim"):
        _criterion()(outputs, torch.tensor([0]), [torch.tensor([[0.5, 0.2]])], [torch.tensor([4])])


def test_unsupervised_losses_hand_computed():
    logits = torch.log(torch.tensor([[[0.5, 0.5, 1e-9, 1e-9], [1e-9, 1e-9, 0.5, 0.5]]]))
    spans = torch.tensor([[[0.2, 0.4], [0.8, 0.4]]])  # (centre, width) -> [0,.4] and [.6,1]
    outputs = {"pred_answer": torch.zeros(1, 4), "pred_logits": logits, "pred_spans": spans}
    out = GlanceFocusCriterion(GlanceFocusConfig(event_pred_dim=4, memory="uns"))(outputs, torch.tensor([0]))
    # mean distribution uniform over 4 -> sum p log p = log(1/4); each query's entropy = log 2
    assert abs(out["losses"]["loss_cls"].item() - torch.log(torch.tensor(0.25)).item()) < 1e-4
    assert abs(out["losses"]["loss_cert"].item() - torch.log(torch.tensor(2.0)).item()) < 1e-4
    # [0,.4] vs [.6,1]: iou 0, union .8, enclosing 1 -> giou -.2; the upper triangle of the
    # 2x2 matrix holds only that pair, and the mean is over all 4 entries: -.2 / 4 = -.05
    assert abs(out["losses"]["loss_giou"].item() - (-0.05)) < 1e-6


def test_unsupervised_giou_loss_hand_computed_over_a_batch():
    spans = torch.tensor([
        # video 0: [0,.5], [.3,.7], [.8,1]
        [[0.25, 0.5], [0.5, 0.4], [0.9, 0.2]],
        # video 1: [0,1], [.25,.75], [.4,.6] (nested)
        [[0.5, 1.0], [0.5, 0.5], [0.5, 0.2]],
    ])
    # video 0: (0,1) inter .2 union .7 enclosing .7 -> 2/7; (0,2) union .7 enclosing 1 -> -.3;
    #          (1,2) union .6 enclosing .7 -> -.1/.7 = -1/7. Sum 1/7 - .3, mean over 9 entries.
    # video 1: (0,1) .5/1 = .5; (0,2) .2/1 = .2; (1,2) .2/.5 = .4 (enclosing = union). Sum 1.1 / 9.
    video0 = (1 / 7 - 0.3) / 9
    video1 = 1.1 / 9
    loss = GlanceFocusCriterion.loss_giou(spans)
    assert abs(loss.item() - (video0 + video1) / 2) < 1e-6
    assert abs(GlanceFocusCriterion.loss_giou(spans[:1]).item() - video0) < 1e-6


def test_collapsed_zero_width_spans_give_finite_giou():
    """Seen in a real run (unsupervised, arch reference): identical zero-width predictions
    made the authors' gIoU 0/0 = NaN and stopped training."""
    xx = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.2, 0.4]])
    giou = generalized_temporal_iou(xx, xx)
    assert torch.isfinite(giou).all()
    assert giou[0, 1].item() == 0.0
