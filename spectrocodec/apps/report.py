"""``spectrocodec report IN... -o DIR``: a listening report, one self-contained HTML page.

For each input (audio files, and audio files found recursively in folders) and each configuration
(codec × bit depth × quality) it encodes, decodes and measures, and writes into DIR::

    index.html                  the page: opens from disk, no server, no network (inline CSS/JS)
    rd.png                      rate–distortion: PESQ-WB and feature distortion against kbps
    report.json                 every measurement, machine-readable
    <input>/original.wav        the input as WAV (its own rate and channels), to listen to
    <input>/<config>.avif       the encoded file (shown on the page: it is a picture)
    <input>/<config>.view.png   a PNG rendering, for formats browsers cannot show (jxl, heic...)
    <input>/<config>.wav        the decoded audio (16 kHz, every channel the file kept: the
                                page's player plays stereo and multichannel WAV as such)
    <input>/<config>.spec.png   spectrograms: original, the image's features, the decoded audio
                                (channel 1 of a multichannel input; distortions are averaged over
                                the channels, PESQ/STOI are of the downmix)
    <input>/<config>.json       that configuration's measurements (written last: its presence
                                means the rest is complete; reused by the next run unless --force)

Configuration names look like ``avif-q50-10bit``. Work runs in parallel (``--jobs``) with a
progress bar; an interrupted run picks up where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import html
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import batch
from ..core.errors import InputError
from ..core.files import atomic_output, write_bytes
from .args import fixed, num, vocoder_name
from .metrics import RATE  # decoded outputs and the reference for the metrics: 16 kHz mono
from .progress import Progress, format_duration

DEFAULT_BITRATES = "2,3,6"  # kbps: codecs are compared at equal bitrate unless --quality is given
BROWSER_MIMES = {"image/avif", "image/webp", "image/png", "image/jpeg", "image/gif", "image/bmp"}
DB_RANGE = 100.0  # the colour scale of the spectrograms spans this many dB below the loudest bin
COLUMNS = [  # summary table: key, heading, digits (None: text)
    ("input", "input", None), ("codec", "codec", None), ("quality", "quality", 0), ("bits", "bits", 0),
    ("bytes", "bytes", 0), ("kbps", "kbps", 2), ("pesq_wb", "PESQ-WB", 2), ("stoi", "STOI", 3),
    ("feature_mel_db", "feature dB", 2), ("output_mel_db", "output dB", 2),
]


@dataclass
class Config:
    """One configuration: codec (a config dict for the registry), bit depth, and a quality or a
    target bitrate (kbps of the whole file; the quality is then the rate control's choice)."""

    codec: str
    bits: int
    quality: float | None  # None: lossless, or chosen by the bitrate
    extension: str
    mime: str
    spec: dict = field(default_factory=dict)
    bitrate: float | None = None

    @property
    def name(self) -> str:
        quality = f"{num(self.bitrate)}k" if self.bitrate is not None else "lossless" if self.quality is None else f"q{num(self.quality)}"
        return f"{self.codec}-{quality}-{self.bits}bit"

    @property
    def label(self) -> str:
        quality = f"{num(self.bitrate)} kbps" if self.bitrate is not None else "lossless" if self.quality is None else f"quality {num(self.quality)}"
        return f"{self.codec}, {quality}, {self.bits}-bit"


@dataclass
class Item:
    """One input: where it is, its folder in DIR, what it holds (or why it could not be read)."""

    source: Path
    slug: str
    title: str
    seconds: float = 0.0
    rate: int = 0
    channels: int = 0
    error: str = ""
    results: dict[str, dict] = field(default_factory=dict)  # config name → measurements


# -- building the run ---------------------------------------------------------------------------
def make_configs(codecs: list[str], qualities: list[float] | None, bits: list[int], note=print,
                 bitrates: list[float] | None = None) -> list[Config]:
    """codecs × bits × (bitrates, or qualities when no bitrates are given); bit depths a codec
    cannot store are left out (with a note); a codec without a lossy mode gets one lossless
    configuration per bit depth."""
    from ..core import api
    from ..core.ratecontrol import check_bitrate

    configs: list[Config] = []
    for name in codecs:
        for depth in bits:
            for setting in (bitrates or qualities or []):
                quality = None if bitrates else setting
                check_bitrate(setting if bitrates else None)
                codec = api.make_codec(name, quality)  # unknown codec or quality: an error, now
                if depth not in codec.bit_depths:
                    note(f"report: {name} stores {','.join(map(str, codec.bit_depths))}-bit images; skipping {depth}-bit")
                    break
                lossless = not codec.lossy
                config = Config(name, depth, None if lossless else quality, codec.extension, codec.mime,
                                codec.get_config() | {"backend": codec.backend},
                                None if lossless or not bitrates else setting)
                if config.name not in {c.name for c in configs}:
                    configs.append(config)
    if not configs:
        raise InputError("no configuration left to run (see the notes above)")
    return configs


def make_items(inputs: list[str], out: Path) -> list[Item]:
    """The inputs with a unique, stable folder name each (from the file's path)."""
    if any(Path(p).is_dir() and Path(p).resolve() == out.resolve() for p in inputs):
        raise InputError(f"the output folder {out} is an input folder; choose another one (a subfolder is fine)")
    exclude = out if any(out.resolve().is_relative_to(Path(p).resolve()) for p in inputs if Path(p).is_dir()) else None
    found = batch.find_audio(inputs, exclude)
    if not found:
        raise InputError("no audio files in the inputs given")
    items, used = [], set()
    for path, relative in found:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(relative.with_suffix("").parts)).strip("._") or "input"
        slug, n = base, 2
        while slug.lower() in used or slug.lower() in ("rd", "index", "report"):
            slug, n = f"{base}-{n}", n + 1
        used.add(slug.lower())
        items.append(Item(path, slug, relative.as_posix()))
    return items


def prepare(item: Item, out: Path, force: bool) -> None:
    """Read the input (its duration, rate, channels) and write DIR/<slug>/original.wav."""
    from ..core.audio import read_audio
    from ..core.errors import SpectrocodecError

    try:
        audio, rate = read_audio(item.source)
        if audio.shape[0] == 0:
            from ..core.errors import InputError

            raise InputError(f"{item.source.name} holds no samples; there is nothing to listen to")
        item.seconds, item.rate, item.channels = audio.shape[0] / rate, rate, audio.shape[1]
        folder = out / item.slug
        folder.mkdir(parents=True, exist_ok=True)
        original = folder / "original.wav"
        if force or not original.exists() or original.stat().st_mtime_ns < item.source.stat().st_mtime_ns:
            write_original(original, audio, rate)
    except SpectrocodecError as exc:
        item.error = str(exc)


def write_original(path: Path, audio, rate: int) -> None:
    """float32 (samples, channels) → 16-bit WAV at its own rate and channels, atomically."""
    import numpy as np
    import soundfile as sf

    with atomic_output(path, force=True) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")


def _stamp(path: str | Path) -> list[int]:
    """What identifies an input's content cheaply: size and modification time."""
    stat = Path(path).stat()
    return [stat.st_size, stat.st_mtime_ns]


def load_result(item: Item, folder: Path, config: Config, settings: dict) -> dict | None:
    """The measurements of an earlier run on the same input with the same settings, whose files
    are all there (None: the run must be done)."""
    path = folder / f"{config.name}.json"
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (result.get("settings") != _jsonable(settings) or result.get("codec_config") != _jsonable(config.spec)
            or result.get("source_stamp") != _stamp(item.source)):
        return None
    if not all((folder / name).exists() for name in result.get("files", {}).values()):
        return None
    return result


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


# -- the work for one input × configuration (runs in a worker process) ---------------------------
@batch.guarded
def run_one(source: str, folder: str, config: dict, settings: dict) -> dict:
    """Encode, decode, measure and draw one input at one configuration; files into ``folder``."""
    import numpy as np

    from . import metrics
    from ..core.audio import read_audio, resample, to_mono, write_wav
    from ..core.pipeline import Pipeline
    from ..core.registry import Registry

    registry = Registry.default()
    folder_path = Path(folder)
    name = config["name"]
    stamp = _stamp(source)
    audio, rate = read_audio(source)
    extractor = registry.create("feature", "speecht5")
    reference = resample(to_mono(audio), rate, RATE)
    original = extractor.extract(audio, rate)
    codec = registry.create("codec", dict(config["spec"]))
    pipe = Pipeline(extractor=extractor, codec=codec, bits=config["bits"], range_mode=settings["range"], registry=registry,
                    bitrate=config.get("bitrate"))

    start = time.perf_counter()
    data = pipe.encode(audio, rate)
    encode_s = time.perf_counter() - start
    files = {"image": f"{name}{config['extension']}", "audio": f"{name}.wav", "spectrogram": f"{name}.spec.png"}
    write_bytes(folder_path / files["image"], data, force=True)

    start = time.perf_counter()  # decoding and vocoding, not loading the vocoder (once per process)
    decoded = pipe.read(data)
    read_s = time.perf_counter() - start
    vocoder, _ = batch.cached_vocoder(settings["vocoder"], decoded.header.feature["name"], settings["device"])
    pipe.vocoder = vocoder
    start = time.perf_counter()
    waveform, out_rate = pipe.vocode(decoded)
    decode_s = read_s + time.perf_counter() - start
    write_wav(folder_path / files["audio"], waveform, out_rate, force=True)

    image_features = decoded.features
    if image_features.ndim == 3:  # channels kept: measured channel by channel, drawn for channel 1
        original, heard = (np.stack([extractor.extract(a[:, c], r) for c in range(a.shape[1])])
                           for a, r in ((audio, rate), (waveform, out_rate)))
    else:
        heard = extractor.extract(waveform, out_rate)
    waveform = to_mono(waveform)  # PESQ and STOI: the downmix against the downmixed reference
    seconds = audio.shape[0] / rate
    result = {
        "input": source, "config": name, "codec": config["codec"], "bitrate": config.get("bitrate"),
        "quality": decoded.header.quality if config.get("bitrate") is not None else config["quality"],
        "bits": config["bits"], "range": settings["range"], "vocoder": f"{vocoder.name} on {getattr(vocoder, 'device_name', settings['device'])}",
        "seconds": seconds, "bytes": len(data), "kbps": len(data) * 8 / seconds / 1000,
        "width": decoded.width, "height": decoded.height, "mime": config["mime"],
        "feature_mel_db": metrics.mel_distortion_db(original, image_features),
        "output_mel_db": metrics.mel_distortion_db(original, heard),
        "channels": decoded.header.channels, "layout": decoded.header.layout,
        "pesq_wb": metrics.pesq_wb(reference, waveform, RATE) if out_rate == RATE else None,
        "stoi": metrics.stoi(reference, waveform, RATE) if out_rate == RATE else None,
        "encode_s": encode_s, "decode_s": decode_s,
    }
    spectrograms(folder_path / files["spectrogram"],
                 [(title + ("" if image_features.ndim == 2 else f", channel 1 of {len(image_features)}"), panel[0] if image_features.ndim == 3 else panel)
                  for title, panel in (("original", original), (f"the image ({name})", image_features), (f"decoded audio ({vocoder.name})", heard))],
                 extractor.bin_frequencies(), extractor.hop_length / extractor.sample_rate)
    if config["mime"] not in BROWSER_MIMES:
        files["view"] = f"{name}.view.png"
        pixels = decoded.codec().decode(data)
        image = np.asarray(pixels.image, dtype=np.float64) * (255.0 / ((1 << pixels.bits) - 1))
        png_bytes = _png(np.clip(np.round(image), 0, 255).astype(np.uint8))
        write_bytes(folder_path / files["view"], png_bytes, force=True)
    result.update(ok=True, files=files, settings=_jsonable(settings), codec_config=_jsonable(config["spec"]), source_stamp=stamp)
    write_bytes(folder_path / f"{name}.json", json.dumps(result, indent=1).encode(), force=True)
    return result


def _png(image) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# -- pictures -----------------------------------------------------------------------------------
def _figure(width: float, height: float, layout: str | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90, layout=layout)


def _save(fig, path: Path) -> None:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes(path, buffer.getvalue(), force=True)


def spectrograms(path: Path, panels: list[tuple[str, Any]], freqs, hop_s: float) -> None:
    """Panels of log10 features (frames, bins) side by side, one colour scale in dB (20·log10),
    time in seconds, frequency in Hz (mel-spaced bins, labelled in Hz)."""
    import numpy as np

    loudest = max(float(np.max(f)) for _, f in panels) * 20.0
    vmax = 10.0 * np.ceil(loudest / 10.0)
    vmin = vmax - DB_RANGE
    bins = len(freqs)
    ticks = [hz for hz in (100, 250, 500, 1000, 2000, 4000, 7000) if freqs[0] <= hz <= freqs[-1]]
    positions = np.interp(ticks, freqs, np.arange(bins))
    # fixed margins in inches (constrained layout would double the time of a figure)
    width, height, left, right, gap, bottom, top = 3.6 * len(panels) + 1.3, 2.6, 0.62, 0.85, 0.2, 0.45, 0.28
    panel = (width - left - right - gap * (len(panels) - 1)) / len(panels)
    fig = _figure(width, height, layout=None)
    box = (bottom / height, (height - bottom - top) / height)
    axes = [fig.add_axes(((left + i * (panel + gap)) / width, box[0], panel / width, box[1])) for i in range(len(panels))]
    image = None
    for n, (ax, (title, features)) in enumerate(zip(axes, panels)):
        image = ax.imshow(np.asarray(features).T * 20.0, origin="lower", aspect="auto", cmap="magma",
                          vmin=vmin, vmax=vmax, interpolation="nearest",
                          extent=(0.0, len(features) * hop_s, -0.5, bins - 0.5))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks(positions, [f"{t // 1000}k" if t >= 1000 else str(t) for t in ticks])
        ax.tick_params(labelleft=n == 0)
    axes[0].set_ylabel("frequency (Hz)", fontsize=8)
    colour_axes = fig.add_axes(((width - right + 0.12) / width, box[0], 0.12 / width, box[1]))
    bar = fig.colorbar(image, cax=colour_axes)
    bar.set_label("level (dB)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    _save(fig, path)


def rd_plot(path: Path, items: list[Item], configs: list[Config]) -> None:
    """PESQ-WB and feature distortion against kbps: one line per codec and bit depth, the mean over
    the inputs at each quality or target bitrate."""
    import numpy as np

    series: dict[str, list[tuple[float, float | None, float | None, str]]] = {}
    for config in configs:
        rows = [r for item in items if (r := item.results.get(config.name)) and r.get("ok")]
        if not rows:
            continue

        def mean(key: str) -> float | None:
            values = [r[key] for r in rows if r.get(key) is not None]
            return float(np.mean(values)) if values else None

        label = f"{num(config.bitrate)}k" if config.bitrate is not None else "" if config.quality is None else num(config.quality)
        series.setdefault(f"{config.codec} {config.bits}-bit", []).append((mean("kbps"), mean("pesq_wb"), mean("feature_mel_db"), label))
    fig = _figure(10.0, 3.6)
    axes = fig.subplots(1, 2)
    for ax, index, title, ylabel in ((axes[0], 1, "PESQ-WB against bitrate (higher is better)", "PESQ-WB (MOS)"),
                                     (axes[1], 2, "feature distortion against bitrate (lower is better)", "feature distortion (dB)")):
        drawn = False
        for name, points in series.items():
            points = sorted((p for p in points if p[index] is not None), key=lambda p: p[0])
            if not points:
                continue
            ax.plot([p[0] for p in points], [p[index] for p in points], marker="o", label=name)
            for p in points:
                ax.annotate(p[3], (p[0], p[index]), textcoords="offset points", xytext=(3, 3), fontsize=7)
            drawn = True
        if not drawn:
            ax.text(0.5, 0.5, "not measured (pip install spectrocodec[bench])", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("bitrate (kbps)")
        ax.ticklabel_format(useOffset=False)
        if index == 1:
            ax.set_ylim(1.0, 4.6)  # the whole PESQ-WB scale: comparable from one report to the next
        else:
            ax.set_ylim(bottom=0.0)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    _save(fig, path)


# -- the page -----------------------------------------------------------------------------------
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1280px; padding: 0 1.5em 4em; color: #1d1d1f; background: #fafafa; }
h1 { margin-top: 1em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
h3 { margin: .2em 0 .4em; font-size: 1.05em; }
.muted { color: #666; } .bad { color: #b00020; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; background: #fff; }
th, td { padding: .3em .7em; border-bottom: 1px solid #e5e5e5; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; background: #f0f0f0; }
table.sortable th[data-dir=asc]::after { content: " \\25B2"; } table.sortable th[data-dir=desc]::after { content: " \\25BC"; }
tbody tr:hover { background: #f4f8ff; }
.config { background: #fff; border: 1px solid #e2e2e2; border-radius: 8px; padding: .8em 1em; margin: 1em 0; }
.config.failed { border-color: #e8a0a0; }
.row { display: flex; flex-wrap: wrap; gap: .5em 1.5em; align-items: flex-start; }
.row > .pictures { flex: 1 1 300px; min-width: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
img.pixels { height: 160px; image-rendering: pixelated; display: block; border: 1px solid #ccc; }
img.spec, img.rd { max-width: 100%; display: block; }
figure { margin: .5em 0; } figcaption { font-size: .85em; color: #666; }
audio { width: 360px; max-width: 100%; }
.stats { display: flex; flex-wrap: wrap; gap: .2em 1.4em; } .stats span { white-space: nowrap; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.dataset.dir !== "asc";
      Array.prototype.forEach.call(heads, function (h) { delete h.dataset.dir; });
      th.dataset.dir = ascending ? "asc" : "desc";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        var text = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
        var number = parseFloat(text);
        return text === "" ? null : (isNaN(number) || String(number) !== text && !/^-?[0-9.e+-]+$/.test(text) ? text : number);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : x === null ? 1 : -1; }  // empty cells last
        var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _url(*parts: str) -> str:
    return "/".join(quote(part) for part in parts)


def _size(count: int) -> str:
    return f"{count} B" if count < 1000 else f"{count / 1000:.1f} kB" if count < 1_000_000 else f"{count / 1e6:.2f} MB"


def render(items: list[Item], configs: list[Config], settings: dict, failures: list[str]) -> str:
    """The whole page as a string."""
    from .. import __version__

    e = html.escape
    done = sum(len(item.results) for item in items)
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>spectrocodec listening report</title>", f"<style>{CSS}</style></head><body>",
           "<h1>spectrocodec listening report</h1>",
           f'<p class="muted">{len(items)} input(s) × {len(configs)} configuration(s), {done} result(s). '
           f"Decoded by {e(_vocoders(items) or settings['vocoder'])}; {e(settings['range'])} feature range. "
           f"spectrocodec {e(__version__)}, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}.</p>",
           '<p class="muted">kbps: the whole encoded file over the input\'s duration. PESQ-WB (1–4.6) and STOI (0–1): '
           "the decoded audio against the original at 16 kHz mono, higher is better. feature dB: mel distortion of the "
           "image's features against the original's (the codec alone); output dB: of the decoded audio re-analysed "
           "(codec and vocoder); lower is better. Click a column heading to sort.</p>"]
    if failures:
        out.append(f'<p class="bad">{len(failures)} failure(s): ' + "; ".join(e(f) for f in failures) + "</p>")
    out.append('<h2 id="summary">Summary</h2><div class="scroll"><table class="sortable" id="summary-table"><thead><tr>')
    out += [f"<th>{e(title)}</th>" for _, title, _ in COLUMNS]
    out.append("</tr></thead><tbody>")
    for item in items:
        for config in configs:
            result = item.results.get(config.name)
            if result is None or not result.get("ok"):  # failures are shown in their input's section
                continue
            cells = []
            for key, _, digits in COLUMNS:
                value = item.title if key == "input" else result.get(key)
                if key == "input":
                    cells.append(f'<td data-value="{e(item.title)}"><a href="#{e(item.slug)}--{e(config.name)}">{e(item.title)}</a></td>')
                elif key == "quality" and value is None:
                    cells.append('<td data-value="101">lossless</td>')
                else:
                    raw = "" if value is None else str(value)
                    cells.append(f'<td data-value="{e(raw)}">{e(fixed(value, digits, missing="", grouping=True))}</td>')
            out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    out.append('<h2 id="rate-distortion">Rate–distortion</h2>'
               '<p class="muted">Mean over the inputs for each codec and bit depth; points are labelled with the quality or the target bitrate.</p>'
               '<img class="rd" src="rd.png" alt="PESQ-WB and feature distortion against bitrate">')
    for item in items:
        out.append(_item_html(item, configs))
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out)


def _vocoders(items: list[Item]) -> str:
    return ", ".join(sorted({r["vocoder"] for item in items for r in item.results.values() if r.get("ok")}))


def _item_html(item: Item, configs: list[Config]) -> str:
    e = html.escape
    parts = [f'<section class="input" id="{e(item.slug)}"><h2>{e(item.title)}</h2>']
    if item.error:
        parts.append(f'<p class="bad">could not be read: {e(item.error)}</p></section>')
        return "\n".join(parts)
    parts.append(f'<p class="muted">{e(str(item.source))}: {item.seconds:.2f} s, {item.rate} Hz, {item.channels} channel(s)</p>'
                 f'<div class="row"><div><h3>Original</h3><audio controls preload="metadata" src="{_url(item.slug, "original.wav")}"></audio></div></div>')
    for config in configs:
        result = item.results.get(config.name)
        anchor = f"{item.slug}--{config.name}"
        if result is None or not result.get("ok"):
            reason = (result or {}).get("error", "not done")
            parts.append(f'<article class="config failed" id="{e(anchor)}"><h3>{e(config.label)}</h3><p class="bad">failed: {e(reason)}</p></article>')
            continue
        files = result["files"]
        stats = [f"{result['kbps']:.2f} kbps", _size(result["bytes"]),
                 f"{result['width']}×{result['height']} px",
                 "PESQ-WB " + (f"{result['pesq_wb']:.2f}" if result.get("pesq_wb") is not None else "n/a"),
                 "STOI " + (f"{result['stoi']:.3f}" if result.get("stoi") is not None else "n/a"),
                 f"feature {result['feature_mel_db']:.2f} dB", f"output {result['output_mel_db']:.2f} dB",
                 f"encode {result['encode_s'] * 1000:.0f} ms, decode {result['decode_s']:.2f} s ({result['vocoder']})"]
        image = _url(item.slug, files["image"])
        if "view" in files:  # a browser that reads the format shows the file itself, any other the PNG
            picture = (f'<picture><source srcset="{image}" type="{e(result["mime"])}">'
                       f'<img class="pixels" src="{_url(item.slug, files["view"])}" alt="{e(config.name)} image"></picture>')
            caption = f"the encoded file itself where this browser reads {e(result['mime'])}, else a PNG rendering of its pixels"
        else:
            picture = f'<img class="pixels" src="{image}" alt="{e(config.name)} image">'
            caption = f"the encoded file itself ({e(result['mime'])})"
        figures = [f'<figure><div class="scroll">{picture}</div>'
                   f'<figcaption>{caption}, <a href="{image}">{e(files["image"])}</a>, shown 2× high; low frequencies at the bottom</figcaption></figure>']
        parts.append(
            f'<article class="config" id="{e(anchor)}"><h3>{e(config.label)}</h3>'
            f'<p class="stats">' + "".join(f"<span>{e(s)}</span>" for s in stats) + "</p>"
            f'<div class="row"><div><audio controls preload="metadata" src="{_url(item.slug, files["audio"])}"></audio></div>'
            f'<div class="pictures">{"".join(figures)}</div></div>'
            f'<img class="spec" src="{_url(item.slug, files["spectrogram"])}" alt="spectrograms of the original, the image and the decoded audio">'
            "</article>")
    parts.append("</section>")
    return "\n".join(parts)


# -- the command --------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} is a file; give a folder")
    batch.default_jobs(args.jobs, 0)  # refuse a negative --jobs before anything is written
    from .args import number_list, split_list

    if args.quality is not None and getattr(args, "bitrate", None) is not None:
        raise InputError("--bitrate and --quality are exclusive: give target bitrates or qualities")
    bitrates = None if args.quality is not None else number_list(getattr(args, "bitrate", None) or DEFAULT_BITRATES, "bitrate")
    configs = make_configs(split_list(args.codec), number_list(args.quality, "quality") if args.quality is not None else None,
                           number_list(args.bits, "bits", int), note=lambda line: print(line, file=sys.stderr), bitrates=bitrates)
    vocoder = vocoder_name(args.vocoder)
    settings = {"vocoder": vocoder, "device": args.device, "range": args.range}
    if getattr(args, "verbose", False):  # -v: what will run
        print(f"report: {len(configs)} configuration(s): {', '.join(c.name for c in configs)}; settings {settings}", file=sys.stderr)
    items = make_items(args.inputs, out)
    out.mkdir(parents=True, exist_ok=True)
    removed = batch.remove_temp_files(out)
    quiet = getattr(args, "quiet", False)
    failures: list[str] = []
    tasks, reused, code = [], 0, 0
    for item in items:
        prepare(item, out, args.force)
        if item.error:
            failures.append(f"{item.source}: {item.error}")
            code = 2
            continue
        for config in configs:
            result = None if args.force else load_result(item, out / item.slug, config, settings)
            if result is not None:
                item.results[config.name] = result
                reused += 1
            else:
                spec = dataclasses.asdict(config) | {"name": config.name}
                tasks.append((str(item.source), str(out / item.slug), spec, settings))
    by_key = {(str(item.source), str(out / item.slug)): item for item in items}
    from .engines import open_engine

    engine = open_engine(args, len(tasks), args.device)  # --engine local (a process pool) or ray
    bar = Progress(len(tasks), label="report", unit="runs", quiet=quiet)
    if removed:
        bar.write(f"removed {removed} temporary file(s) left in {out} by an interrupted run")
    for line in failures:
        bar.write(f"failed: {line}")
    for task, result in engine.run(run_one, tasks, "vocoder"):
        bar.advance()
        item = by_key[(task[0], task[1])]
        item.results[task[2]["name"]] = result
        if not result["ok"]:
            code = max(code, result["code"])
            failures.append(f"{item.source} ({task[2]['name']}): {result['error']}")
            bar.write(f"failed: {failures[-1]}")
    rd_plot(out / "rd.png", items, configs)
    write_bytes(out / "index.html", render(items, configs, settings, failures).encode("utf-8"), force=True)
    report = {"settings": settings, "configs": [c.name for c in configs],
              "results": [r for item in items for r in item.results.values() if r.get("ok")], "failures": failures}
    write_bytes(out / "report.json", json.dumps(report, indent=1).encode(), force=True)
    summary = f"report: {out / 'index.html'}: {len(items)} input(s) × {len(configs)} configuration(s) in {format_duration(bar.elapsed)}"
    if engine.describe():
        summary += f", {engine.describe()}"
    if reused:
        summary += f"; {reused} reused from an earlier run (--force redoes them)"
    bar.close(summary)
    if failures:
        print(f"spectrocodec: error: {len(failures)} failure(s) (listed above); the page shows the rest", file=sys.stderr)
    return code

