"""EgoTaskQA's Glance-Focus variants."""
from gf.common.registry import registry


@registry.register_model_type("glance_focus", "egotaskqa_uns")
def egotaskqa_uns():
    """EgoTaskQA (open-ended), HCRN ResNet 2048-d appearance features, 128 frames."""
    return dict(answer_mode="oe", num_answers=1000, feature_dim=2048, max_feats=128, memory="uns")


@registry.register_model_type("glance_focus", "egotaskqa_sup")
def egotaskqa_sup():
    """EgoTaskQA with supervised memories from its hand-object-interaction events."""
    return dict(egotaskqa_uns(), memory="sup")
