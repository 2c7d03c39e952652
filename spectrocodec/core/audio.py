"""Audio in and out: reading any file soundfile reads, checking samples, mono, resampling, WAV out.

Samples are float32 in [-1, 1], shape (samples, channels) unless stated otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError
from .files import check_input


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """path → (float32 (samples, channels), sample rate in Hz). InputError if it is not audio."""
    import soundfile as sf

    path = Path(path)
    check_input(path, "an audio file")
    try:
        audio, rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile/libsndfile raise several types
        detail = " ".join(str(exc).split())
        raise InputError(f"cannot read {path} as audio ({detail}); give a WAV, FLAC, OGG or MP3 file") from None
    return check_audio(audio, rate, str(path)), int(rate)


def check_audio(audio: np.ndarray, sample_rate: int, what: str = "the audio") -> np.ndarray:
    """Validate samples → float32 (samples, channels). Refuses no channels, NaN/inf and bad rates
    (zero samples is accepted: it encodes to one frame and decodes to zero samples)."""
    try:
        audio = np.asarray(audio, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not an array of numbers") from None
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise InputError(f"{what} has shape {audio.shape}; give (samples,) or (samples, channels)")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or not 1 <= sample_rate <= 1_000_000:
        raise InputError(f"{what}: sample rate {sample_rate!r} is not a positive whole number of Hz up to 1 MHz")
    if audio.shape[1] == 0:  # no channels; zero samples is fine (an empty recording round-trips)
        raise InputError(f"{what} holds no channels")
    if not np.isfinite(audio).all():
        raise InputError(f"{what} contains NaN or infinite samples; clean it first")
    _check_amplitude(audio, what)
    return audio


MAX_AMPLITUDE = 1000.0  # float samples beyond this (60 dB over full scale) are not audio levels


def _check_amplitude(block: np.ndarray, what: str) -> None:
    """InputError for float samples far outside [-1, 1] (a float WAV holding 3e38: its log-mel
    would overflow every vocoder); ±3 and other merely hot levels are accepted."""
    if block.size and float(np.max(np.abs(block))) > MAX_AMPLITUDE:
        raise InputError(f"{what} has samples up to {float(np.max(np.abs(block))):.3g}, far outside [-1, 1] "
                         f"(more than {MAX_AMPLITUDE:g}); it is not normalised audio: scale it first")


READ_BLOCK = 1 << 16  # frames read at once by read_mono


def read_mono(path: str | os.PathLike, rate: int, max_seconds: float | None = None,
              mono: bool = True) -> tuple[np.ndarray, int, int, int]:
    """path → (float32 mono (samples,) at ``rate`` Hz, original rate, original samples per channel,
    original channel count), read, downmixed and resampled in blocks of READ_BLOCK frames, so that
    (with ``mono=False``, every channel is kept: float32 (samples, channels), resampled together)
    only the result is ever held whole (230 MB for an hour at 16 kHz, whatever the file's rate and
    channels). Same samples as read_audio → to_mono → resample: soxr's stream resampler gives
    exactly what its one-shot call gives. InputError if it is not audio, holds NaN/inf, or lasts
    more than ``max_seconds`` (judged from the header before reading, and again while reading)."""
    reader = BlockReader(path, rate, max_seconds, mono)
    # the output is preallocated from the header's frame count (untouched pages cost no RAM)
    # and grown if the header was short
    out = np.empty((min(reader.estimate, (1 << 28) // reader.width), reader.width), dtype=np.float32)
    used = 0
    for part in reader:
        if used + len(part) > len(out):
            grown = np.empty((max(2 * len(out), used + len(part)), reader.width), dtype=np.float32)
            grown[:used] = out[:used]
            out = grown
        out[used : used + len(part)] = part
        used += len(part)
    return (out[:used, 0] if mono else out[:used]), reader.rate_in, reader.total, reader.channels


class BlockReader:
    """An audio file read block by block (READ_BLOCK frames), checked (NaN/inf, amplitude, length),
    downmixed (``mono=True``) and resampled to ``rate`` Hz with soxr's stream resampler: iterate it
    for float32 (samples, width) blocks, width = 1 (mono) or the file's channels. The header is
    checked on construction (InputError: not audio, damaged, longer than ``max_seconds``).

    Attributes: ``rate_in`` and ``channels`` (the file's), ``width``, ``estimate`` (samples at
    ``rate`` the header promises, + 16; 0 when it does not say), ``total`` (input samples per
    channel read so far: the file's length once iterated)."""

    def __init__(self, path: str | os.PathLike, rate: int, max_seconds: float | None = None, mono: bool = True) -> None:
        import soundfile as sf

        self.path, self.rate, self.max_seconds = Path(path), int(rate), max_seconds
        check_input(self.path, "an audio file")
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise InputError(f"{self.path} is empty (0 bytes); give an audio file")
        try:
            self.handle = sf.SoundFile(os.fsencode(self.path))  # bytes: names that are not UTF-8 open too
        except Exception as exc:  # soundfile/libsndfile raise several types
            detail = " ".join(str(exc).split())
            raise InputError(f"cannot read {self.path} as audio ({detail}); give a WAV, FLAC, OGG or MP3 file") from None
        self.rate_in, self.channels = int(self.handle.samplerate), int(self.handle.channels)
        if not 1 <= self.rate_in <= 1_000_000 or self.channels < 1:
            self.handle.close()
            raise InputError(f"{self.path} claims {self.channels} channel(s) at {self.rate_in} Hz; it is damaged")
        if max_seconds is not None and self.handle.frames / self.rate_in > max_seconds:
            self.handle.close()
            raise InputError(_too_long(self.path, self.handle.frames / self.rate_in, max_seconds))
        self.mono = mono
        self.width = 1 if mono else self.channels
        self.estimate = max(0, min(int(self.handle.frames), 1 << 32)) * self.rate // self.rate_in + 16
        self.total = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        resampler = None
        if self.rate_in != self.rate:
            import soxr

            resampler = soxr.ResampleStream(self.rate_in, self.rate, self.width, dtype="float32", quality="HQ")
        with self.handle as handle:
            while True:
                try:
                    block = handle.read(READ_BLOCK, dtype="float32", always_2d=True)
                except Exception as exc:
                    detail = " ".join(str(exc).split())
                    raise InputError(f"cannot read {self.path} past sample {self.total} ({detail}); the file is damaged") from None
                if not np.isfinite(block).all():
                    raise InputError(f"{self.path} contains NaN or infinite samples; clean it first")
                _check_amplitude(block, str(self.path))
                self.total += len(block)
                if self.max_seconds is not None and self.total / self.rate_in > self.max_seconds:
                    raise InputError(_too_long(self.path, self.total / self.rate_in, self.max_seconds))
                last = len(block) < READ_BLOCK
                part = block if self.width == self.channels else block.mean(axis=1, dtype=np.float32, keepdims=True)
                if resampler is not None:
                    part = resampler.resample_chunk(part, last=last).reshape(-1, self.width)
                yield part
                if last:
                    return


def _too_long(path: Path, seconds: float, max_seconds: float) -> str:
    return (f"{path} lasts {'more than ' if seconds <= max_seconds + 1 else ''}{seconds / 3600:.2f} h; "
            f"at most {max_seconds / 3600:.2f} h fit in one file; split it into shorter files")


def to_mono(audio: np.ndarray) -> np.ndarray:
    """(samples, channels) or (samples,) → float32 (samples,), the mean of the channels."""
    audio = np.asarray(audio, dtype=np.float32)
    return audio if audio.ndim == 1 else audio.mean(axis=1, dtype=np.float32)


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """float32 (samples,) or (samples, channels) at rate_in → float32 at rate_out (soxr, high quality)."""
    if rate_in == rate_out:
        return np.asarray(audio, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(audio, dtype=np.float32), rate_in, rate_out, quality="HQ").astype(np.float32)


def write_wav(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, force: bool = False,
              rate_out: int | None = None) -> float:
    """float32 (samples,) or (samples, channels) → an audio file (16-bit PCM WAV unless the
    extension names another format), written atomically, with headroom instead of clipping and
    ``rate_out`` resampling streamed in blocks: see core/writer.py. Returns the gain applied."""
    from .writer import write_audio

    return write_audio(path, waveform, sample_rate, force=force, rate_out=rate_out)


WRITE_BLOCK = 1 << 20  # samples clipped and written at once by write_wav
