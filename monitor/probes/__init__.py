"""The probers: one module per probe, one signature, one map (blackbox_exporter's `Probers`).

`PROBERS` maps a prober name to its probe function.  Each value is a `Lazy` wrapper around
an explicit loader function (no module names in strings): the module is imported on the
first call, so that `cctv-monitor check` does not pay for TLS, Pillow and the RTSP client,
and so that one broken probe module cannot stop the others from loading.  What a *check*
is (which prober, which camera field, which post-step) is declared in `monitor.checks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .base import ProbeFn

_BASE = ("ProbeError", "ProbeFn", "classify_exception", "run_probe")


def __getattr__(name: str) -> Any:
    # the shared probe parts (asyncio, ssl) load on first use, not with the catalogue
    if name in _BASE:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Lazy:
    """A function imported on first use: `load()` returns the real function, once."""

    __slots__ = ("_load", "_fn", "name")

    def __init__(self, name: str, load: Callable[[], Callable[..., Any]]) -> None:
        self.name = name
        self._load = load
        self._fn: Callable[..., Any] | None = None

    def resolve(self) -> Callable[..., Any]:
        fn = self._fn
        if fn is None:
            fn = self._fn = self._load()
        return fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self.name}>"


def _tcp() -> "ProbeFn":
    from . import tcp

    return tcp.probe


def _rtsp() -> "ProbeFn":
    from . import rtsp

    return rtsp.probe


def _stream() -> "ProbeFn":
    from . import stream

    return stream.probe


def _http() -> "ProbeFn":
    from . import http

    return http.probe


def _icmp() -> "ProbeFn":
    from . import icmp

    return icmp.probe


def _link() -> Callable[..., Any]:
    from . import link

    return link.probe_link


def _snapshot_step() -> Callable[..., Any]:
    from . import snapshot

    return snapshot.post_step


def _onvif() -> "ProbeFn":
    from . import onvif

    return onvif.probe


def _picture_step() -> Callable[..., Any]:
    from . import picture

    return picture.post_step


TCP = Lazy("tcp", _tcp)
RTSP = Lazy("rtsp", _rtsp)
STREAM = Lazy("stream", _stream)
HTTP = Lazy("http", _http)
ICMP = Lazy("icmp", _icmp)
ONVIF = Lazy("onvif", _onvif)
#: ``probe_link(link, settings) -> LinkResult``: a whole command-centre link round.
LINK = Lazy("link", _link)
#: The snapshot check's post-step on the http check's answer (monitor.probes.snapshot).
SNAPSHOT_STEP = Lazy("snapshot", _snapshot_step)
#: The picture check's post-step on the stream check's keyframes (monitor.probes.picture).
PICTURE_STEP = Lazy("picture", _picture_step)

#: Prober name -> probe function (``async (Endpoint, ProbeContext) -> Result``).
PROBERS: dict[str, Lazy] = {p.name: p for p in (TCP, RTSP, STREAM, HTTP, ICMP, ONVIF)}


def get_probe(name: str) -> "ProbeFn":
    """The real probe function of a prober, or of a check name ("feed" is an rtsp probe)."""
    if name == "feed" or name.startswith("feed:"):
        name = "rtsp"
    try:
        lazy = PROBERS[name]
    except KeyError:
        raise KeyError(f"no probe for check {name!r}") from None
    return lazy.resolve()


__all__ = ["LINK", "Lazy", "PICTURE_STEP", "PROBERS", "ProbeError", "ProbeFn", "SNAPSHOT_STEP",
           "classify_exception", "get_probe", "run_probe"]
