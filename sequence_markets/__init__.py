"""Sequence's Python SDK (standard library only, so it can be vendored into a strategy) and CLI."""

from sequence_markets.client import Sequence, SequenceError

__version__ = "0.4.0"
__all__ = ["Sequence", "SequenceError", "__version__"]
