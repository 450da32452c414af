"""The toy order model type: a tiny Glance-Focus for two options."""
from gf.common.registry import registry


@registry.register_model_type("glance_focus", "toy_order_tiny")
def toy_order_tiny():
    return dict(answer_mode="mc", num_options=2, d_model=16, nhead=2, dim_feedforward=32, num_queries=4,
                memory="uns", freeze_text_encoder=True)
