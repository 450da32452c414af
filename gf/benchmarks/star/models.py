"""STAR's Glance-Focus variants."""
from gf.common.registry import registry


@registry.register_model_type("glance_focus", "star_sup")
def star_sup():
    """STAR (4 options), S3D 1024-d, 111 actions + background, supervised memories."""
    return dict(answer_mode="mc", num_options=4, feature_dim=1024, event_pred_dim=112, memory="sup")


@registry.register_model_type("glance_focus", "star_uns")
def star_uns():
    return dict(star_sup(), memory="uns")


@registry.register_model_type("glance_focus", "star_reference")
def star_reference():
    """The authors' STAR model as released: reference numerics, their 110+1 classes (B3 in
    docs/data_formats.md; R6 in docs/differences_from_authors.md)."""
    return dict(star_sup(), arch="reference", event_pred_dim=111, frame_pos="none")
