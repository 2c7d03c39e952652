"""The project's own errors.

Every failure a user can cause (bad input, a missing plugin, a corrupt file, an output that
already exists) is raised as a :class:`SpectrocodecError` whose message is one line saying what is
wrong and what to do. The CLI prints that line and exits non-zero; anything else escaping is a bug.
"""


class SpectrocodecError(Exception):
    """Base class: a one-line, user-facing message. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __str__(self) -> str:  # always one line, whatever was passed in
        return " ".join(str(self.args[0] if self.args else "").split())


class InputError(SpectrocodecError):
    """Audio or a path given by the user cannot be used (missing, unreadable, empty, NaN...)."""


class FormatError(SpectrocodecError):
    """An encoded file is not a spectrocodec image, or is corrupt, truncated or lies about itself."""


class PluginError(SpectrocodecError):
    """A plugin is unknown, broken, or cannot do what was asked (bit depth, device, weights...)."""


class OutputError(SpectrocodecError):
    """An output cannot be written (exists without --force, read-only folder, disk full...)."""
