"""Rate control: the codec quality that makes a whole file land on a target bitrate.

The target counts every byte of the file (container and metadata included) over the original
duration: ``target_bytes = kbps * 1000 / 8 * seconds``. The search makes real encodes of the
real image, so whatever the container costs is counted as it is:

1. integer qualities in the codec's ``quality_range`` are bisected for the highest one whose
   file fits the target (file size is assumed to grow with quality; a codec for which it does
   not still gets a file, just not the best one);
2. of that quality and the next one up, the file whose size is nearer the target (in ratio) is
   kept, so the error is centred on zero rather than always under.

Where a real encode is slow (a long file, a slow encoder speed) a codec may offer
``draft_settings(pixels)``: parameters for a much faster, approximate encode (AVIF: speed 10)
and the expected ratio of real to draft size (None: no drafts). The search then runs on draft
encodes, of a quarter of the image when it has more than ``DRAFT_PIXELS`` pixels (~3.5 min of
speech at 80 bins: every 4th block of ``BLOCK`` columns, sizes scaled up), times that ratio; the quality it picks is encoded for real once, and only if that
file misses the target by more than ``TOLERANCE`` (4 %) is the ratio re-measured and one more real
encode made (the nearer of the two is kept). Everything is deterministic: the same image, codec
parameters and target give the same bytes.

Works for every codec with ``lossy`` and a ``quality`` parameter; lossless-only codecs (png)
are refused with a message.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .errors import InputError
from .interfaces import ImageCodec

DRAFT_PIXELS = 1 << 20
BLOCK = 512  # columns per block of the draft sample
TOLERANCE = 0.04  # a first real encode within 4 % of the target is kept
MIN_KBPS, MAX_KBPS = 0.1, 10_000.0


def check_bitrate(kbps: float | None, codec: ImageCodec | None = None, quality: float | None = None,
                  lossless: bool = False) -> None:
    """InputError unless ``kbps`` is a usable target for ``codec`` (None: nothing to check)."""
    if kbps is None:
        return
    if isinstance(kbps, bool) or not isinstance(kbps, (int, float)) or not MIN_KBPS <= kbps <= MAX_KBPS:
        raise InputError(f"--bitrate takes a rate in kbps from {MIN_KBPS:g} to {MAX_KBPS:g}, not {kbps!r}")
    if quality is not None:
        raise InputError("--bitrate and --quality are exclusive: the bitrate chooses the quality; give one of them")
    if lossless:
        raise InputError("--bitrate and --lossless are exclusive: a lossless file has the size it has")
    if codec is not None and (not codec.lossy or codec.params.get("lossless")):
        raise InputError(f"codec '{codec.name}' is lossless only and has no quality to choose; --bitrate needs a lossy codec (avif, webp, jxl, heic, jpeg2000)")


def with_params(codec: ImageCodec, **params) -> ImageCodec:
    """A new codec of the same class with ``params`` overriding the codec's own."""
    new = type(codec)(**{**codec.params, **params})
    new.strip_height = codec.strip_height
    return new


def search(codec: ImageCodec, make: Callable[[ImageCodec, int, np.ndarray], bytes], image: np.ndarray,
           target_bytes: float) -> tuple[bytes, int]:
    """(file bytes, quality) nearest ``target_bytes``. ``make(codec, quality, image)`` makes a whole
    file of ``image`` (uint (height, width)) with that codec at that quality (passed so the
    metadata can record it)."""
    lo, hi = (int(math.ceil(codec.quality_range[0])), int(codec.quality_range[1]))
    hi = min(hi, 99) if codec.lossless else hi  # 100 means lossless for several codecs
    real: dict[int, bytes] = {}

    def real_size(q: int) -> float:
        if q not in real:
            real[q] = make(with_params(codec, quality=q), q, image)
        return len(real[q])

    def error(size: float) -> float:
        return abs(math.log(size / target_bytes))

    def nearest(size: Callable[[int], float]) -> int:
        q = _bisect(size, target_bytes, lo, hi)
        return min((k for k in (q, q + 1) if k <= hi), key=lambda k: (error(size(k)), k))

    draft = getattr(codec, "draft_settings", None)
    settings = draft(image.size) if callable(draft) else None
    if settings is None:
        q = nearest(real_size)
        return real[q], q
    params, ratio = settings
    draft_codec = with_params(codec, **params)
    sample, scale = _sample_columns(image) if image.size > DRAFT_PIXELS else (image, 1.0)
    drafts: dict[int, float] = {}

    def draft_size(q: int) -> float:
        if q not in drafts:
            drafts[q] = len(make(with_params(draft_codec, quality=q), q, sample)) * scale
        return drafts[q]

    q = nearest(lambda k: draft_size(k) * ratio)
    if error(real_size(q)) > math.log1p(TOLERANCE):
        ratio = real_size(q) / draft_size(q)
        real_size(nearest(lambda k: draft_size(k) * ratio))
    best = min(real, key=lambda k: (error(len(real[k])), k))
    return real[best], best


def _sample_columns(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Every 4th block of BLOCK columns of image (height, width) → (sample, width / sample width)."""
    width = image.shape[1]
    keep = (np.arange(width) // BLOCK) % 4 == 0
    sample = np.ascontiguousarray(image[:, keep])
    return sample, width / sample.shape[1]


def _bisect(size: Callable[[int], float], target: float, lo: int, hi: int) -> int:
    """The highest integer q in [lo, hi] with size(q) <= target (lo if none fits)."""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid) <= target:
            lo = mid
        else:
            hi = mid - 1
    return lo


def target_bytes(kbps: float, seconds: float) -> float:
    """Whole-file bytes for ``kbps`` over ``seconds`` (at least 1 byte)."""
    return max(1.0, kbps * 1000.0 / 8.0 * float(seconds))

