"""Dataset builders, one per benchmark. Importing this package registers them."""
from . import star  # noqa: F401
from . import synthetic_star  # noqa: F401
from . import nextqa  # noqa: F401
from . import agqa  # noqa: F401
from . import egotaskqa  # noqa: F401
