"""A decoded multichannel waveform kept on disk, one channel at a time (issue 15).

Decoding a file that keeps several channels vocodes them one after the other; holding every
channel's samples until the WAV is written took (samples x channels x 4) bytes: 1.8 GB for an hour
of 8 channels, 1.38 GB for 3 h of stereo. ``Pipeline.vocode(..., spool=True)`` (the CLI's decode)
writes each channel to a :class:`SpooledWaveform` as soon as it is vocoded and frees it; the writer
(core/writer.py) reads it back in blocks of all channels. What the writer's headroom gain needs
(the peak and an evenly spaced sample of |samples|, exactly the ones it would take from the whole
array) is gathered while the channels are added, so the file written is byte-identical to writing
the array.
"""

from __future__ import annotations

import tempfile

import numpy as np

GAIN_SAMPLE = 1 << 20  # samples the headroom gain is judged on (writer.headroom_gain)


class SpooledWaveform:
    """float32 (samples, channels) in an anonymous temporary file, channel-major; fill it with
    ``write_channel``, read it with ``block``. ``len``, ``shape``, ``size``, ``ndim`` as an array."""

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, length: int, channels: int) -> None:
        self.shape = (int(length), int(channels))
        self.size = self.shape[0] * self.shape[1]
        self.file = tempfile.TemporaryFile(prefix="spectrocodec-spool-")
        self.peak = 0.0  # max |sample| so far (0 for no samples)
        self.step = max(1, self.size // GAIN_SAMPLE)  # writer.headroom_gain's stride over the interleaved samples
        self.sample: list[np.ndarray] = []

    def __len__(self) -> int:
        return self.shape[0]

    def write_channel(self, channel: int, waveform: np.ndarray) -> None:
        """Store channel ``channel``: float32 (samples,) of exactly ``len(self)`` samples."""
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.shape != (self.shape[0],):
            raise ValueError(f"channel {channel} of {self.shape[1]}: {waveform.shape} samples, not ({self.shape[0]},)")
        self.write_piece(channel, 0, waveform)

    def write_piece(self, channel: int, start: int, piece: np.ndarray) -> None:
        """Store samples [start, start + len(piece)) of channel ``channel`` (pieces written once
        each, any order), so that a vocoder's output can be written as it comes."""
        piece = np.asarray(piece, dtype=np.float32)
        length, channels = self.shape
        if piece.ndim != 1 or not 0 <= channel < channels or start < 0 or start + len(piece) > length:
            raise ValueError(f"channel {channel} of {channels}: samples [{start}, {start + len(piece)}) of {length}")
        self.file.seek((channel * length + start) * 4)
        piece.tofile(self.file)
        if len(piece):
            self.peak = max(self.peak, float(np.max(piece)), float(-np.min(piece)))
        # interleaved index i * channels + channel, taken when it is a multiple of step
        first = next((i for i in range(start, start + self.step) if (i * channels + channel) % self.step == 0), None)
        if first is not None and first < start + len(piece):
            period = self.step // np.gcd(self.step, channels)  # rows between taken samples of this channel
            self.sample.append(np.abs(piece[first - start :: period]))

    def block(self, start: int, stop: int) -> np.ndarray:
        """float32 (stop - start, channels) of samples [start, stop)."""
        length, channels = self.shape
        start, stop = max(0, start), min(length, stop)
        out = np.empty((max(0, stop - start), channels), np.float32)
        for c in range(channels):
            self.file.seek((c * length + start) * 4)
            out[:, c] = np.fromfile(self.file, np.float32, len(out))
        return out

    def __getitem__(self, index: slice) -> np.ndarray:
        """Rows as an array: ``spool[a:b]`` (a step of 1 only)."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a SpooledWaveform reads contiguous rows only: spool[start:stop]")
        start, stop, _ = index.indices(len(self))
        return self.block(start, stop)

    def close(self) -> None:
        self.file.close()
