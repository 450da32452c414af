"""AGQA's Glance-Focus variants."""
from gf.common.registry import registry


@registry.register_model_type("glance_focus", "agqa_sup")
def agqa_sup():
    """AGQA 2.0 (open-ended, 171 answers), 512-d features, Charades 157 + background."""
    return dict(answer_mode="oe", num_answers=171, feature_dim=512, event_pred_dim=158, memory="sup")


@registry.register_model_type("glance_focus", "agqa_uns")
def agqa_uns():
    return dict(agqa_sup(), memory="uns")
