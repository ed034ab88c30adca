"""Shard assignment properties: coverage, no overlap, bounded movement on resize."""

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.model import Camera, Inventory, MonitorSettings
from monitor.runtime.shard import select, shard_of

ids = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=200, unique=True)


@given(ids, st.integers(min_value=1, max_value=12))
def test_every_camera_in_exactly_one_shard(camera_ids, n):
    inv = Inventory(MonitorSettings(), (), (), (), tuple(Camera(id=i) for i in camera_ids))
    seen: list[str] = []
    for k in range(1, n + 1):
        seen += [c.id for c in select(inv, k, n).cameras]
    assert sorted(seen) == sorted(camera_ids)


@given(ids, st.integers(min_value=1, max_value=12))
def test_growing_moves_cameras_only_to_the_new_shard(camera_ids, n):
    for cid in camera_ids:
        before, after = shard_of(cid, n), shard_of(cid, n + 1)
        assert after in (before, n + 1)


@settings(max_examples=20)
@given(st.integers(min_value=1, max_value=9))
def test_growing_moves_about_one_in_n_plus_one(n):
    camera_ids = [f"JKT-{i:05d}" for i in range(6000)]
    moved = sum(shard_of(c, n) != shard_of(c, n + 1) for c in camera_ids)
    expected = len(camera_ids) / (n + 1)
    # binomial spread: 6000 draws keep the share within a few standard deviations
    assert abs(moved - expected) < 5 * (expected * (1 - 1 / (n + 1))) ** 0.5 + 1


def test_shards_are_balanced():
    camera_ids = [f"JKT-{i:05d}" for i in range(10000)]
    counts = [0] * 4
    for c in camera_ids:
        counts[shard_of(c, 4) - 1] += 1
    assert all(2300 < x < 2700 for x in counts), counts


def test_self_metrics_carry_the_shard_label():
    from prometheus_client.parser import text_string_to_metric_families

    from monitor.metrics.selfmetrics import SelfMetrics

    metrics = SelfMetrics("2/3")
    metrics.probe_lag.observe(0.02)
    families = list(text_string_to_metric_families(metrics.render().decode()))
    samples = [s for f in families for s in f.samples]
    assert samples and all(s.labels.get("shard") == "2/3" for s in samples)
    lag = [s for s in samples if s.name == "cctv_monitor_probe_lag_seconds_count"]
    assert lag and lag[0].value == 1
    assert "shard" not in SelfMetrics().render().decode()
