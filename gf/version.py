"""gf's version, in a module of its own: code that records which gf wrote a file imports it
from here, so no module inside gf needs to import the package's ``__init__``."""
__version__ = "0.1.0"
