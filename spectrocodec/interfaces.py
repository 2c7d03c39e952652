"""Public import path of the interfaces (they live in ``spectrocodec.core.interfaces``)."""

from .core.interfaces import Component, DecodedImage, FeatureExtractor, ImageCodec, Vocoder

__all__ = ["Component", "DecodedImage", "FeatureExtractor", "ImageCodec", "Vocoder"]
