"""Is a long encoded file right? Its decoded features against the true features of cuts of its
source, and against the same cuts encoded as short files of their own (issue 15's 3 h check).

    python benchmarks/check_long_file.py s3h.wav s3h.avif [--minutes 10]

Prints, for the first and the last cut: the RMS log-mel error (log10 units) of the long file's
decoded features and of the short file's, and the RMS difference between the two decodes; and the
long file's grid (tiles) and layout. Frames within 2 of a cut's edges are left out (the cut's own
reflect padding differs there).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    from spectrocodec.core import api
    from spectrocodec.core.pipeline import Pipeline
    from spectrocodec.core.registry import Registry
    from spectrocodec.kit import avifbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav")
    parser.add_argument("encoded")
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args(argv)
    extractor = Registry.default().create("feature", "speecht5")
    data = Path(args.encoded).read_bytes()
    grid = avifbox.grid_of(data) if avifbox.layout(data) == "standard" else None
    decoded = api.read_features(data)
    features = decoded.features if decoded.features.ndim == 3 else decoded.features[None]
    print(f"{args.encoded}: layout {decoded.header.layout}, {decoded.header.channels} channel(s), features {features.shape}"
          + (f", a grid of {grid.rows} tiles, {grid.width} x {grid.height}" if grid else ""))
    info = sf.info(args.wav)
    cut = int(args.minutes * 60 * info.samplerate)
    with tempfile.TemporaryDirectory() as tmp:
        for name, start in (("first", 0), ("last", info.frames - cut)):
            audio, rate = sf.read(args.wav, start=start, frames=cut, dtype="float32", always_2d=True)
            true = np.stack([extractor.extract(audio[:, c], rate) for c in range(audio.shape[1])])
            if len(features) == 1 and len(true) > 1:
                true = extractor.extract(audio, rate)[None]  # a downmixed file: compare with the downmix
            first = int(round(start * extractor.sample_rate / rate)) // extractor.hop_length
            n = true.shape[1] - 2
            sf.write(Path(tmp) / "cut.wav", audio, rate, subtype="PCM_16")
            short = Pipeline().read(Pipeline().encode_file(Path(tmp) / "cut.wav")).features
            short = short if short.ndim == 3 else short[None]
            long_part = features[:, first + 2 : first + n]

            def rms(a, b):
                return float(np.sqrt(np.mean((a - b) ** 2)))

            print(f"{name} {args.minutes:g} min: RMS log-mel error of the long file {rms(long_part, true[:, 2:n]):.4f}, "
                  f"of the cut encoded alone {rms(short[:, 2:n], true[:, 2:n]):.4f}; long vs short decode {rms(long_part, short[:, 2:n]):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
