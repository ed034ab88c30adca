"""The exporter's family table (monitor/families.py) against the check catalogue: what a
check declares it feeds is what the table says it reads, and the reverse."""

from __future__ import annotations

from monitor import checks
from monitor.families import CENTRE, CHECK, DETAIL, FAMILIES, FEED, LINK, families_for_check


def test_every_camera_check_feeds_the_families_it_declares():
    for name, check in checks.CHECKS.items():
        got = {f.name for f in families_for_check(name)}
        assert got == {*checks.CHECK_FAMILIES, *check.families}, name


def test_every_check_has_its_detail_keys_declared():
    from monitor.model import DETAIL_KEYS

    assert set(DETAIL_KEYS) == {*checks.CHECKS, checks.FEED.name}


def test_per_check_families_are_the_catalogues():
    assert {f.name for f in FAMILIES if f.level == CHECK} == set(checks.CHECK_FAMILIES)


def test_detail_families_read_catalogue_checks():
    for fam in FAMILIES:
        if fam.level == DETAIL:
            assert set(fam.checks) <= set(checks.CHECKS), fam.name


def test_docs_metrics_md_is_generated_from_the_table():
    from pathlib import Path

    from monitor.metrics_doc import markdown

    committed = (Path(__file__).resolve().parent.parent / "docs" / "metrics.md").read_text()
    assert markdown() == committed, (
        "docs/metrics.md drifted: python -m monitor.metrics_doc > docs/metrics.md")


def test_docs_metrics_md_names_every_exported_family():
    import asyncio

    from monitor.exporter import Exporter
    from monitor.metrics_doc import markdown
    from monitor.state import State
    from tests.factories import make_inventory

    text = asyncio.run(Exporter(State(make_inventory(2))).render()).decode()
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    doc = markdown()
    for name in exported:
        base = name.removesuffix("_created")  # prometheus_client's, named in the doc
        assert f"`{name}`" in doc or f"`{base}" in doc, name


def test_feed_and_link_families_are_the_catalogues():
    assert {f.name for f in FAMILIES if f.level == FEED} == set(checks.FEED.families)
    assert {f.name for f in FAMILIES if f.level in (LINK, CENTRE)} == set(checks.LINK.families)
