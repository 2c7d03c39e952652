"""Pipeline: FeatureExtractor → mapping → ImageCodec, and back through a Vocoder.

A Pipeline is composed from component objects (bring your own) and holds no other state::

    pipe = Pipeline(extractor=SpeechT5Features(), codec=AvifCodec(quality=60), bits=10)
    data = pipe.encode(samples, 44100)        # bytes of an AVIF file
    waveform, rate = pipe.decode(data)        # float32 (samples,) or (samples, channels), 16000

Channels (channels.py, docs/channels.md): by default every channel of the input is kept (1 to 8),
each analysed separately, stored as strips of one picture in the layout ``channels.choose`` picks,
and vocoded separately; ``channels="mono"`` downmixes as spectrocodec always did.

Decoding needs nothing but the bytes: the codec is recognised from them, the extractor and the
mapping come from the embedded metadata (fileformat.py), the vocoder is the pipeline's or the best
available one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import channels as layouts
from . import fileformat, mapping, ratecontrol
from . import analysis
from .audio import BlockReader, check_audio, read_mono
from .errors import FormatError, InputError, PluginError, SpectrocodecError
from .interfaces import FeatureExtractor, ImageCodec, Vocoder
from .native import quiet_stderr
from .registry import Registry
from .spool import SpooledWaveform


DEFAULT_CURVE = 2.5  # companding exponent of new files (mapping.py; docs/quality.md)
DEFAULT_FLOOR_DB = 100.0  # floor below the file's peak, dB (mapping.apply_floor; docs/quality.md)


@dataclass
class Decoded:
    """An encoded file read back to features, before any vocoder."""

    features: np.ndarray  # float32 (frames, bins); (channels, frames, bins) for a multichannel layout
    header: fileformat.Header
    codec: type[ImageCodec]
    legacy: bool  # True for a plain image without spectrocodec metadata
    width: int
    height: int


class Pipeline:
    """Audio ↔ image bytes with explicit components; any left as None is taken from the registry
    (extractor "speecht5", codec "avif", vocoder: the best available for the features)."""

    def __init__(
        self,
        extractor: FeatureExtractor | str | dict | None = None,
        codec: ImageCodec | str | dict | None = None,
        vocoder: Vocoder | str | dict | None = None,
        bits: int | None = None,
        range_mode: str = "adaptive",
        registry: Registry | None = None,
        bitrate: float | None = None,
        curve: float = DEFAULT_CURVE,
        floor_db: float | None = DEFAULT_FLOOR_DB,
        channels: str = "keep",
    ) -> None:
        self.registry = registry or Registry.default()
        # each component: an object, or a name / config dict looked up in the registry
        self.extractor = self._component("feature", extractor)  # type: ignore[assignment]
        self.codec = self._component("codec", codec)  # type: ignore[assignment]
        self.vocoder = self._component("vocoder", vocoder)  # type: ignore[assignment]
        if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int)):
            raise InputError(f"bits takes a whole number (8, 10, 12...), not {bits!r}")
        self.bits = bits if bits is not None else self.codec.default_bits() if self.codec is not None else 10
        self.range_mode = range_mode
        self.channels = channels  # keep (choose a layout per file), mono (downmix) or a layout name
        layouts.check_choice(channels)
        if range_mode not in mapping.RANGE_MODES:
            raise PluginError(f"unknown range mode '{range_mode}'; use adaptive or fixed")
        self.bitrate = bitrate  # kbps of the whole file; None: the codec's quality decides
        ratecontrol.check_bitrate(bitrate)
        try:  # the file stores the curve in 1/16 steps: encode with exactly what it will say
            self.curve = fileformat.curve_code(curve) / 16
        except (TypeError, ValueError):
            raise InputError(f"curve takes a companding exponent from 1/16 to 255/16, not {curve!r}") from None
        if floor_db is not None and not floor_db > 0:
            raise InputError(f"floor_db takes decibels below the peak (> 0) or None, not {floor_db!r}")
        self.floor_db = floor_db

    def _component(self, kind: str, value):
        if value is None or not isinstance(value, (str, dict)):
            return value
        return self.registry.create(kind, value)

    # -- encoding -----------------------------------------------------------------------------
    def _extractor(self) -> FeatureExtractor:
        if self.extractor is None:
            self.extractor = self.registry.create("feature", "speecht5")  # type: ignore[assignment]
        return self.extractor  # type: ignore[return-value]

    def _codec(self) -> ImageCodec:
        if self.codec is None:
            self.codec = self.registry.create("codec", "avif")  # type: ignore[assignment]
        return self.codec  # type: ignore[return-value]

    def encode(self, audio: np.ndarray, sample_rate: int) -> bytes:
        """audio float32 (samples,) or (samples, channels) at sample_rate Hz → image file bytes."""
        codec, extractor = self._codec(), self._extractor()
        codec.check_bits(self.bits)  # refuse before any work
        audio = check_audio(audio, sample_rate)
        if self.channels == "mono" or audio.shape[1] == 1:
            features = extractor.extract(audio, sample_rate)
        else:
            self._check_channels(audio.shape[1])
            features = np.stack([extractor.extract(audio[:, c], sample_rate) for c in range(audio.shape[1])])
        return self.encode_features(features, sample_rate, audio.shape[0], audio.shape[1])

    def _check_channels(self, count: int) -> None:
        """InputError before any work if this pipeline's channels setting cannot store ``count``."""
        layouts.check_layout("planar" if self.channels in ("keep", "copies") else self.channels, count)

    def encode_file(self, path: str | os.PathLike) -> bytes:
        """An audio file (anything soundfile reads) → image file bytes, in bounded memory: the file is
        read, downmixed (or not: channels kept) and resampled to the extractor's rate block by block
        (audio.BlockReader). A frame-local extractor (``frame_length`` set, as speecht5) analyses
        each block as it arrives (analysis.stream_features), so only the features are held whole
        (~77 MB per channel-hour for speecht5), then mapped to the picture strip by strip; other
        extractors get each channel whole (audio.read_mono: the resampled channels and their
        features are held). For speecht5 the result equals ``encode(*read_audio(path))``."""
        codec, extractor = self._codec(), self._extractor()
        codec.check_bits(self.bits)  # refuse before any work
        count = None
        if self.channels != "mono":
            import soundfile as sf

            try:  # refuse too many channels before reading; read_mono says why a file is unreadable
                count = sf.info(str(path)).channels
            except Exception:  # soundfile raises several types
                count = None
            if count:
                self._check_channels(count)
        planes = count or 1  # at most one strip per channel
        max_seconds = self.max_seconds(planes)
        if extractor.frame_length is not None:
            reader = BlockReader(path, extractor.sample_rate, max_seconds, self.channels == "mono")
            longest = extractor.num_frames(int(max_seconds * extractor.sample_rate)) + 2
            features = analysis.stream_features(reader, extractor, reader.width, min(extractor.num_frames(reader.estimate), longest))
            rate, num_samples, channels = reader.rate_in, reader.total, reader.channels
            if len(features) == 1:
                features = features[0]
        else:
            mono, rate, num_samples, channels = read_mono(path, extractor.sample_rate, max_seconds, self.channels == "mono")
            if mono.ndim == 1:
                features = extractor.extract(mono, extractor.sample_rate)
            elif channels == 1:
                features = extractor.extract(mono[:, 0], extractor.sample_rate)
            else:  # one channel at a time: the features of all, and the samples, are held
                features = np.stack([extractor.extract(mono[:, c], extractor.sample_rate) for c in range(channels)])
            del mono
        held = [features]
        del features  # held's is the only reference: _encode frees the features once they are pixels
        return self._encode(held, rate, num_samples, channels, owned=True)

    def max_seconds(self, planes: int = 1) -> float:
        """The longest audio one file of this pipeline's codec can hold: the decoder refuses
        images over ``codec.max_pixels``, and spectrograms wider than ``max_width`` are folded.
        ``planes``: strips per frame (channels.plane_count; a stereo planar file lasts half as long)."""
        codec, extractor = self._codec(), self._extractor()
        width, bins, pixels = codec.max_width, extractor.n_bins * planes, _max_encode_pixels(codec)
        frames = max(min(width, pixels // bins), pixels // (bins * width) * width)
        return (frames - 1) * extractor.hop_length / extractor.sample_rate

    def encode_features(self, features: np.ndarray, sample_rate: int, num_samples: int, channels: int = 1) -> bytes:
        """features float32 (frames, bins) from this pipeline's extractor, or (channels, frames, bins)
        to keep channels → image file bytes. sample_rate, num_samples, channels describe the
        original audio (stored in the metadata; with 2-D features, ``channels`` is the count that
        was downmixed)."""
        return self._encode([features], sample_rate, num_samples, channels, owned=False)

    def _encode(self, held: list, sample_rate: int, num_samples: int, channels: int, owned: bool) -> bytes:
        """encode_features of ``held.pop()``; ``owned``: the caller keeps no other reference, so the
        floor is applied in place and the features are freed before the codec runs."""
        codec, extractor = self._codec(), self._extractor()
        codec.check_bits(self.bits)
        if self.bitrate is not None:
            ratecontrol.check_bitrate(self.bitrate, codec)
        features = held.pop()
        lossy = codec.lossy and not codec.params.get("lossless") and (codec.params.get("quality") or 0) < codec.quality_range[1]
        # the floor and the curve (docs/quality.md) are for lossy files, whatever the channel layout
        # (docs/channels.md measures them on stereo); lossless files stay linear and unfloored
        # (pixels = features)
        if lossy:
            features = mapping.apply_floor(features, self.floor_db, getattr(extractor, "db_per_unit", 20.0), in_place=owned)
        lo, hi = mapping.feature_range(features, self.range_mode, extractor.fixed_range)
        lo, hi = fileformat.storable_range(lo, hi)  # quantise with exactly what the file stores
        layout = "mono"
        if features.ndim == 3:
            layout = self.channels if self.channels not in ("keep", "mono") else layouts.choose(features, lo, hi, self.bits)
            layouts.check_layout(layout, len(features))
            channels = len(features)
            if layout == "mono":
                features = features[0]
        curve = self.curve if lossy else 1.0
        header = fileformat.Header(
            bits=self.bits, lo=lo, hi=hi, range_mode=self.range_mode, sample_rate=int(sample_rate),
            num_samples=int(num_samples), channels=int(channels), feature=extractor.get_config(), layout=layout,
            curve=curve,
        )
        frames = features.shape[-2]
        planes = layouts.plane_count(layout, channels) if features.ndim == 3 else 1
        width = min(frames, codec.max_width)
        if -(-frames // width) * planes * extractor.n_bins * width > _max_encode_pixels(codec):  # never write a file that our own decoder (or encoder) would refuse
            hours = _max_encode_pixels(codec) / (extractor.n_bins * planes) * extractor.hop_length / extractor.sample_rate / 3600
            raise InputError(f"the audio is too long for one {codec.name} file ({frames} frames"
                             f"{f' x {planes} channel strips' if planes > 1 else ''}; "
                             f"at most {_max_encode_pixels(codec)} pixels, about {hours:.1f} h); split it into shorter files")
        if features.ndim == 3:
            def block(start: int, stop: int, features=features) -> np.ndarray:
                return layouts.to_planes(features[:, start:stop], layout, lo, hi)
        else:
            def block(start: int, stop: int, features=features) -> np.ndarray:
                return features[None, start:stop]
        # the picture is made strip by strip, with no float copy of the whole features
        image = mapping.folded_image(block, frames, planes, extractor.n_bins, lo, hi, self.bits, header.curve, codec.max_width)
        del features, block
        codec.strip_height = extractor.n_bins * planes  # where a tiling codec may cut
        if self.bitrate is None:
            return codec.encode(image, self.bits, fileformat.pack(header))

        def make(trial: ImageCodec, quality: int, pixels: np.ndarray) -> bytes:
            header.quality = quality
            return trial.encode(pixels, self.bits, fileformat.pack(header))

        seconds = num_samples / sample_rate if sample_rate else 0.0
        data, _ = ratecontrol.search(codec, make, image, ratecontrol.target_bytes(self.bitrate, seconds))
        return data

    # -- decoding -----------------------------------------------------------------------------
    def read(self, data: bytes, features: bool = True) -> Decoded:
        """Image file bytes → features and header, without vocoding. ``features=False``: the
        header only (Decoded.features is None), from the codec's ``probe`` where it has one, so
        that no pixel is decoded (``info``)."""
        data = bytes(data)
        codec_cls = type(self.codec) if self.codec is not None and type(self.codec).sniff(data[:64]) else None
        codec_cls = codec_cls or self.registry.codec_for_bytes(data)
        codec = self.codec if self.codec is not None and type(self.codec) is codec_cls else codec_cls()
        with quiet_stderr():  # libpng/libtiff warnings must not reach the user's stderr
            decoded = (None if features else _probe(codec, data)) or codec.decode(data)
        image = np.asarray(decoded.image)
        if image.ndim != 2 or image.shape[0] == 0 or image.shape[1] == 0:
            raise FormatError(f"the {codec_cls.name} image has shape {image.shape}, not a spectrogram")
        height, width = image.shape
        legacy = decoded.metadata is None
        if legacy:
            if decoded.bits != 8:
                raise FormatError(f"this {decoded.bits}-bit {codec_cls.name} image has no spectrocodec metadata; only 8-bit audio-avif images decode without it")
            header = fileformat.legacy_header(width)
        else:
            header = fileformat.unpack(decoded.metadata)
            if header.bits != decoded.bits and not (header.bits <= 8 and decoded.bits == 8):
                raise FormatError(f"metadata says {header.bits}-bit pixels but the image is {decoded.bits}-bit; the file is damaged")
        extractor = self._extractor_for(header)
        planes = layouts.plane_count(header.layout, header.channels)
        bins = extractor.n_bins * planes  # rows of one time strip
        if height != bins and (legacy or height % bins):
            raise FormatError(f"the image is {height} pixels high but '{extractor.name}' features have {extractor.n_bins} bins"
                              + (f" in each of {planes} channel strips" if planes > 1 else ""))
        frames = width
        if not legacy:
            frames = extractor.num_frames(_resampled_length(header, extractor.sample_rate))
            strips = height // bins
            if strips == 1 and abs(frames - width) > 2 or strips > 1 and not (strips - 1) * width < frames <= strips * width:
                raise FormatError(f"metadata says {header.num_samples} samples ({frames} frames) but the image holds {strips} x {width} frames; the file is damaged")
        if not features:
            return Decoded(None, header, codec_cls, legacy, width, height)  # type: ignore[arg-type]
        # unfolded and mapped strip by strip into one float32 (planes, frames, bins) array: no
        # unfolded copy of the picture, no per-plane copies of the features
        del decoded
        planes_out = mapping.image_features(image, extractor.n_bins, planes, frames if not legacy else width,
                                            header.lo, header.hi, header.bits, header.curve)
        del image
        if planes == 1:
            features = planes_out[0]
            if header.layout == "copies":  # a read-only view: every channel the same plane
                features = np.broadcast_to(features, (header.channels, *features.shape))
        else:
            features = layouts.from_planes(planes_out, header.layout, header.lo, header.hi, in_place=True)
        return Decoded(features, header, codec_cls, legacy, width, height)

    def _extractor_for(self, header: fileformat.Header) -> FeatureExtractor:
        if self.extractor is not None and self.extractor.get_config() == header.feature:
            return self.extractor
        return self.registry.create("feature", dict(header.feature))  # type: ignore[return-value]

    def decode(self, data: bytes) -> tuple[np.ndarray, int]:
        """Image file bytes → (waveform float32 (samples,), sample rate in Hz of the extractor),
        trimmed to the original duration."""
        return self.vocode(self.read(data))

    def vocode(self, decoded: Decoded, spool: bool = False) -> tuple[np.ndarray, int]:
        """What ``read`` returned → (waveform float32 (samples,), or (samples, channels) for a
        multichannel layout, sample rate in Hz), trimmed to the original duration; lets a caller
        choose the vocoder from the header without decoding twice. Channels are vocoded with
        ``vocode_batch`` in groups of at most VOCODE_BATCH_FRAMES frames (one model, bounded memory);
        the output is filled group by group. ``spool=True``: a multichannel output is a
        spool.SpooledWaveform on disk, each channel written as soon as it is vocoded (for writers:
        write_wav reads it back in blocks), so the channels are never all held; channels too long
        to batch two (over VOCODE_BATCH_FRAMES / 2 frames), mono ones included, are written piece
        by piece as ``vocoder.vocode_pieces`` makes them (griffinlim: chunk by chunk), so not even
        one is held."""
        extractor = self._extractor_for(decoded.header)
        vocoder = self.vocoder_for(extractor.name)
        header, features = decoded.header, decoded.features
        length = _resampled_length(header, extractor.sample_rate)
        if spool and features.shape[-2] > VOCODE_BATCH_FRAMES // 2:  # long channels (a batch of one): piece by piece
            if header.layout == "mono":
                planes = [(features, [0])]
            elif header.layout == "copies":  # one plane, each piece written into every channel
                planes = [(features[0].copy(), range(header.channels))]
            else:
                planes = [(plane, [c]) for c, plane in enumerate(features)]
            out = SpooledWaveform(length, len(planes) if header.layout != "copies" else header.channels)
            for plane, channels in planes:
                self._spool_channels(vocoder, plane, out, channels, header, length)
            return out, extractor.sample_rate  # type: ignore[return-value]
        if header.layout == "mono":
            return self._checked(vocoder, vocoder.vocode(features), header, length), extractor.sample_rate
        if header.layout == "copies":  # one plane: vocoded once, repeated
            mono = self._checked(vocoder, vocoder.vocode(features[0].copy()), header, length)
            if spool:
                out = SpooledWaveform(length, header.channels)
                for c in range(header.channels):
                    out.write_channel(c, mono)
                return out, extractor.sample_rate  # type: ignore[return-value]
            return np.repeat(mono[:, None], header.channels, axis=1), extractor.sample_rate
        out = SpooledWaveform(length, len(features)) if spool else np.empty((length, len(features)), np.float32)
        group = max(1, VOCODE_BATCH_FRAMES // max(1, features.shape[1]))
        for start in range(0, len(features), group):
            for c, waveform in enumerate(vocoder.vocode_batch(list(features[start : start + group])), start):
                waveform = self._checked(vocoder, waveform, header, length)
                if spool:
                    out.write_channel(c, waveform)  # type: ignore[union-attr]
                else:
                    out[:, c] = waveform  # type: ignore[index]
                del waveform
        return out, extractor.sample_rate  # type: ignore[return-value]

    def _spool_channels(self, vocoder: Vocoder, features: np.ndarray, out: SpooledWaveform, channels,
                        header: fileformat.Header, length: int) -> None:
        """vocoder.vocode_pieces(features) into each of ``out``'s ``channels``, each piece checked and
        written as it comes, the whole fitted to ``length`` samples (what _checked does to a whole
        waveform)."""
        done = 0
        for piece in vocoder.vocode_pieces(features):
            piece = self._checked(vocoder, piece, header, min(len(piece), length - done))
            for channel in channels:
                out.write_piece(channel, done, piece)
            done += len(piece)
        if done < length:
            for channel in channels:
                out.write_piece(channel, done, np.zeros(length - done, np.float32))

    @staticmethod
    def _checked(vocoder: Vocoder, waveform: np.ndarray, header: fileformat.Header, length: int) -> np.ndarray:
        if not all(np.isfinite(waveform[a : a + (1 << 20)]).all() for a in range(0, len(waveform), 1 << 20)):  # no waveform-sized mask
            raise FormatError(f"vocoder '{vocoder.name}' produced NaN or infinite samples from this file's features "
                              f"(range [{header.lo:g}, {header.hi:g}]); the file is damaged or lies about its range")
        return fit_length(waveform, length)

    def vocoder_for(self, feature_name: str) -> Vocoder:
        if self.vocoder is None:
            self.vocoder = self.registry.auto_vocoder(feature_name)()
        if feature_name not in self.vocoder.accepts:
            raise PluginError(f"vocoder '{self.vocoder.name}' cannot vocode '{feature_name}' features; it takes {', '.join(self.vocoder.accepts)}")
        return self.vocoder


VOCODE_BATCH_FRAMES = 1 << 15  # frames (all channels together) vocoded in one vocode_batch call (~9 min)


def _probe(codec: ImageCodec, data: bytes):
    """codec.probe(data), or None when the probe itself fails on something it did not expect
    (decode then reports the damage in its own words)."""
    try:
        return codec.probe(data)
    except SpectrocodecError:
        raise
    except Exception:
        return None


def _max_encode_pixels(codec: ImageCodec) -> int:
    """The largest image the codec writes: ``max_encode_pixels`` where its encoder has a lower
    limit than its decoder (no built-in codec has one since AVIF writes grids), else ``max_pixels``."""
    return min(codec.max_pixels, getattr(codec, "max_encode_pixels", codec.max_pixels))


def _resampled_length(header: fileformat.Header, rate: int) -> int:
    """The original sample count expressed at ``rate`` Hz."""
    return int(round(header.num_samples * rate / header.sample_rate))


def fit_length(waveform: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad float32 (samples,) to ``length`` samples."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if len(waveform) >= length:
        return waveform[:length]
    return np.concatenate([waveform, np.zeros(length - len(waveform), np.float32)])
