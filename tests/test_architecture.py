"""The architecture holds: imports go one way (apps → core ← plugins; the kit is core-side), no
import cycle inside the package, plugins load lazily, and the codec kit keeps plugins short."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, SAMPLE

PACKAGE = ROOT / "spectrocodec"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved), at any depth."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if path.name == "__init__.py":
        module = package
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)  # `from . import x` imports x
    return found


def _graph() -> dict[str, set[str]]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    return {name: {m for m in _imports(path) if m in modules} | ({"spectrocodec_plugins"} & {
        i.split(".")[0] for i in _imports(path)}) for name, path in modules.items()}


def test_core_and_kit_never_import_apps_or_plugins():
    bad = []
    for name, imported in _graph().items():
        if name.startswith(("spectrocodec.core", "spectrocodec.kit", "spectrocodec.testing")):
            bad += [f"{name} imports {m}" for m in imported
                    if m.startswith(("spectrocodec.apps", "spectrocodec_plugins"))]
    assert not bad, bad


def test_the_kit_imports_only_the_core():
    for name, imported in _graph().items():
        if name.startswith("spectrocodec.kit"):
            assert all(m.startswith(("spectrocodec.core", "spectrocodec.kit")) for m in imported), (name, imported)


def test_no_import_cycle_inside_the_package():
    graph = {name: {m for m in imported if m.startswith("spectrocodec.")} for name, imported in _graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt.startswith(node + "."):  # a package importing its own submodule
                continue
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(path[path.index(nxt):] + [nxt])}")
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


_LOADED = r'''
import json, sys
import spectrocodec
data = spectrocodec.encode(sys.argv[1], codec="png", bits=10)
spectrocodec.decode(data, vocoder="griffinlim", device="cpu", iterations=1)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
'''


def test_png_and_griffinlim_load_no_other_codec_library():
    """Plugins are imported lazily and import their codec libraries inside methods: a PNG encode
    and a Griffin-Lim decode load imagecodecs (PNG's), never Pillow, pillow-heif, transformers or
    matplotlib (sniffing the file for decoding may import the other plugin modules, not their
    libraries)."""
    out = subprocess.run([sys.executable, "-c", _LOADED, str(SAMPLE)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert "imagecodecs" in loaded
    assert not loaded & {"PIL", "pillow_heif", "transformers", "matplotlib"}, loaded & {"PIL", "pillow_heif", "transformers", "matplotlib"}


def test_looking_up_one_codec_imports_only_its_plugin():
    code = ("import sys; from spectrocodec.core.registry import Registry; r = Registry.default();"
            "r.get_class('codec', 'png'); print(sorted(m for m in sys.modules if m.startswith('spectrocodec_plugins.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["['spectrocodec_plugins.png']"], out.stdout + out.stderr


def test_help_imports_no_plugin_and_no_numpy():
    code = ("import sys; from spectrocodec.apps.cli import build_parser; build_parser().format_help();"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'spectrocodec_plugins', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _code_lines(path: Path) -> int:
    """Lines of code: not blank, not a comment, not in a docstring."""
    import io
    import tokenize

    source = path.read_text()
    docs = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docs.update(range(body[0].lineno, body[0].end_lineno + 1))
    code = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            code.update(line for line in range(token.start[0], token.end[0] + 1) if line not in docs)
    return len(code)


def test_a_codec_plugin_is_40_lines_of_code():
    for path in (ROOT / "plugins" / "spectrocodec_plugins" / "png.py", ROOT / "examples" / "spectrocodec-tiff" / "spectrocodec_tiff.py"):
        assert _code_lines(path) <= 40, (path.name, _code_lines(path))


def _distribution(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """A minimal installed distribution in ``site`` (a .dist-info folder and its modules)."""
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


def test_broken_plugins_are_listed_with_their_reason_and_do_not_stop_the_others(tmp_path):
    """Installed for real (entry points in a .dist-info on PYTHONPATH): a plugin whose import
    fails, one whose hook raises and one with a misspelt hook are listed as broken with the
    reason; encoding and decoding with the others still work."""
    import os

    site = tmp_path / "site"
    _distribution(site, "broken_plugins", "[spectrocodec]\nexploding = exploding_module\nraising = raising_module\n"
                                          "misspelt = misspelt_module\n", {
        "exploding_module": "raise ImportError('this plugin needs libfoo')\n",
        "raising_module": "from spectrocodec import hookimpl\n@hookimpl\ndef spectrocodec_image_codecs():\n"
                          "    raise RuntimeError('no codecs today')\n",
        "misspelt_module": "from spectrocodec import hookimpl\n@hookimpl\ndef spectrocodec_image_codec():\n    return []\n",
    })
    env = {**os.environ, "PYTHONPATH": str(site)}
    listing = subprocess.run([sys.executable, "-m", "spectrocodec", "plugins"], capture_output=True, text=True,
                             timeout=120, env=env)
    assert listing.returncode == 0, listing.stderr
    broken = listing.stdout.split("Broken plugins:")[1]
    assert "exploding" in broken and "this plugin needs libfoo" in broken
    assert "raising" in broken and "no codecs today" in broken
    assert "misspelt" in broken and "spectrocodec_image_codec" in broken
    assert "png" in listing.stdout.split("Broken plugins:")[0]
    out = tmp_path / "x.png"
    encoded = subprocess.run([sys.executable, "-m", "spectrocodec", "encode", str(SAMPLE), "-o", str(out), "--codec", "png", "-q"],
                             capture_output=True, text=True, timeout=120, env=env)
    assert encoded.returncode == 0 and out.exists(), encoded.stderr
    decoded = subprocess.run([sys.executable, "-m", "spectrocodec", "decode", str(out), "--vocoder", "griffinlim",
                              "--param", "iterations=2", "-q"], capture_output=True, text=True, timeout=120, env=env)
    assert decoded.returncode == 0 and out.with_suffix(".decoded.wav").exists(), decoded.stderr
