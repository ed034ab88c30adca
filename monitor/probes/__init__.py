"""One module per check, one signature, one registry (the blackbox_exporter layout).

Modules are imported lazily so that `cctv-monitor check` does not pay for TLS, Pillow and
the RTSP client, and so that one broken probe module cannot stop the others from loading.
"""

from __future__ import annotations

import importlib

from .base import ProbeError, ProbeFn, classify_exception, run_probe

_MODULES = {"tcp": "tcp", "rtsp": "rtsp", "feed": "rtsp", "stream": "stream", "http": "http",
            "icmp": "icmp"}


def get_probe(check: str) -> ProbeFn:
    try:
        module = _MODULES[check]
    except KeyError:
        raise KeyError(f"no probe for check {check!r}") from None
    return importlib.import_module(f"{__name__}.{module}").probe


__all__ = ["ProbeError", "ProbeFn", "classify_exception", "get_probe", "run_probe"]
