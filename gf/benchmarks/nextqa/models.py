"""NExT-QA's Glance-Focus variant."""
from gf.common.registry import registry


@registry.register_model_type("glance_focus", "nextqa_uns")
def nextqa_uns():
    """NExT-QA (5 options); no event annotations, so unsupervised memories only."""
    return dict(answer_mode="mc", num_options=5, feature_dim=2048, memory="uns")
