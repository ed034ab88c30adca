"""What a hostile or broken configuration cannot do to the loader: password files that
never end, block or balloon, label values of megabytes; and what the loader records about
its include patterns for the reload guard."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from monitor.config import ConfigError, keys, load, secretfile

CANARY = "CANARY-s3cret"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def issues_of(path: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    return [str(i) for i in caught.value.issues]


def camera_with_password_file(name: str) -> str:
    Path("c.yml").write_text(
        "cameras:\n  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    username: u\n"
        f"    password_file: '{name}'\n", encoding="utf-8")
    return "c.yml"


def password_file_issue(name: str) -> str:
    [issue] = issues_of(camera_with_password_file(name))
    prefix = "c.yml:5:20: cameras[0].password_file: "
    assert issue.startswith(prefix)
    return issue[len(prefix):]


# --------------------------------------------------------------------------- password_file


@pytest.mark.timeout(60)
def test_dev_zero_is_refused_without_reading_it() -> None:
    assert password_file_issue("/dev/zero") == (
        "password_file '/dev/zero' is in /dev: a kernel or device file, not a password file")


@pytest.mark.timeout(60)
def test_kernel_files_are_refused_directly_and_through_a_link(caplog) -> None:
    """/proc/self/environ is a regular file: it used to be sent as the camera password."""
    assert password_file_issue("/proc/self/environ") == (
        "password_file '/proc/self/environ' is in /proc: a kernel or device file, not a "
        "password file")
    os.symlink("/proc/self/environ", "env.pw")
    assert password_file_issue("env.pw") == (
        f"password_file 'env.pw' is in /proc (a link to /proc/{os.getpid()}/environ): a kernel "
        "or device file, not a password file")
    os.symlink("/sys/kernel/mm/transparent_hugepage/enabled", "sys.pw")
    assert "is in /sys (a link to" in password_file_issue("sys.pw")


def test_a_world_readable_password_file_is_a_warning(caplog) -> None:
    Path("open.pw").write_text(CANARY, encoding="utf-8")
    os.chmod("open.pw", 0o644)
    Path("closed.pw").write_text(CANARY, encoding="utf-8")
    os.chmod("closed.pw", 0o600)
    with caplog.at_level("WARNING", logger="cctv.config"):
        load(camera_with_password_file("closed.pw"), env={})
        assert not caplog.records
        load(camera_with_password_file("open.pw"), env={})
        load(camera_with_password_file("open.pw"), env={})  # once per file, not per load
    [record] = caplog.records
    assert "open.pw is readable by every user of this host (mode 644)" in record.getMessage()
    assert CANARY not in record.getMessage()


@pytest.mark.timeout(60)
def test_a_fifo_is_refused_without_waiting_for_a_writer() -> None:
    os.mkfifo("pw.fifo")
    assert password_file_issue("pw.fifo") == (
        "password_file 'pw.fifo' is not a regular file (a FIFO)")


@pytest.mark.timeout(60)
def test_a_sparse_2gb_file_is_refused_by_its_size() -> None:
    with open("big.pw", "wb") as fh:
        fh.truncate(2 * 1024**3)
    assert password_file_issue("big.pw") == (
        "password_file 'big.pw' is larger than 4096 bytes (2147483648 bytes)")


def test_a_directory_is_refused() -> None:
    Path("secrets").mkdir()
    assert password_file_issue("secrets") == (
        "password_file 'secrets' is not a regular file (a directory)")


def test_the_size_limit_and_the_content_never_shown() -> None:
    Path("ok.pw").write_text("p" * secretfile.MAX_BYTES, encoding="utf-8")
    inventory = load(camera_with_password_file("ok.pw"), env={})
    assert inventory.cameras[0].rtsp.credentials.password == "p" * secretfile.MAX_BYTES

    Path("long.pw").write_text(CANARY * 400, encoding="utf-8")
    issue = password_file_issue("long.pw")
    assert issue == "password_file 'long.pw' is larger than 4096 bytes (5200 bytes)"


def test_a_read_that_never_returns_is_abandoned(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file on a mount that stopped answering: the read blocks in the kernel.  Simulated
    by a reader that blocks until the test ends; the loader stops waiting and says so."""
    release = threading.Event()

    def stuck(path: str, limit: int) -> bytes:
        release.wait(60)
        return b"never used"

    monkeypatch.setattr(secretfile, "_read", stuck)
    monkeypatch.setattr(secretfile, "TIMEOUT", 0.2)
    Path("slow.pw").write_text("pw\n", encoding="utf-8")
    started = time.monotonic()
    try:
        assert password_file_issue("slow.pw") == (
            "password_file 'slow.pw' could not be read within 0.2s")
    finally:
        release.set()
    assert time.monotonic() - started < 30  # a bound on the wait, not a measurement


def test_unreadable_password_file_keeps_its_message() -> None:
    Path("locked.pw").write_text("pw\n", encoding="utf-8")
    os.chmod("locked.pw", 0)
    if os.access("locked.pw", os.R_OK):  # root reads anything: take a missing file instead
        os.remove("locked.pw")
        expected = "cannot read password_file 'locked.pw': No such file or directory"
    else:
        expected = "cannot read password_file 'locked.pw': Permission denied"
    assert password_file_issue("locked.pw") == expected


# --------------------------------------------------------------------------- label values


def test_a_50_mb_camera_name_is_a_clear_error() -> None:
    name = "x" * (50 * 1024 * 1024)
    with open("c.yml", "w", encoding="utf-8") as fh:
        fh.write("cameras:\n  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    name: ")
        fh.write(name)
        fh.write("\n")
    del name
    assert issues_of("c.yml") == [
        f"c.yml:4:11: cameras[0].name: must be at most {keys.MAX_LABEL} characters, "
        f"got {50 * 1024 * 1024}"]


@pytest.mark.parametrize("field,limit", [
    ("id", keys.MAX_ID), ("district", keys.MAX_LABEL), ("zone", keys.MAX_LABEL),
    ("uplink", keys.MAX_LABEL), ("provider", keys.MAX_LABEL),
])
def test_label_values_over_their_limit(field: str, limit: int) -> None:
    for value in ("a" * limit, "b" * (limit + 1)):
        cid, extra = (value, "name: n") if field == "id" else ("A", f"{field}: '{value}'")
        Path("c.yml").write_text(
            f"providers: [{{name: pt-a}}, {{name: '{'a' * limit}'}}]\n"
            f"cameras:\n  - id: '{cid}'\n    rtsp: rtsp://10.0.0.1/x\n    {extra}\n",
            encoding="utf-8")
        if len(value) == limit:
            assert len(load("c.yml", env={}).cameras) == 1
            continue
        place = "c.yml:3:9: cameras[0].id" if field == "id" else \
            f"c.yml:5:{len(field) + 7}: cameras[0].{field}"
        assert issues_of("c.yml") == [
            f"{place}: must be at most {limit} characters, got {limit + 1}"]


def test_names_of_providers_centres_links_and_integrations_are_limited() -> None:
    long = "n" * (keys.MAX_LABEL + 1)
    Path("c.yml").write_text(
        f"providers: [{{name: {long}}}]\n"
        f"integrations: [{{name: {long}}}]\n"
        f"command_centres:\n  - name: {long}\n"
        "    links: [{name: l, targets: ['icmp://10.0.0.1']}]\n"
        "  - name: c\n"
        f"    links: [{{name: {long}, targets: ['icmp://10.0.0.1']}}]\n", encoding="utf-8")
    want = f"must be at most {keys.MAX_LABEL} characters, got {keys.MAX_LABEL + 1}"
    issues = issues_of("c.yml")
    assert [i.split(": ", 2)[1] for i in issues] == [
        "providers[0].name", "integrations[0].name", "command_centres[0].name",
        "command_centres[1].links[0].name"]
    assert all(i.endswith(want) for i in issues)


# --------------------------------------------------------------------------- includes


def test_inventory_records_what_each_include_pattern_matched() -> None:
    Path("p").mkdir()
    Path("main.yml").write_text("include: ['p/*.yml', solo.yml]\n", encoding="utf-8")
    Path("p/b.yml").write_text("include: ['../extra/*.yml']\n", encoding="utf-8")
    Path("p/a.yml").write_text("cameras: []\n", encoding="utf-8")
    Path("extra").mkdir()
    Path("extra/x.yml").write_text("cameras: []\n", encoding="utf-8")
    Path("solo.yml").write_text("cameras: []\n", encoding="utf-8")
    inventory = load("main.yml", env={})
    assert inventory.includes == (
        ("p/*.yml", ("p/a.yml", "p/b.yml")),
        ("extra/*.yml", ("extra/x.yml",)),
        ("solo.yml", ("solo.yml",)),
    )


@pytest.mark.timeout(60)
def test_a_device_as_the_configuration_is_refused_unread() -> None:
    assert issues_of("/dev/zero") == ["/dev/zero:1:1: -: not a regular file (a device)"]
