"""Hook specifications: how a plugin tells spectrocodec what it provides.

A plugin is a plain module with ``@spectrocodec.hookimpl`` functions, named in an entry point of
group ``spectrocodec`` in its distribution's metadata::

    [project.entry-points.spectrocodec]
    tiff = "spectrocodec_tiff"

    # spectrocodec_tiff.py
    from spectrocodec import hookimpl
    @hookimpl
    def spectrocodec_image_codecs():
        return [TiffCodec]

The registry (registry.py) imports a plugin module only when one of its components is needed or
the plugins are listed, then calls these hooks through pluggy (``pm.hook.<name>()``), so pluggy's
``specname``, ``tryfirst``/``trylast`` and hook wrappers apply. Name the entry point after the
component it provides (``tiff``; a second backend of a name: ``avif_pillow``): a lookup by name
imports those entry points first, and every other one only if the name is not among them.

Keep the plugin module cheap to import: import codec libraries and models inside methods, so that
listing or sniffing loads no library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # the interfaces import numpy; `import spectrocodec` must stay instant
    from .interfaces import FeatureExtractor, ImageCodec, Vocoder

PROJECT = "spectrocodec"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def spectrocodec_feature_extractors() -> list[type[FeatureExtractor]]:
    """The FeatureExtractor subclasses this plugin provides (audio → features), e.g. ``[SpeechT5Features]``.

    Each needs a unique ``name``; its ``sample_rate``, ``hop_length`` and ``n_bins`` describe the
    features (float32, (frames, n_bins)).
    """


@hookspec
def spectrocodec_image_codecs() -> list[type[ImageCodec]]:
    """The ImageCodec subclasses this plugin provides (integer image ↔ image file bytes).

    Several classes may share a ``name`` with different ``backend``s: the available one with the
    highest ``preference`` is used unless a backend is asked for. ``sniff`` recognises a file for
    decoding (see docs/writing-a-plugin.md for what happens when two codecs claim one).
    """


@hookspec
def spectrocodec_vocoders() -> list[type[Vocoder]]:
    """The Vocoder subclasses this plugin provides (features → waveform).

    ``accepts`` lists the feature extractor names it can vocode; ``--vocoder auto`` takes the
    available one with the highest ``priority``.
    """
