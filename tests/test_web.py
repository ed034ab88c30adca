"""The web endpoints: each route, query validation, 404/405, no tracebacks, reload good and
bad (with the real config loader), and no secret in any output."""

from __future__ import annotations

import gzip
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics.exporter import Exporter
from monitor.model import Reason, Result
from monitor.state import State
from monitor.web.app import make_app
from tests.factories import CANARY, fail, link, make_inventory, ok, write_config


def populated() -> tuple[State, Exporter]:
    st = State(make_inventory(6, checks=("rtsp", "http")))
    ex = Exporter(st)
    for i, cid in enumerate(st.cameras):
        st.record_result(cid, "rtsp", ok() if i % 3 else fail(Reason.AUTH_FAILED, "401"))
        st.record_result(cid, "http", ok())
        st.record_feed(cid, "police-hq", ok())
    st.record_link("police-hq", "primary", link("up"))
    return st, ex


async def client_for(app) -> TestClient:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def web():
    st, ex = populated()

    async def broken_reload():
        raise RuntimeError(f"boom with a secret {CANARY}")

    client = await client_for(make_app(st, ex, broken_reload))
    try:
        yield st, client
    finally:
        await client.close()


async def test_healthz_and_readyz(web):
    st, client = web
    r = await client.get("/healthz")
    assert r.status == 200 and await r.text() == "ok\n"
    assert r.headers["Cache-Control"] == "no-store"
    r = await client.get("/readyz")
    assert r.status == 503  # the backup link has no verdict yet
    st.record_link("police-hq", "backup", link("down"))
    r = await client.get("/readyz")
    assert r.status == 200


async def test_prometheus_style_health_and_readiness(web):
    """/-/healthy and /-/ready answer exactly as /healthz and /readyz, GET and HEAD."""
    st, client = web
    for path, twin in (("/-/healthy", "/healthz"), ("/-/ready", "/readyz")):
        r, t = await client.get(path), await client.get(twin)
        assert (r.status, await r.text()) == (t.status, await t.text())
        assert r.headers["Cache-Control"] == "no-store"
        assert (await client.head(path)).status == r.status
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 503  # the backup link has no verdict yet
    st.record_link("police-hq", "backup", link("down"))
    r = await client.get("/-/ready")
    assert r.status == 200 and await r.text() == "ready\n"
    assert (await client.post("/-/ready")).status == 405


async def test_metrics_plain_and_gzip(web):
    st, client = web
    r = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in r.headers
    text = await r.text()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(fams["cctv_camera_up"].samples) == 6
    r = await client.get("/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert r.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(await r.read()).decode()
    assert "cctv_camera_up" in body


async def test_status_page_is_cached_per_generation(web):
    st, client = web
    r = await client.get("/status")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    first = await r.text()
    assert "JKT-0000" in first
    assert first == await (await client.get("/status")).text()
    st.record_result("JKT-0001", "rtsp", fail(Reason.REFUSED))
    assert "JKT-0001" in await (await client.get("/status")).text()


async def test_api_cameras_and_filters(web):
    st, client = web
    r = await client.get("/api/cameras")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    cams = await r.json()
    assert [c["id"] for c in cams] == [f"JKT-{i:04d}" for i in range(6)]
    c0 = cams[0]
    assert set(c0) == {"id", "name", "provider", "district", "zone", "up", "reason", "failed_check",
                       "cause", "since", "checks", "feeds", "clock_offset", "clock_source",
                       "evidence"}
    assert c0["up"] is False and c0["reason"] == "auth_failed" and c0["failed_check"] == "rtsp"
    assert c0["cause"] == "camera" and cams[1]["cause"] == "ok"
    assert c0["checks"]["http"]["reason"] == "ok"
    assert c0["feeds"]["police-hq"]["up"] is True
    down = await (await client.get("/api/cameras?down=1")).json()
    assert [c["id"] for c in down] == ["JKT-0000", "JKT-0003"]
    up = await (await client.get("/api/cameras", params={"down": "false"})).json()
    assert len(up) == 4
    prov = await (await client.get("/api/cameras", params={"provider": "provider-a", "zone": "ring-1"})).json()
    assert [c["id"] for c in prov] == ["JKT-0000", "JKT-0004"]
    assert await (await client.get("/api/cameras?district=Nowhere")).json() == []
    for query, words in (("down=maybe", "'down' must be"), ("color=red", "unknown query parameter 'color'"),
                         ("zone=a&zone=b", "more than once")):
        r = await client.get(f"/api/cameras?{query}")
        assert r.status == 400, query
        assert words in (await r.json())["error"]


async def test_unknown_paths_wrong_methods_and_errors(web, caplog):
    st, client = web
    assert (await client.get("/nope")).status == 404
    assert (await client.post("/metrics")).status == 405
    assert (await client.get("/-/reload")).status == 405
    caplog.set_level(logging.ERROR)
    r = await client.post("/-/reload")
    assert r.status == 500
    text = await r.text()
    assert "Traceback" not in text and "boom" not in text and CANARY not in text


async def test_no_secret_in_any_output(web, caplog):
    caplog.set_level(logging.DEBUG)
    st, client = web
    st.record_result("JKT-0002", "rtsp", Result(Reason.REFUSED, message="connection refused"))
    for path in ("/metrics", "/api/cameras", "/status", "/healthz", "/readyz"):
        body = await (await client.get(path)).text()
        assert CANARY not in body, path
    assert all(CANARY not in r.getMessage() for r in caplog.records)


async def test_reload_ok_and_bad_keeps_the_old_config(tmp_path, caplog):
    from monitor.config import load
    from monitor.runtime.daemon import Daemon

    caplog.set_level(logging.DEBUG)
    cfg = tmp_path / "monitor.yml"
    write_config(cfg, 2)
    d = Daemon(str(cfg), load(str(cfg)))
    client = await client_for(make_app(d.state, d.exporter, d.reload))
    try:
        def gauge(text: str) -> float:
            fams = {f.name: f for f in text_string_to_metric_families(text)}
            return fams["cctv_monitor_config_last_reload_successful"].samples[0].value

        write_config(cfg, 3)
        r = await client.post("/-/reload")
        assert r.status == 200
        summary = await r.json()
        assert summary == {"status": "ok", "cameras": 3, "added": 1, "removed": 0, "changed": 0}
        assert len(d.state.cameras) == 3

        # an unknown key right next to a password: the error names place, not the secret
        write_config(cfg, 1, extra="colour: red\n")
        r = await client.post("/-/reload")
        assert r.status == 400
        body = await r.json()
        assert body["status"] == "error" and body["errors"]
        assert any("colour" in e and "monitor.yml" in e for e in body["errors"]), body
        assert len(d.state.cameras) == 3  # the old config stays
        metrics = await (await client.get("/metrics")).text()
        assert gauge(metrics) == 0
        assert CANARY not in metrics and CANARY not in str(body)

        # removing a third of the fleet is refused unless forced
        write_config(cfg, 2)
        r = await client.post("/-/reload")
        assert r.status == 400 and "max_removed_ratio" in str(await r.json())
        assert len(d.state.cameras) == 3
        r = await client.post("/-/reload?force=1")
        assert r.status == 200 and (await r.json())["removed"] == 1
        assert gauge(await (await client.get("/metrics")).text()) == 1
        for path in ("/api/cameras", "/status"):
            assert CANARY not in await (await client.get(path)).text()
        assert all(CANARY not in r.getMessage() for r in caplog.records)
    finally:
        await client.close()
