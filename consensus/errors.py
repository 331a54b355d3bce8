"""Exceptions of the consensus package (one root, refining the builtins they mean)."""


class ConsensusError(Exception):
    """Root of every error raised by the consensus package."""


class InvalidAnswers(ConsensusError, ValueError):
    """Answers, gold or parameters that cannot be aggregated; says what is wrong."""
