"""The probers: one module per probe, one signature (blackbox_exporter's `Probers`).

A prober is named by its module: ``Lazy("rtsp")`` is `monitor.probes.rtsp.probe`, imported
on the first call, so that `cctv-monitor check` does not pay for TLS, Pillow and the RTSP
client, and so that one broken probe module cannot stop the others from loading.  What a
*check* is (which prober, which camera field, which post-step) is declared in
`monitor.checks`, the only place that names a prober: adding a check is its entry there
plus its module here, nothing to register in this file.
"""

from __future__ import annotations

import importlib
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
    """The function `attr` of the probe module `module` (``monitor.probes.<module>``),
    imported on first use: `resolve()` returns the real function, once."""

    __slots__ = ("name", "attr", "_fn")

    def __init__(self, module: str, attr: str = "probe") -> None:
        if not module.isidentifier():
            raise ValueError(f"not a probe module name: {module!r}")
        self.name = module
        self.attr = attr
        self._fn: Callable[..., Any] | None = None

    def resolve(self) -> Callable[..., Any]:
        fn = self._fn
        if fn is None:
            module = importlib.import_module(f"{__name__}.{self.name}")
            fn = self._fn = getattr(module, self.attr)
        return fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy {self.name}.{self.attr}>"


def get_probe(name: str) -> "ProbeFn":
    """The probe function of the probe module `name` ("tcp", "rtsp", ...).  A scheduler key
    such as ``feed:<integration>`` is the catalogue's to resolve (`monitor.checks.check_for`)."""
    try:
        return Lazy(name).resolve()
    except (ValueError, ModuleNotFoundError, AttributeError) as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name != f"{__name__}.{name}":
            raise  # the probe module exists but something it imports does not
        raise KeyError(f"no probe module {name!r}") from None


__all__ = ["Lazy", "ProbeError", "ProbeFn", "classify_exception", "get_probe", "run_probe"]
