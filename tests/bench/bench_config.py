"""CPU and memory of loading a large configuration.

    .venv/bin/python tests/bench/bench_config.py [--cameras 100000] [--rounds 3]

Writes one file of `cameras` cameras with every label, a location, rtsp and http URLs with
${VAR} credentials, integrations and a feed for one in ten, plus maintenance windows, then
loads it `rounds` times and reports the best CPU time of `monitor.config.load`, against a
same-process baseline: libyaml composing the same file (the parse floor no loader can go
under).  The ratio is the figure to compare across changes.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def write_config(path: Path, cameras: int) -> None:
    lines = ["providers: [{name: pt-a}, {name: pt-b}]",
             "integrations: [{name: smart-city}]",
             "command_centres:",
             "  - {name: police-hq, links: [{name: p, targets: ['tcp://10.20.0.1:443']}]}",
             "maintenance:",
             "  - {name: nightly, weekdays: [sun], between: '23:00-02:00', providers: [pt-b]}",
             "  - {name: one, from: '2026-03-14T22:00+07:00', to: '2026-03-15T04:00+07:00',"
             " cameras: [CAM-000001]}",
             "cameras:"]
    for i in range(cameras):
        host = f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        lines += [
            f"  - id: CAM-{i:06d}",
            f"    name: Camera {i}",
            f"    provider: pt-{'ab'[i % 2]}",
            f"    district: D{i % 40}",
            f"    zone: ring-{i % 3}",
            f"    uplink: sw-{i // 20}",
            f"    location: [-6.{i:05d}, 106.8]",
            f"    rtsp: rtsp://viewer:${{PW:-pw}}@{host}:554/ch1",
            f"    http: http://{host}/snap.jpg",
        ]
        if i % 10 == 0:
            lines += ["    integrations: [smart-city, police-hq]",
                      f"    feeds: {{police-hq: 'rtsp://10.20.0.5/relay/CAM-{i:06d}'}}"]
        else:
            lines.append("    integrations: [smart-city]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import yaml

    from monitor.config import load
    from monitor.config.tree import _Loader

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yml"
        write_config(path, args.cameras)
        data = path.read_bytes()
        compose, loads = [], []
        for _ in range(args.rounds):
            gc.collect()
            gc.disable()
            started = time.process_time()
            tree = yaml.compose(data, Loader=_Loader)
            compose.append(time.process_time() - started)
            del tree
            gc.enable()
            started = time.process_time()
            inventory = load(path, env={})
            loads.append(time.process_time() - started)
            assert len(inventory.cameras) == args.cameras
            del inventory
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.cameras} cameras, {len(data) / 1e6:.1f} MB of YAML, best of {args.rounds}")
    print(f"compose (baseline): {min(compose):.2f} s CPU")
    print(f"load:               {min(loads):.2f} s CPU  ({min(loads) / min(compose):.2f}x the "
          f"compose), {min(loads) / args.cameras * 1e6:.0f} us per camera")
    print(f"peak RSS:           {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
