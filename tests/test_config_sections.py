"""The configuration's time, history, milestone, claim and reload sections, and when a
maintenance window is on (`monitor.maintenance.windows`)."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import ConfigError, load
from monitor.maintenance.windows import in_maintenance, is_on, window_intervals
from monitor.model import (
    Camera,
    HistorySettings,
    MaintenanceWindow,
    Milestone,
    ReloadSettings,
)

CANARY = "CANARY-s3cret"
JKT = ZoneInfo("Asia/Jakarta")  # UTC+7 all year: no DST


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str) -> str:
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return name


def issues_of(path: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env=env or {})
    return [str(i) for i in caught.value.issues]


FULL = """
    timezone: Asia/Makassar
    monitor:
      reload: {max_removed_ratio: 0.25}
    history:
      dsn: postgresql://cctv:${PGPASSWORD}@db.example:5432/cctv
      retention: 400d
    providers:
      - name: pt-a
        target_cameras: 100
        milestones:
          - {by: 2016-06-30, cameras: 20}
          - {by: 2016-12-31, cameras: 100}
    cameras:
      - {id: A, provider: pt-a, zone: ring-1, rtsp: 'rtsp://10.0.0.1/x',
         claimed_installed: 2016-05-02}
      - {id: B, provider: pt-a, district: Menteng, uplink: sw-1, rtsp: 'rtsp://10.0.0.2/x'}
    maintenance:
      - name: upgrade
        from: 2026-07-01T22:00:00+07:00
        to: 2026-07-02T02:00+07:00
        cameras: [A]
      - name: nightly
        weekdays: [Sat, sun]
        between: 23:30-01:00
        providers: [pt-a]
        districts: [Menteng]
"""


def test_every_new_section_is_read() -> None:
    inventory = load(write("c.yml", FULL), env={"PGPASSWORD": CANARY})
    assert inventory.timezone == "Asia/Makassar"
    assert inventory.settings.reload == ReloadSettings(max_removed_ratio=0.25)
    assert inventory.history == HistorySettings(
        dsn=f"postgresql://cctv:{CANARY}@db.example:5432/cctv", retention=400 * 86400)
    assert inventory.providers[0].milestones == (
        Milestone(dt.date(2016, 6, 30), 20), Milestone(dt.date(2016, 12, 31), 100))
    a, b = inventory.cameras
    assert a.claimed_installed == dt.date(2016, 5, 2) and b.claimed_installed is None
    upgrade, nightly = inventory.maintenance
    assert upgrade == MaintenanceWindow(
        name="upgrade", start=dt.datetime(2026, 7, 1, 22, tzinfo=JKT),
        end=dt.datetime(2026, 7, 2, 2, tzinfo=JKT), cameras=("A",))
    assert (nightly.weekdays, nightly.between) == ((5, 6), (23 * 60 + 30, 60))
    assert (nightly.providers, nightly.districts) == (("pt-a",), ("Menteng",))
    assert [w.covers(a) for w in inventory.maintenance] == [True, False]
    assert [w.covers(b) for w in inventory.maintenance] == [False, True]
    assert CANARY not in repr(inventory)


def test_defaults() -> None:
    inventory = load(write("c.yml", "cameras: []\n"), env={})
    assert inventory.timezone == "Asia/Jakarta"
    assert inventory.history == HistorySettings(path=None, dsn=None, retention=0.0)
    assert inventory.settings.reload.max_removed_ratio == 0.1
    assert inventory.maintenance == ()


def test_history_path_is_relative_to_its_file() -> None:
    write("main.yml", "include: [conf.d/history.yml]\n")
    write("conf.d/history.yml", "history: {path: ../var/ledger.db}\n")
    assert load("main.yml", env={}).history.path == "var/ledger.db"
    write("main.yml", "history:\n  dsn: host=db user=cctv password='se cret' dbname=cctv\n")
    assert load("main.yml", env={}).history.dsn.startswith("host=db ")


def test_a_dsn_password_is_never_shown() -> None:
    write("c.yml", f"""
        history:
          dsn: postgresql://cctv:{CANARY}@db:99999/cctv
        cameras:
          - {{id: A, rtsp: 'rtsp://10.0.0.1/x', name: 'x {CANARY}'}}
    """)
    issues = issues_of("c.yml")
    assert issues[0] == "c.yml:2:8: history.dsn: invalid DSN: Port out of range 0-65535"
    write("c.yml", f"""
        history:
          dsn: "host=db password={CANARY} port=x"
          path: {CANARY}.db
    """)
    assert all(CANARY not in issue for issue in issues_of("c.yml"))


def test_timezone_and_history_are_set_in_one_file_only() -> None:
    write("a.yml", "timezone: UTC\nhistory: {path: a.db}\ninclude: [b.yml]\n")
    write("b.yml", "timezone: Asia/Jakarta\nhistory: {path: b.db}\n")
    assert issues_of("a.yml") == [
        "b.yml:1:1: timezone: timezone: is already set in a.yml:1; set it in one file only",
        "b.yml:2:1: history: history: is already set in a.yml:2; set it in one file only",
    ]


def test_windows_from_every_file_and_scope_by_camera_id_of_another_file() -> None:
    write("a.yml", """
        include: [b.yml]
        maintenance:
          - {name: one, weekdays: [mon], between: '01:00-02:00', cameras: [B1]}
    """)
    write("b.yml", """
        cameras: [{id: B1, rtsp: 'rtsp://10.0.0.1/x'}]
        maintenance:
          - {name: two, weekdays: [tue], between: '00:00-24:00', zones: [ring-1]}
    """)
    windows = load("a.yml", env={}).maintenance
    assert [(w.name, w.between) for w in windows] == [("one", (60, 120)), ("two", (0, 1440))]


def test_a_window_naming_a_camera_with_an_error_is_not_also_unknown() -> None:
    write("c.yml", """
        cameras: [{id: A, rtsp: 'ftp://10.0.0.1/x'}]
        maintenance: [{name: w, weekdays: [mon], between: '01:00-02:00', cameras: [A]}]
    """)
    assert issues_of("c.yml") == [
        "c.yml:1:25: cameras[0].rtsp: ftp://10.0.0.1/x: the URL must start with rtsp:// or "
        "rtsps://"]


# --------------------------------------------------------------------------- when


CAM = Camera(id="A", provider="pt-a", district="Menteng", zone="ring-1", uplink="sw-1")
ONE_OFF = MaintenanceWindow(name="upgrade", start=dt.datetime(2026, 7, 1, 22, tzinfo=JKT),
                            end=dt.datetime(2026, 7, 2, 2, tzinfo=JKT), cameras=("A",))
# Saturday 23:30 to Sunday 01:00, and Sunday 23:30 to Monday 01:00, Jakarta time
NIGHTLY = MaintenanceWindow(name="nightly", weekdays=(5, 6), between=(23 * 60 + 30, 60),
                            providers=("pt-a",), zones=("ring-1", "ring-2"))


def jkt(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=JKT)


def test_scope_needs_every_key_given_and_any_value_within_one() -> None:
    assert NIGHTLY.covers(CAM)
    assert not NIGHTLY.covers(Camera(id="A", provider="pt-a", zone="ring-3"))
    assert not NIGHTLY.covers(Camera(id="A", provider="pt-b", zone="ring-1"))
    assert MaintenanceWindow(name="w", uplinks=("sw-1",), districts=("Gambir", "Menteng"),
                             weekdays=(0,), between=(0, 60)).covers(CAM)


def test_one_off_window_start_included_end_excluded() -> None:
    assert in_maintenance(CAM, [ONE_OFF], jkt(2026, 7, 1, 21, 59, 59), "Asia/Jakarta") is None
    assert in_maintenance(CAM, [ONE_OFF], jkt(2026, 7, 1, 22), "Asia/Jakarta") == "upgrade"
    # the same instant given in UTC, and as a Unix timestamp
    utc = dt.datetime(2026, 7, 1, 18, 30, tzinfo=dt.timezone.utc)
    assert in_maintenance(CAM, [ONE_OFF], utc, "Asia/Jakarta") == "upgrade"
    assert in_maintenance(CAM, [ONE_OFF], utc.timestamp(), JKT) == "upgrade"
    assert in_maintenance(CAM, [ONE_OFF], jkt(2026, 7, 2, 2), "Asia/Jakarta") is None
    other = Camera(id="B", provider="pt-a")
    assert in_maintenance(other, [ONE_OFF], jkt(2026, 7, 1, 23), "Asia/Jakarta") is None


def test_recurring_window_across_midnight() -> None:
    # 2026-07-04 is a Saturday
    assert jkt(2026, 7, 4).weekday() == 5
    on = [jkt(2026, 7, 4, 23, 30), jkt(2026, 7, 5, 0, 59, 59), jkt(2026, 7, 5, 23, 45),
          jkt(2026, 7, 6, 0, 30)]
    off = [jkt(2026, 7, 4, 23, 29, 59), jkt(2026, 7, 5, 1, 0), jkt(2026, 7, 4, 0, 30),
           jkt(2026, 7, 6, 1, 0), jkt(2026, 7, 6, 23, 45)]
    assert [in_maintenance(CAM, [ONE_OFF, NIGHTLY], t, "Asia/Jakarta") for t in on] == \
        ["nightly"] * 4
    assert [is_on(NIGHTLY, t, "Asia/Jakarta") for t in off] == [False] * 5
    # the window is local time: in UTC the Saturday window starts Saturday 16:30
    assert is_on(NIGHTLY, dt.datetime(2026, 7, 4, 16, 30, tzinfo=dt.timezone.utc), JKT)
    with pytest.raises(ValueError):
        is_on(NIGHTLY, dt.datetime(2026, 7, 4, 23, 45), JKT)


def test_window_intervals_cut_exactly_at_the_period() -> None:
    # July 2026 in Jakarta: Saturdays 4, 11, 18, 25 and Sundays 5, 12, 19, 26
    spans = window_intervals(NIGHTLY, jkt(2026, 7, 1), jkt(2026, 8, 1), "Asia/Jakarta")
    assert len(spans) == 8
    assert spans[0] == (jkt(2026, 7, 4, 23, 30), jkt(2026, 7, 5, 1))
    assert spans[1] == (jkt(2026, 7, 5, 23, 30), jkt(2026, 7, 6, 1))
    assert all(e - s == dt.timedelta(minutes=90) for s, e in spans)
    assert all(s.utcoffset() == dt.timedelta(hours=7) for s, _ in spans)
    # a period that ends inside a window cuts it; one that starts inside one too
    cut = window_intervals(NIGHTLY, jkt(2026, 7, 5, 0, 15), jkt(2026, 7, 5, 23, 45), JKT)
    assert cut == [(jkt(2026, 7, 5, 0, 15), jkt(2026, 7, 5, 1)),
                   (jkt(2026, 7, 5, 23, 30), jkt(2026, 7, 5, 23, 45))]
    # a Sunday-night window crossing into the next month is cut at the month's end
    august = window_intervals(NIGHTLY, jkt(2026, 8, 1), jkt(2026, 9, 1), JKT)
    assert august[-1] == (jkt(2026, 8, 30, 23, 30), jkt(2026, 8, 31, 1))
    may = window_intervals(NIGHTLY, jkt(2026, 5, 1), jkt(2026, 6, 1), JKT)
    assert may[-1] == (jkt(2026, 5, 31, 23, 30), jkt(2026, 6, 1))
    assert window_intervals(ONE_OFF, jkt(2026, 7, 2), jkt(2026, 8, 1), JKT) == [
        (jkt(2026, 7, 2), jkt(2026, 7, 2, 2))]
    assert window_intervals(ONE_OFF, jkt(2026, 8, 1), jkt(2026, 9, 1), JKT) == []


def test_whole_days_merge_into_one_span() -> None:
    weekend = MaintenanceWindow(name="w", weekdays=(5, 6), between=(0, 1440), zones=("z",))
    spans = window_intervals(weekend, jkt(2026, 7, 1), jkt(2026, 7, 8), "Asia/Jakarta")
    assert spans == [(jkt(2026, 7, 4), jkt(2026, 7, 6))]
    total = sum((e - s for s, e in window_intervals(weekend, jkt(2026, 7, 1), jkt(2026, 8, 1),
                                                      JKT)), dt.timedelta())
    assert total == dt.timedelta(days=8)  # four weekends in July 2026


def test_report_document_prefix_and_signatories() -> None:
    from monitor.model import ReportSettings, Signatory

    write("a.yml", """
        report:
          document_prefix: DISKOMINFO/CCTV
          signatories:
            - {name: Budi Santoso, role: Kepala Bidang}
            - {name: Sari Wulandari, role: Pengawas Kontrak}
    """)
    assert load("a.yml", env={}).report == ReportSettings("DISKOMINFO/CCTV", (
        Signatory("Budi Santoso", "Kepala Bidang"), Signatory("Sari Wulandari", "Pengawas Kontrak")))
    assert load(write("none.yml", "cameras: []\n"), env={}).report == ReportSettings()
    write("bad.yml", """
        report:
          document_prefx: X
          signatories:
            - {name: Sari}
            - {name: Budi, role: Kepala, title: Dr}
    """)
    assert issues_of("bad.yml") == [
        "bad.yml:2:3: report.document_prefx: unknown key 'document_prefx' (did you mean 'document_prefix'?)",
        "bad.yml:4:7: report.signatories[0]: missing required key 'role'",
        "bad.yml:5:34: report.signatories[1].title: unknown key 'title'",
    ]
