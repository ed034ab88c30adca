"""The exporter's family table (monitor/metrics/families.py) against the check catalogue: a family
names the checks it reads once, and only checks of the catalogue that write what it reads;
what a check feeds follows from the table (`families_for_check`), never a second list."""

from __future__ import annotations

from monitor import checks
from monitor.metrics.families import CENTRE, CHECK, DETAIL, FAMILIES, FEED, LINK, families_for_check


def test_every_camera_check_feeds_the_per_check_families():
    per_check = {f.name for f in FAMILIES if f.level == CHECK}
    assert per_check == {"cctv_probe_success", "cctv_probe_duration_seconds", "cctv_probe_reason",
                         "cctv_probes_total", "cctv_probe_failures_total"}
    for name in checks.CHECKS:
        assert per_check <= {f.name for f in families_for_check(name)}, name


def test_families_read_catalogue_checks_that_write_what_they_read():
    for fam in FAMILIES:
        for name in (*fam.checks, *fam.reads):
            assert name in checks.CHECKS, (fam.name, name)
        if fam.level == DETAIL:
            for name in fam.checks:
                assert fam.key in checks.CHECKS[name].detail, (fam.name, name, fam.key)


def test_clock_and_certificate_families_follow_the_catalogue():
    from monitor.metrics.families import BY_NAME
    from monitor.model import Detail

    clock = BY_NAME["cctv_camera_clock_offset_seconds"].reads
    assert clock == checks.CLOCK_SOURCES
    # the precision order of today's sources (a new check may add one, not reorder them)
    assert [c for c in clock if c in {"onvif", "rtsp", "http", "stream"}] == [
        "onvif", "rtsp", "http", "stream"]
    cert = set(BY_NAME["cctv_camera_tls_cert_expiry_seconds"].reads)
    assert cert == {name for name, c in checks.CHECKS.items() if Detail.TLS_CERT_EXPIRY in c.detail}
    assert cert >= {"rtsp", "stream", "http"}


def test_docs_metrics_md_is_generated_from_the_table():
    from pathlib import Path

    from monitor.commands.metrics_doc import markdown

    committed = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    assert markdown() == committed, (
        "docs/metrics.md drifted: python -m monitor.commands.metrics_doc > docs/metrics.md")


def test_docs_metrics_md_names_every_exported_family():
    import asyncio

    from monitor.metrics.exporter import Exporter
    from monitor.commands.metrics_doc import markdown
    from monitor.state import State
    from tests.factories import make_inventory

    text = asyncio.run(Exporter(State(make_inventory(2))).render()).decode()
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    doc = markdown()
    for name in exported:
        base = name.removesuffix("_created")  # prometheus_client's, named in the doc
        assert f"`{name}`" in doc or f"`{base}" in doc, name


def test_feed_and_link_families_are_their_levels():
    assert {f.name for f in families_for_check("feed:police-hq")} == {
        f.name for f in FAMILIES if f.level == FEED} == {"cctv_feed_up", "cctv_feed_state"}
    assert {f.name for f in families_for_check(checks.LINK.name)} == {
        f.name for f in FAMILIES if f.level in (LINK, CENTRE)}
    assert "cctv_centre_up" in {f.name for f in families_for_check("link")}
