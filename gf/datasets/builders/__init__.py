"""Dataset builders, one per benchmark. Importing this package registers them."""
from . import star  # noqa: F401
from . import synthetic_star  # noqa: F401
