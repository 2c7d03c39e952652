"""The plugin registry: every FeatureExtractor, ImageCodec and Vocoder, found through entry points.

Plugins are modules named in entry points of group ``spectrocodec`` (built-in ones included). The
registry reads the entry points' names from the installed distributions' metadata and imports a
plugin module only when it is needed: a lookup by name imports the entry points named after it
(``avif``, ``avif_pillow`` for codec ``avif``) and the others only if none of those provides it;
listing (``names``, ``classes``, ``spectrocodec plugins``) and sniffing an unknown file import them
all (plugin modules are cheap: they import their codec libraries inside methods). Each imported
module is registered with a pluggy PluginManager and its components collected by calling the hooks
through ``manager.hook``. A plugin whose import or hook fails is recorded as broken with the reason
and does not stop the others. Components are keyed by kind ("feature", "codec", "vocoder") and
name; an image codec name may have several backends, chosen by ``preference``.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import FormatError, PluginError
from .interfaces import Component, FeatureExtractor, ImageCodec, Vocoder

KINDS = {"feature": FeatureExtractor, "codec": ImageCodec, "vocoder": Vocoder}
_DEFAULT: "Registry | None" = None  # the installed plugins, found once by Registry.default()


@dataclass
class BrokenPlugin:
    """An entry point that could not be loaded, or a hook that raised."""

    name: str
    source: str  # "module:attr" of the entry point
    reason: str


@dataclass
class Registry:
    """All components by kind and name. ``Registry.default()`` knows the installed plugins."""

    _components: dict[str, dict[str, list[type[Component]]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    broken: list[BrokenPlugin] = field(default_factory=list)
    plugin_of: dict[type, str] = field(default_factory=dict)  # class -> entry-point name
    manager: pluggy.PluginManager = field(default_factory=lambda: _new_manager())
    pending: dict[str, Any] = field(default_factory=dict)  # entry-point name -> entry point, not imported yet
    _seen: set = field(default_factory=set)  # every class a hook returned

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "Registry":
        """The registry of every installed plugin (entry-point group ``spectrocodec``), cached.
        Finding them reads metadata only; modules are imported on use (see the module docstring)."""
        global _DEFAULT
        if _DEFAULT is None:
            registry = cls()
            registry.discover()
            _DEFAULT = registry
        return _DEFAULT

    def discover(self, group: str = hookspecs.PROJECT) -> None:
        """Note the entry points of ``group`` (names and targets from metadata; nothing imported)."""
        for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
            if not self.manager.has_plugin(ep.name):
                self.pending.setdefault(ep.name, ep)

    def load_entry_points(self, group: str = hookspecs.PROJECT) -> None:
        """Find and import every entry point of ``group`` now."""
        self.discover(group)
        self.load()

    def load(self, names: Iterable[str] | None = None) -> None:
        """Import the pending entry points ``names`` (all of them if None) and register them."""
        for name in sorted(self.pending if names is None else set(names) & set(self.pending)):
            ep = self.pending.pop(name)
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                self.broken.append(BrokenPlugin(ep.name, ep.value, _reason(exc)))
                continue
            self.register(module, ep.name, ep.value)

    def _load_named(self, name: str) -> None:
        """Import the entry points named ``name`` or ``name_*`` (its backends by convention)."""
        self.load([n for n in self.pending if n == name or n.startswith(name + "_")])

    def register(self, plugin: Any, name: str | None = None, source: str = "") -> None:
        """Register a plugin object (a module or any object with @hookimpl functions)."""
        name = name or getattr(plugin, "__name__", repr(plugin))
        try:
            self.manager.register(plugin, name)
        except Exception as exc:
            self.broken.append(BrokenPlugin(name, source or name, _reason(exc)))
            return
        try:  # a hook function that matches no hookspec (a typo) would otherwise be ignored
            self.manager.check_pending()
        except Exception as exc:
            self.manager.unregister(name=name)
            self.broken.append(BrokenPlugin(name, source or name, _reason(exc)))
            return
        hook = self.manager.hook
        found: list[tuple[str, Any]] = []
        try:  # through pluggy: the classes no plugin registered before returned come from this one
            for kind, results in (("feature", hook.spectrocodec_feature_extractors()),
                                  ("codec", hook.spectrocodec_image_codecs()),
                                  ("vocoder", hook.spectrocodec_vocoders())):
                found += [(kind, cls) for result in results for cls in (result or [])]
        except Exception as exc:  # it worked before this plugin came: this plugin's hook raised
            self.manager.unregister(name=name)
            self.broken.append(BrokenPlugin(name, source or name, _reason(exc)))
            return
        for kind, cls in found:
            if cls not in self._seen:
                self._seen.add(cls)
                self.add(kind, cls, name)

    def add(self, kind: str, cls: type[Component], plugin: str = "") -> None:
        if not (isinstance(cls, type) and issubclass(cls, KINDS[kind]) and cls.name):
            self.broken.append(BrokenPlugin(plugin, plugin, f"{cls!r} is not a named {KINDS[kind].__name__}"))
            return
        self._seen.add(cls)
        backends = self._components[kind].setdefault(cls.name, [])
        if cls not in backends:
            backends.append(cls)
            backends.sort(key=lambda c: -getattr(c, "preference", 0))
        self.plugin_of[cls] = plugin

    # -- looking up ---------------------------------------------------------------------------
    @property
    def components(self) -> dict[str, dict[str, list[type[Component]]]]:
        """{kind: {name: [classes, most preferred first]}}, every plugin imported."""
        self.load()
        return self._components

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def classes(self, kind: str) -> list[type[Component]]:
        """Every class of a kind, all backends, sorted by name then preference."""
        return [cls for name in self.names(kind) for cls in self._components[kind][name]]

    def get_class(self, kind: str, name: str, backend: str | None = None,
                  params: dict[str, Any] | None = None) -> type[Component]:
        """The class for ``name``: the preferred backend that can run with ``params``, or ``backend``."""
        if kind not in KINDS:
            raise PluginError(f"unknown plugin kind '{kind}'; kinds: {', '.join(KINDS)}")
        self._load_named(name)
        backends = self._components[kind].get(name)
        if not backends:
            self.load()  # provided by a plugin named otherwise
            backends = self._components[kind].get(name)
        if not backends:
            available = ", ".join(self.names(kind)) or "none installed"
            hint = _broken_hint(self.broken, name)
            raise PluginError(f"no {kind} named '{name}'{hint}; available: {available}")
        if backend is not None:
            chosen = [c for c in backends if getattr(c, "backend", "") == backend]
            if not chosen:
                names = ", ".join(getattr(c, "backend", "") for c in backends)
                raise PluginError(f"{kind} '{name}' has no backend '{backend}'; backends: {names}")
            backends = chosen
        reasons = []
        for cls in backends:
            reason = cls.unavailable(params or None)
            if reason is None:
                return cls
            reasons.append(reason)
        raise PluginError(f"{kind} '{name}' cannot run here: {'; '.join(reasons)}")

    def create(self, kind: str, config: str | dict[str, Any], **params: Any) -> Component:
        """An instance from a name or a config dict ``{"name": ..., "backend"?: ..., **params}``."""
        if isinstance(config, str):
            config = {"name": config}
        config = {**config, **{k: v for k, v in params.items() if v is not None}}
        name = config.pop("name", None)
        if not name:
            raise PluginError(f"a {kind} config needs a 'name'")
        backend = config.pop("backend", None)
        return self.get_class(kind, name, backend, config).from_config(config)

    def codec_for_bytes(self, data: bytes) -> type[ImageCodec]:
        """The preferred available codec class whose ``sniff`` recognises ``data``."""
        head = bytes(data[:64])
        recognised = []
        for cls in self.classes("codec"):
            try:
                ok = cls.sniff(head)
            except Exception:
                ok = False
            if ok:
                recognised.append(cls)
                if cls.unavailable() is None:
                    return cls  # type: ignore[return-value]
        if recognised:
            return self.get_class("codec", recognised[0].name)  # raises with the reason
        known = ", ".join(self.names("codec")) or "none installed"
        raise FormatError(f"not an image format any installed codec reads (codecs: {known})")

    def auto_vocoder(self, feature_name: str) -> type[Vocoder]:
        """The highest-priority available vocoder that accepts ``feature_name``."""
        candidates = [c for c in self.classes("vocoder") if feature_name in c.accepts]  # type: ignore[attr-defined]
        candidates.sort(key=lambda c: -c.priority)  # type: ignore[attr-defined]
        for cls in candidates:
            if cls.unavailable() is None:
                return cls  # type: ignore[return-value]
        raise PluginError(f"no installed vocoder can run on '{feature_name}' features here; see 'spectrocodec plugins'")


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _broken_hint(broken: list[BrokenPlugin], name: str) -> str:
    for plugin in broken:
        if plugin.name == name:
            return f" (plugin '{name}' is installed but broken: {plugin.reason})"
    return ""


def get_registry() -> Registry:
    return Registry.default()
