"""Exceptions of the consensus package.

One root (:class:`ConsensusError`) so callers can catch everything this package
raises on purpose; subclasses also derive from the builtin they refine, so code
that already catches ``ValueError`` keeps working.
"""


class ConsensusError(Exception):
    """Root of every exception raised on purpose by :mod:`consensus`."""


class InvalidAnswers(ConsensusError, ValueError):
    """The answers (or gold labels) handed to an aggregator are malformed."""


class NotFittedError(ConsensusError, AttributeError):
    """A fitted attribute or ``predict*`` was used before ``fit``."""
