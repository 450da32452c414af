from gf.processors import video  # noqa: F401  (registers "video_features")
from gf.processors import text  # noqa: F401
