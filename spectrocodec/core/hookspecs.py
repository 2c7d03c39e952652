"""Hook specifications: how a plugin tells spectrocodec what it provides.

A plugin is a plain module with ``@spectrocodec.hookimpl`` functions, named in an entry point of
group ``spectrocodec`` in its distribution's metadata::

    [project.entry-points.spectrocodec]
    tiff16 = "spectrocodec_tiff16"

    # spectrocodec_tiff16.py
    from spectrocodec import hookimpl
    @hookimpl
    def spectrocodec_image_codecs():
        return [Tiff16Codec]

Every hook returns a list of classes; the core calls them and never imports a plugin itself.
Keep the plugin module cheap to import: load models or big libraries inside methods.
"""

import pluggy

PROJECT = "spectrocodec"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def spectrocodec_feature_extractors() -> list:
    """FeatureExtractor subclasses this plugin provides."""


@hookspec
def spectrocodec_image_codecs() -> list:
    """ImageCodec subclasses this plugin provides."""


@hookspec
def spectrocodec_vocoders() -> list:
    """Vocoder subclasses this plugin provides."""
