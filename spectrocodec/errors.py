"""Public import path of the error types (they live in ``spectrocodec.core.errors``)."""

from .core.errors import FormatError, InputError, OutputError, PluginError, SpectrocodecError

__all__ = ["FormatError", "InputError", "OutputError", "PluginError", "SpectrocodecError"]
