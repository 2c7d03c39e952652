"""spectrocodec: audio compressed as pictures.

audio → log-mel spectrogram → 8/10/12-bit image → AVIF (or WebP, JPEG XL, HEIC...) → a small file
that is still a valid image; decoding maps the pixels back and a vocoder makes sound of them.

Python API (heavy modules load on first use, so ``import spectrocodec`` is instant)::

    import spectrocodec
    data = spectrocodec.encode("speech.wav", codec="avif", quality=60, bits=10)   # bytes
    waveform, rate = spectrocodec.decode(data)                                    # float32, 16000
    spectrocodec.decode(data, rate=44100).vocoder                                 # which vocoder ran
    spectrocodec.info(data)                                                       # dict

Plugins implement the interfaces in ``spectrocodec.interfaces`` and register with ``hookimpl``.
"""

from .core.errors import FormatError, InputError, OutputError, PluginError, SpectrocodecError
from .core.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "encode", "decode", "info", "read_features", "DecodedAudio", "Pipeline", "Registry", "hookimpl",
    "SpectrocodecError", "InputError", "FormatError", "PluginError", "OutputError",
]


def __getattr__(name: str):
    if name in ("encode", "decode", "info", "read_features", "DecodedAudio"):
        from .core import api

        return getattr(api, name)
    if name == "Pipeline":
        from .core.pipeline import Pipeline

        return Pipeline
    if name == "Registry":
        from .core.registry import Registry

        return Registry
    raise AttributeError(f"module 'spectrocodec' has no attribute '{name}'")


def __dir__() -> list[str]:
    """The lazily loaded API names too (encode, decode, info, read_features...)."""
    return sorted(set(globals()) | set(__all__))
