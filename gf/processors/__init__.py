from gf.processors import video  # noqa: F401  (registers "video_features")
