"""The command line's own error type."""

__all__ = [
    "CLIError",
]


class CLIError(Exception):
    """A user mistake on the command line: reported as one line, exit code 2."""
