"""The listening report: two corpus clips × two configurations, every file the page names is there,
and the page works in a real headless Chromium (images shown, audio playable, table sortable)."""

from __future__ import annotations

import base64
import html.parser
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import soundfile as sf
import soxr

from helpers import SPEECH, run_cli

FRAME_S = 256 / 16000
CLIP_S = 3.0
ARTIFACTS = os.environ.get("SPECTROCODEC_TEST_ARTIFACTS")  # a folder to keep the screenshot in


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Run the report once: a file and a folder (with a space and '#' in a name) × avif and jxl."""
    if not SPEECH:
        pytest.skip("corpus not found (it sits beside the repo as ../shared/corpus)")
    root = tmp_path_factory.mktemp("report")
    inputs = [root / "in" / "first.wav", root / "in" / "more" / "deep dir" / "clip #2.flac"]
    for n, (source, target) in enumerate(zip(SPEECH, inputs)):
        audio, rate = sf.read(source, dtype="float32")
        audio = audio[rate // 2: rate // 2 + int(CLIP_S * rate)]
        if n == 1:  # the second as stereo at 22.05 kHz: the original is kept as it is, decoded at 16 kHz stereo
            audio = soxr.resample(np.stack([audio, 0.5 * audio], axis=1), rate, 22050)
            rate = 22050
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, audio, rate)
    out = root / "out"
    args = ["report", inputs[0], root / "in" / "more", "-o", out, "--codec", "avif,jxl", "--quality", "50",
            "--bits", "10", "--vocoder", "auto", "--jobs", "2"]
    start = time.monotonic()
    result = run_cli(*args, timeout=300)
    assert result.returncode == 0, result.stderr
    return {"out": out, "args": args, "stderr": result.stderr, "seconds": time.monotonic() - start}


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append((tag, name, value))
            if name == "srcset" and value is not None:  # <picture><source srcset="x.jxl">: one URL, no descriptors
                self.urls.append((tag, "src", value))
            if name == "id":
                self.ids.add(value)


def test_every_link_and_src_exists_and_nothing_is_remote(report):
    out = report["out"]
    page = (out / "index.html").read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    tags = {tag for tag, _, _ in links.urls}
    assert {"img", "audio", "a"} <= tags
    assert "link" not in tags and "http://" not in page and "https://" not in page  # no CDN, no fonts
    assert not [u for t, n, u in links.urls if t == "script"]  # scripts are inline
    for _, _, url in links.urls:
        parsed = urlparse(url)
        assert not parsed.scheme and not parsed.netloc, url
        if url.startswith("#"):
            assert url[1:] in links.ids, url
        else:
            assert (out / unquote(parsed.path)).is_file(), url
    sources = [u for t, n, u in links.urls if n == "src"]
    assert sum(u.endswith(".avif") for u in sources) == 2 and sum(u.endswith(".jxl") for u in sources) == 2
    assert sum(u.endswith(".view.png") for u in sources) == 2  # jxl: a PNG rendering next to it
    assert sum(u.endswith(".wav") for u in sources) == 2 + 4  # originals and decoded
    assert "clip #2.flac" in page  # the name, escaped where needed, is shown
    stereo = sf.info(out / "deep_dir_clip_2" / "original.wav")
    assert (stereo.channels, stereo.samplerate) == (2, 22050) and abs(stereo.duration - CLIP_S) < 1e-3
    decoded = sf.info(out / "deep_dir_clip_2" / "avif-q50-10bit.wav")
    assert (decoded.channels, decoded.samplerate) == (2, 16000) and abs(decoded.duration - CLIP_S) <= FRAME_S


def test_measurements(report):
    data = json.loads((report["out"] / "report.json").read_text())
    assert len(data["results"]) == 4 and not data["failures"]
    for row in data["results"]:
        assert row["bytes"] > 0 and 0 < row["kbps"] < 64
        assert abs(row["seconds"] - CLIP_S) < 1e-6
        assert 0 <= row["feature_mel_db"] < 10 and row["output_mel_db"] > 0
        assert row["pesq_wb"] is None or 1.0 <= row["pesq_wb"] <= 4.7
        assert row["stoi"] is None or 0.0 <= row["stoi"] <= 1.0
    pytest.importorskip("pesq")
    assert all(row["pesq_wb"] is not None for row in data["results"])


def test_rerun_reuses_everything(report):
    out = report["out"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".avif", ".jxl", ".wav", ".json") and p.parent != out}
    result = run_cli(*report["args"], timeout=120)
    assert result.returncode == 0, result.stderr
    assert "4 reused" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


# -- in a real browser --------------------------------------------------------------------------
class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe (its fds 3 and 4)."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def wire() -> None:  # in the child: the pipe ends where --remote-debugging-pipe wants them
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
             f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=wire)
        os.close(to_chrome)
        os.close(from_chrome)
        self._id, self._buffer, self.session = 0, b"", None

    def send(self, method: str, timeout: float = 30, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
            if select.select([self._in], [], [], left)[0]:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self._buffer += chunk

    def open(self, url: str, width: int = 1200, height: int = 900) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str, timeout: float = 30):
        result = self.send("Runtime.evaluate", timeout=timeout, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:2000])
        return result["result"].get("value")

    def screenshot(self, path: Path, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)


PROBE = """(async () => {
  if (document.readyState !== "complete") await new Promise(r => addEventListener("load", r, {once: true}));
  const audios = [...document.querySelectorAll("audio")];
  await Promise.all(audios.map(a => new Promise(r => {
    a.addEventListener("loadeddata", r, {once: true}); a.addEventListener("error", r, {once: true});
    a.preload = "auto"; a.load(); })));
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const table = document.getElementById("summary-table");
  const heads = [...table.tHead.rows[0].cells].map(th => th.textContent.trim());
  const column = heads.indexOf("kbps");
  const values = () => [...table.tBodies[0].rows].map(r => parseFloat(r.cells[column].dataset.value));
  table.tHead.rows[0].cells[column].click();
  const ascending = values();
  table.tHead.rows[0].cells[column].click();
  const descending = values();
  return {images: [...document.images].map(i => ({src: i.getAttribute("src"), width: i.naturalWidth})),
          audios: audios.map(a => ({src: a.getAttribute("src"), ready: a.readyState, duration: a.duration,
                                    error: a.error && a.error.code})),
          ascending, descending, overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth};
})()"""


def test_page_in_headless_chromium(report, tmp_path):
    executable = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium): the page is not checked in a browser")
    out = report["out"]
    browser = Chromium(executable, tmp_path / "profile")
    try:
        browser.open((out / "index.html").as_uri())
        state = browser.evaluate(PROBE, timeout=60)
        height = min(browser.evaluate("document.documentElement.scrollHeight"), 6000)
        shot = Path(ARTIFACTS) if ARTIFACTS else tmp_path
        shot.mkdir(parents=True, exist_ok=True)
        browser.screenshot(shot / "report-page.png", 1200, height)
    finally:
        browser.close()
    assert len(state["images"]) == 1 + 4 * 2  # rd plot; per run: the image (jxl: <picture> with a PNG fallback) and spectrograms
    for image in state["images"]:
        assert image["width"] > 0, f"{image['src']} is not shown"
    assert len(state["audios"]) == 6
    for audio in state["audios"]:
        assert audio["error"] is None and audio["ready"] >= 2, audio
        assert abs(audio["duration"] - CLIP_S) <= FRAME_S, audio
    assert state["ascending"] == sorted(state["ascending"]) and state["descending"] == sorted(state["ascending"], reverse=True)
    assert state["overflow"] <= 0, "the page scrolls sideways at 1200 px"
    assert (shot / "report-page.png").stat().st_size > 10_000


def test_earlier_results_are_reused_only_when_nothing_changed(report, tmp_path):
    from spectrocodec.apps import report as module

    out = report["out"]
    item = module.Item(Path(report["args"][1]), "first", "first.wav")
    config = next(c for c in module.make_configs(["avif"], [50], [10]))
    settings = json.loads((out / "report.json").read_text())["settings"]
    assert module.load_result(item, out / "first", config, settings)["ok"]
    assert module.load_result(item, out / "first", config, {**settings, "range": "fixed"}) is None
    changed = tmp_path / "first.wav"
    shutil.copy(item.source, changed)  # same bytes, a later modification time: redone
    assert module.load_result(module.Item(changed, "first", "first.wav"), out / "first", config, settings) is None
