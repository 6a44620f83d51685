"""runrgateway: the Python SDK for 4Runr Gateway."""
from ._version import __version__

__all__ = ["__version__"]
