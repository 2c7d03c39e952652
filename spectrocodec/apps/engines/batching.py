"""Decoding several files with one vocoder call: ``decode_batch(tasks)`` gives exactly
``[batch.decode_file(*task) for task in tasks]`` but runs the spectrograms of files that share a
vocoder through ``Vocoder.vocode_batch`` together (a GPU vocoder pads and batches them; its
outputs equal ``vocode``'s, see hifigan.py). Everything else (checks, trimming, resampling, the
atomic write, the result dict) is ``decode_file`` itself: while it runs, the vocoder's ``vocode``
returns the waveform already computed for that file.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

Task = tuple  # (source, output, settings) as batch.decode_file takes them


def decode_batch(tasks: list[Task]) -> list[dict]:
    """Decode tasks → their result dicts (never raises; a failing file fails alone)."""
    from .. import batch
    from ...core import api

    groups: dict[int, tuple[Any, list[int], list[Any]]] = {}  # id(vocoder) → (vocoder, task indices, features)
    for index, (source, _, settings) in enumerate(tasks):
        try:
            features = api.read_features(source)
            vocoder, _ = batch.cached_vocoder(settings["vocoder"], features.header.feature["name"], settings["device"],
                                              weights=settings.get("weights"), **settings["params"])  # as decode_file
        except Exception:
            continue  # decode_file below reports this file's error, in its own words
        entry = groups.setdefault(id(vocoder), (vocoder, [], []))
        entry[1].append(index)
        entry[2].append(features.features)
    done: dict[int, tuple[Any, Any]] = {}  # task index → (vocoder, waveform)
    for vocoder, indices, features in groups.values():
        try:
            done.update((i, (vocoder, w)) for i, w in zip(indices, vocoder.vocode_batch(features)))
        except Exception:
            pass  # one bad file spoils the batch: these files are vocoded one at a time below
    results = []
    for index, task in enumerate(tasks):
        if index in done:
            with replay(*done.pop(index)):
                results.append(batch.decode_file(*task))
        else:
            results.append(batch.decode_file(*task))
    return results


@contextmanager
def replay(vocoder: Any, waveform: Any) -> Iterator[None]:
    """Meanwhile ``vocoder.vocode(features)`` returns ``waveform`` (computed by vocode_batch)."""
    vocoder.vocode = lambda features: waveform
    try:
        yield
    finally:
        del vocoder.vocode
