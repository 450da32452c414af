"""VideoQA tasks. Importing this package registers them."""
from gf.tasks import videoqa  # noqa: F401
