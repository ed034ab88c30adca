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


def test_feed_and_link_families_are_the_catalogues():
    assert {f.name for f in FAMILIES if f.level == FEED} == set(checks.FEED.families)
    assert {f.name for f in FAMILIES if f.level in (LINK, CENTRE)} == set(checks.LINK.families)
