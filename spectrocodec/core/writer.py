"""Writing decoded audio: the format from the file name, headroom instead of clipping, and
resampling streamed block by block.

- Format: ``.wav`` (16-bit PCM, also for ``-`` and names without an extension; RF64 beyond the
  4 GB a WAV header can describe, e.g. 3 h at 384 kHz), ``.flac``,
  ``.ogg``/``.oga`` (Vorbis), ``.opus`` (Opus in Ogg), ``.mp3``, ``.aif``/``.aiff``, ``.au``,
  ``.w64``, ``.caf``: whatever the installed libsndfile writes (``FORMATS``). Any other extension
  is refused before decoding (``audio_format``).
- Headroom: a vocoder can overshoot full scale on loud input (Griffin-Lim's phases do not add up
  as the original's did). Instead of hard clipping, a file that goes over full scale is scaled by
  one gain (1 / the 99.99th percentile of |samples|: no pumping, and a few spikes do not turn the
  whole file down), then a soft-knee limiter (``limit``: untouched below 0.9, tanh above) rounds off
  what is still loud. ``write_audio`` returns the gain and the CLI prints it; a file within full
  scale is written unchanged. Measured in tests/test_unix.py: <= 0.01 % of samples at full scale.
- Resampling to another rate (``rate_out``) runs through soxr's stream resampler in blocks of
  ``BLOCK`` samples straight into the file, so ``--rate 384000`` on hours of audio needs no more
  memory than the decoded waveform itself (soxr's one-shot call needed 10 GB and crashed).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from .errors import InputError, OutputError
from .files import atomic_output, is_stdio, shown
from .spool import GAIN_SAMPLE, SpooledWaveform

KNEE = 0.9  # the limiter leaves samples below this untouched (-0.9 dBFS)
BLOCK = 1 << 18  # samples per channel resampled and written at once
FORMATS = {  # extension → (libsndfile format, subtype)
    ".wav": ("WAV", "PCM_16"), ".wave": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"), ".oga": ("OGG", "VORBIS"), ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"), ".aif": ("AIFF", "PCM_16"), ".aiff": ("AIFF", "PCM_16"),
    ".au": ("AU", "PCM_16"), ".w64": ("W64", "PCM_16"), ".caf": ("CAF", "PCM_16"),
}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
WAV_LIMIT = (1 << 32) - (1 << 20)  # bytes of 16-bit samples above which a .wav is written as RF64


def audio_format(path: str | os.PathLike) -> tuple[str, str]:
    """(format, subtype) for an output name, from its extension; WAV for ``-`` or no extension.
    InputError for an extension that is not an audio format this libsndfile writes."""
    suffix = "" if is_stdio(path) else Path(path).suffix.lower()
    if not suffix:
        return FORMATS[".wav"]
    if suffix not in FORMATS:
        names = ", ".join(sorted(FORMATS))
        raise InputError(f"decode writes audio ({names}); '{suffix}' is not one of them: change -o's extension")
    import soundfile as sf

    fmt, subtype = FORMATS[suffix]
    if fmt not in sf.available_formats() or subtype not in sf.available_subtypes(fmt):
        raise InputError(f"this libsndfile cannot write {suffix} files; use .wav or .flac")
    return fmt, subtype


def headroom_gain(waveform: np.ndarray) -> float:
    """The gain applied before the limiter: 1.0 when float32 samples stay within full scale, else
    1 / (the 99.99th percentile of |samples|), so that a few spikes do not turn the whole file down
    (judged on at most ~1 M evenly spaced samples: no copy of a long file)."""
    if waveform.size == 0:
        return 1.0
    if isinstance(waveform, SpooledWaveform):  # the same peak and sample, gathered as it was spooled
        peak = waveform.peak
        sample = np.concatenate(waveform.sample) if waveform.sample else np.zeros(1, np.float32)
    else:
        peak = float(max(np.max(waveform), -np.min(waveform)))
        sample = None
    if peak <= 1.0:
        return 1.0
    if sample is None:
        flat = waveform.reshape(-1)
        sample = np.abs(flat[:: max(1, flat.size // GAIN_SAMPLE)])
    return float(min(1.0, 1.0 / max(float(np.percentile(sample, 99.99)), 1e-12)))


def limit(block: np.ndarray, gain: float) -> np.ndarray:
    """``block * gain`` with a soft knee above KNEE: y = KNEE + (1 - KNEE) * tanh((|x| - KNEE) / (1 - KNEE)),
    continuous with slope 1 at the knee and below full scale for |x| < ~1.4 (a new array)."""
    out = np.asarray(block, dtype=np.float32) * np.float32(gain)
    over = np.abs(out) > KNEE
    if over.any():
        x = out[over]
        out[over] = np.sign(x) * (KNEE + (1 - KNEE) * np.tanh((np.abs(x) - KNEE) / (1 - KNEE)))
    return out


def write_audio(path: str | os.PathLike, waveform: np.ndarray, sample_rate: int, force: bool = False,
                rate_out: int | None = None) -> float:
    """float32 (samples,) or (samples, channels) (or a core/spool.SpooledWaveform, read back in
    blocks: the same file) at ``sample_rate`` Hz → an audio file (format from
    the extension), resampled to ``rate_out`` if given, with headroom instead of clipping; written
    atomically (``-``: standard output). Returns the gain applied (1.0: none)."""
    import soundfile as sf

    fmt, subtype = audio_format(path)
    if not isinstance(waveform, SpooledWaveform):  # a spooled one is read back block by block
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 2:
            waveform = waveform.reshape(-1, 1)
    rate = int(rate_out or sample_rate)
    if subtype == "OPUS" and rate not in OPUS_RATES:
        raise InputError(f"Opus files are {', '.join(map(str, OPUS_RATES))} Hz, not {rate} Hz; add --rate 48000 or use .ogg")
    if fmt == "WAV" and 2 * waveform.size * rate // max(1, sample_rate) > WAV_LIMIT:
        fmt = "RF64"  # a WAV's sizes are 32-bit: beyond 4 GB write RF64, which readers of big WAVs take
    gain = headroom_gain(waveform)
    resampler = None
    if rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(sample_rate, rate, waveform.shape[1], dtype="float32", quality="HQ")
    try:
        with atomic_output(path, force=force) as tmp:
            with sf.SoundFile(tmp, "w", samplerate=rate, channels=waveform.shape[1], subtype=subtype, format=fmt) as out:
                length = len(waveform)
                for start in range(0, max(length, 1), BLOCK):
                    block = waveform[start : start + BLOCK]
                    if gain != 1.0:
                        block = limit(block, gain)
                    if resampler is not None:
                        block = resampler.resample_chunk(block, last=start + BLOCK >= length)
                    if len(block):
                        out.write(np.clip(block, -1.0, 1.0))  # after resampling: overshoot of a few ulps
    except sf.SoundFileError as exc:  # libsndfile hides the errno ("System error."): judge by free space
        import shutil

        needed = 44 + 2 * waveform.size * rate // max(1, sample_rate)
        with contextlib.suppress(OSError):
            if shutil.disk_usage(Path(path).parent).free < needed:
                raise OutputError(f"cannot write {shown(path)}: the disk is full; free some space ({needed / 2**20:.1f} MB needed)") from None
        raise OutputError(f"cannot write {shown(path)}: {' '.join(str(exc).split())}") from None
    return gain
