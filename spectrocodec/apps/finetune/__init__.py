"""``spectrocodec finetune``: train SpeechT5's HiFi-GAN on mels that went through a real image-codec
round trip, so that it learns to undo the codec's damage. The result loads with
``spectrocodec decode --vocoder hifigan --vocoder-weights RUN_DIR/vocoder``.

Modules (torch and transformers are imported inside them only, never by ``spectrocodec --help``):

- ``recipe``: the hyperparameters (one dataclass) and the run folder's layout;
- ``data``: finding audio, the held-out split, codec round trips in worker processes (cached on
  disk), random training segments;
- ``models``: the generator (transformers' ``SpeechT5HifiGan``), its initialisation (hub cache,
  an exported folder or random weights), the multi-period and multi-scale discriminators, export;
- ``losses``: least-squares GAN, feature matching, mel L1 (× 45);
- ``state``: atomic checkpoints (models, optimisers, schedulers, step, RNG) and metrics.csv;
- ``loop``: the training loop and the validation pass (PESQ-WB, mel distortion, examples).

docs/finetune.md is the user's guide.
"""

from __future__ import annotations


def run(args) -> int:
    """The CLI entry: argparse namespace → exit status."""
    from .loop import run_cli

    return run_cli(args)
