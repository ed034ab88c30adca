"""Broken configuration files and the exact error each must produce.

One row per rule of the loader: (name, file text, the full `FILE:LINE:COL: path: message`
line).  The loader's tests (tests/test_config.py) and the JSON Schema's
(tests/test_config_schema.py) both read this table.
"""

from __future__ import annotations

from monitor.checks import CAMERA_CHECKS

# A declared provider, integration and command centre for camera rows (lines 1-8), so that
# camera rows start at line 9 with "cameras:" and their first camera at line 10.
DECLARED = """\
providers:
  - {name: pt-a, target_cameras: 10, sla: 0.98}
integrations:
  - name: smart-city
command_centres:
  - name: police-hq
    links:
      - {name: primary, targets: ["tcp://10.20.0.1:443"]}
cameras:
"""


def cams(text: str) -> str:
    return DECLARED + text


# A camera A of provider pt-a (line 10), then maintenance windows from line 12.
WINDOW = cams("  - {id: A, provider: pt-a, rtsp: 'rtsp://10.0.0.1/x'}\n") + "maintenance:\n"


INVALID: list[tuple[str, str, str]] = [
    # ---------------------------------------------------------------- keys
    ("unknown top-level key", "camera:\n  - id: A\n",
     "c.yml:1:1: camera: unknown key 'camera' (did you mean 'cameras'?)"),
    ("unknown nested key with hint", "monitor:\n  intervall: 30s\n",
     "c.yml:2:3: monitor.intervall: unknown key 'intervall' (did you mean 'interval'?)"),
    ("unknown key without hint", "monitor:\n  colour: red\n",
     "c.yml:2:3: monitor.colour: unknown key 'colour'"),
    ("duplicate key", "monitor:\n  interval: 30s\n  interval: 1m\n",
     "c.yml:3:3: monitor.interval: duplicate key 'interval' (first at line 2)"),
    ("section of the wrong shape", "cameras: {id: A}\n",
     "c.yml:1:10: cameras: expected a list, got a mapping"),
    ("file not a mapping", "- id: A\n",
     "c.yml:1:1: -: expected a mapping with keys cameras, command_centres, include, "
     "integrations, monitor, providers"),
    # ---------------------------------------------------------------- monitor
    ("duration without unit", "monitor:\n  interval: 30\n",
     "c.yml:2:13: monitor.interval: durations need a unit, e.g. 30s, got '30'"),
    ("duration with a fraction", "monitor:\n  timeout: 1.5s\n",
     "c.yml:2:12: monitor.timeout: invalid duration '1.5s': use whole numbers with units, "
     "e.g. 500ms, 15s, 5m, 1h30m"),
    ("zero interval", "monitor:\n  interval: 0s\n",
     "c.yml:2:13: monitor.interval: must be greater than 0"),
    ("timeout longer than interval", "monitor:\n  interval: 10s\n  timeout: 20s\n",
     "c.yml:3:12: monitor.timeout: timeout (20s) must not be longer than interval (10s)"),
    ("interval shorter than the default timeout", "monitor:\n  interval: 2s\n",
     "c.yml:2:13: monitor.interval: timeout (5s) must not be longer than interval (2s)"),
    ("a bad timeout is not also compared", "monitor:\n  interval: 2s\n  timeout: soon\n",
     "c.yml:3:12: monitor.timeout: invalid duration 'soon': use whole numbers with units, "
     "e.g. 500ms, 15s, 5m, 1h30m"),
    ("retries out of range", "monitor:\n  retries: 7\n",
     "c.yml:2:12: monitor.retries: must be between 0 and 5, got 7"),
    ("concurrency not a number", "monitor:\n  concurrency: many\n",
     "c.yml:2:16: monitor.concurrency: expected an integer, got 'many'"),
    ("concurrency zero", "monitor:\n  concurrency: 0\n",
     "c.yml:2:16: monitor.concurrency: must be at least 1, got 0"),
    ("stream duration zero", "monitor:\n  stream: {duration: 0s}\n",
     "c.yml:2:22: monitor.stream.duration: must be greater than 0"),
    ("stream unknown key", "monitor:\n  stream: {intervall: 5m}\n",
     "c.yml:2:12: monitor.stream.intervall: unknown key 'intervall' (did you mean 'interval'?)"),
    ("frozen_after below 2", "monitor:\n  snapshot: {frozen_after: 1}\n",
     "c.yml:2:28: monitor.snapshot.frozen_after: must be at least 2, got 1"),
    ("black_below above 255", "monitor:\n  snapshot:\n    black_below: 300\n",
     "c.yml:3:18: monitor.snapshot.black_below: must be between 0 and 255, got 300"),
    ("link timeout not shorter than link interval",
     "monitor:\n  links:\n    interval: 2s\n    timeout: 2s\n",
     "c.yml:4:14: monitor.links.timeout: timeout (2s) must be shorter than interval (2s)"),
    ("link probes zero", "monitor:\n  links: {probes: 0}\n",
     "c.yml:2:19: monitor.links.probes: must be between 1 and 100, got 0"),
    ("loss_degraded above 1", "monitor:\n  links: {loss_degraded: 1.5}\n",
     "c.yml:2:26: monitor.links.loss_degraded: must be between 0 and 1, got 1.5"),
    ("rtt_degraded without unit", "monitor:\n  links: {rtt_degraded: 150}\n",
     "c.yml:2:25: monitor.links.rtt_degraded: durations need a unit, e.g. 30s, got '150'"),
    # ---------------------------------------------------------------- providers
    ("sla as a percentage", "providers:\n  - name: pt-a\n    sla: 98\n",
     "c.yml:3:10: providers[0].sla: must be greater than 0 and at most 1 (0.98 is 98%), got 98"),
    ("sla zero", "providers:\n  - {name: pt-a, sla: 0}\n",
     "c.yml:2:23: providers[0].sla: must be greater than 0 and at most 1 (0.98 is 98%), got 0"),
    ("negative target", "providers:\n  - {name: pt-a, target_cameras: -5}\n",
     "c.yml:2:34: providers[0].target_cameras: must be at least 0, got -5"),
    ("provider without name", "providers:\n  - {target_cameras: 5}\n",
     "c.yml:2:5: providers[0]: missing required key 'name'"),
    ("duplicate provider", "providers:\n  - name: pt-a\n  - name: pt-a\n",
     "c.yml:3:11: providers[1].name: duplicate provider 'pt-a' (first at c.yml:2)"),
    # ---------------------------------------------------------------- integrations, centres
    ("integration named like a command centre",
     "command_centres:\n  - name: police-hq\n    links: [{name: p, targets: ['icmp://10.0.0.1']}]\n"
     "integrations:\n  - name: police-hq\n",
     "c.yml:5:11: integrations[0].name: 'police-hq' is already a command centre (at c.yml:2); "
     "every command centre is an integration of its own name"),
    ("integration with unknown centre",
     "command_centres:\n  - name: police-hq\n    links: [{name: p, targets: ['icmp://10.0.0.1']}]\n"
     "integrations:\n  - {name: relay, centre: police-hk}\n",
     "c.yml:5:27: integrations[0].centre: unknown command centre 'police-hk' "
     "(did you mean 'police-hq'?)"),
    ("duplicate integration", "integrations:\n  - name: smart-city\n  - name: smart-city\n",
     "c.yml:3:11: integrations[1].name: duplicate integration 'smart-city' (first at c.yml:2)"),
    ("centre without links", "command_centres:\n  - name: police-hq\n",
     "c.yml:2:5: command_centres[0].links: a command centre needs at least one link"),
    ("links that are not a list", "command_centres:\n  - name: police-hq\n    links: primary\n",
     "c.yml:3:12: command_centres[0].links: expected a list, got a string"),
    ("link without targets",
     "command_centres:\n  - name: police-hq\n    links:\n      - {name: primary, targets: []}\n",
     "c.yml:4:34: command_centres[0].links[0].targets: a link needs at least one target"),
    ("duplicate link",
     "command_centres:\n  - name: police-hq\n    links:\n"
     "      - {name: primary, targets: ['icmp://10.0.0.1']}\n"
     "      - {name: primary, targets: ['icmp://10.0.0.2']}\n",
     "c.yml:5:16: command_centres[0].links[1].name: duplicate link 'primary' (first at line 4)"),
    ("link target with an unknown scheme",
     "command_centres:\n  - name: police-hq\n    links:\n"
     "      - {name: primary, targets: ['udp://10.0.0.1:53']}\n",
     "c.yml:4:35: command_centres[0].links[0].targets[0]: udp://10.0.0.1:53: the URL must "
     "start with tcp:// or http:// or https:// or icmp://"),
    ("tcp target without port",
     "command_centres:\n  - name: police-hq\n    links:\n"
     "      - {name: primary, targets: ['tcp://10.0.0.1']}\n",
     "c.yml:4:35: command_centres[0].links[0].targets[0]: tcp://10.0.0.1: a tcp target needs "
     "a port, e.g. tcp://10.20.0.1:443"),
    ("icmp target with a port",
     "command_centres:\n  - name: police-hq\n    links:\n"
     "      - {name: primary, targets: ['icmp://10.0.0.1:7']}\n",
     "c.yml:4:35: command_centres[0].links[0].targets[0]: icmp://10.0.0.1:7: an icmp target "
     "is only icmp://host"),
    # ---------------------------------------------------------------- cameras
    ("camera without id", cams("  - rtsp: rtsp://10.0.0.1/x\n"),
     "c.yml:10:5: cameras[0]: missing required key 'id'"),
    ("camera with an empty id", cams("  - id: ''\n    rtsp: rtsp://10.0.0.1/x\n"),
     "c.yml:10:9: cameras[0].id: must not be empty"),
    ("duplicate camera id",
     cams("  - {id: A, rtsp: 'rtsp://10.0.0.1/x'}\n  - {id: A, rtsp: 'rtsp://10.0.0.2/x'}\n"),
     "c.yml:11:10: cameras[1].id: duplicate camera id 'A' (first at c.yml:10)"),
    ("unknown camera key", cams("  - {id: A, rtsp: 'rtsp://10.0.0.1/x', zome: ring-1}\n"),
     "c.yml:10:40: cameras[0].zome: unknown key 'zome' (did you mean 'zone'?)"),
    ("unknown provider", cams("  - {id: A, rtsp: 'rtsp://10.0.0.1/x', provider: pt-aa}\n"),
     "c.yml:10:50: cameras[0].provider: unknown provider 'pt-aa' (did you mean 'pt-a'?)"),
    ("latitude out of range",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    location: [-96.2, 106.8]\n"),
     "c.yml:12:16: cameras[0].location[0]: latitude must be between -90 and 90, got -96.2"),
    ("location of three numbers",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    location: [1, 2, 3]\n"),
     "c.yml:12:15: cameras[0].location: expected [latitude, longitude], got 3 values"),
    ("rtsp URL with the wrong scheme", cams("  - id: A\n    rtsp: http://10.0.0.1/x\n"),
     "c.yml:11:11: cameras[0].rtsp: http://10.0.0.1/x: the URL must start with rtsp:// or "
     "rtsps://"),
    ("http URL without host", cams("  - id: A\n    http: 'http:///snapshot.jpg'\n"),
     "c.yml:11:11: cameras[0].http: http:///snapshot.jpg: the URL has no host"),
    ("camera without any URL", cams("  - id: A\n    name: Bundaran HI\n"),
     "c.yml:10:5: cameras[0]: a camera needs rtsp: or http: (or both)"),
    ("unknown check", cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    checks: [rtps]\n"),
     "c.yml:12:14: cameras[0].checks[0]: unknown check 'rtps' (did you mean 'rtsp'?); "
     "checks are " + ", ".join(CAMERA_CHECKS)),  # the catalogue's, in its order
    ("check without its URL",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    checks: [rtsp, snapshot]\n"),
     "c.yml:12:20: cameras[0].checks[1]: check 'snapshot' needs http:"),
    ("check listed twice",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    checks: [rtsp, rtsp]\n"),
     "c.yml:12:20: cameras[0].checks[1]: 'rtsp' is listed twice"),
    ("empty checks", cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    checks: []\n"),
     "c.yml:12:13: cameras[0].checks: no checks listed: list some, or leave checks out for "
     "the defaults"),
    ("unknown integration",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    integrations: [smart-cty]\n"),
     "c.yml:12:20: cameras[0].integrations[0]: unknown integration 'smart-cty' "
     "(did you mean 'smart-city'?)"),
    ("feed to an integration the camera does not list",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    integrations: [smart-city]\n"
          "    feeds: {police-hq: 'rtsp://10.20.0.5/relay/A'}\n"),
     "c.yml:13:13: cameras[0].feeds.police-hq: a feed to 'police-hq' needs 'police-hq' in "
     "this camera's integrations"),
    ("feed to an undeclared integration",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    feeds:\n"
          "      police-hk: rtsp://10.20.0.5/r\n"),
     "c.yml:13:7: cameras[0].feeds.police-hk: unknown integration 'police-hk' "
     "(did you mean 'police-hq'?)"),
    ("feed that is not RTSP",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    integrations: [police-hq]\n"
          "    feeds:\n      police-hq: http://10.20.0.5/r\n"),
     "c.yml:14:18: cameras[0].feeds.police-hq: http://10.20.0.5/r: the URL must start with "
     "rtsp:// or rtsps://"),
    ("password without username",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    password: hunter22\n"),
     "c.yml:12:5: cameras[0].password: password needs username"),
    ("password and password_file",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    username: u\n    password: hunter22\n"
          "    password_file: pw.txt\n"),
     "c.yml:14:5: cameras[0].password_file: use either password or password_file, not both"),
    ("missing password_file",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    username: u\n    password_file: nope.txt\n"),
     "c.yml:13:20: cameras[0].password_file: cannot read password_file 'nope.txt': "
     "No such file or directory"),
    ("camera interval shorter than the probe timeout",
     cams("  - id: A\n    rtsp: rtsp://10.0.0.1/x\n    interval: 2s\n"),
     "c.yml:12:15: cameras[0].interval: interval (2s) must not be shorter than "
     "monitor.timeout (5s)"),
    ("unset environment variable",
     cams("  - id: A\n    rtsp: rtsp://viewer:${CAM_PASS}@10.0.0.1/x\n"),
     "c.yml:11:11: cameras[0].rtsp: environment variable CAM_PASS is not set "
     "(use ${CAM_PASS:-default} to give a default)"),
    ("a mapping that merges itself",
     cams("  - &cam {id: A, rtsp: 'rtsp://10.0.0.1/x', <<: *cam}\n"),
     "c.yml:10:5: cameras[0].<<: a mapping cannot merge itself"),
    ("malformed variable reference", cams("  - id: A\n    rtsp: rtsp://${1X}@10.0.0.1/x\n"),
     "c.yml:11:11: cameras[0].rtsp: invalid variable reference ${1X}: use ${NAME} or "
     "${NAME:-default}"),
    ("URL with a bad port shows no password",
     cams("  - id: A\n    rtsp: rtsp://admin:hunter22@10.0.0.1:99999/x\n"),
     "c.yml:11:11: cameras[0].rtsp: invalid URL rtsp://admin:xxxxx@10.0.0.1:99999/x: "
     "Port out of range 0-65535"),
    # ---------------------------------------------------------------- time, history, reload
    ("unknown time zone", "timezone: Asia/Jakata\n",
     "c.yml:1:11: timezone: unknown time zone 'Asia/Jakata' (did you mean 'Asia/Jakarta'?); "
     "use an IANA name such as Asia/Jakarta"),
    ("history path and dsn", "history:\n  path: ledger.db\n  dsn: postgresql://cctv@db/cctv\n",
     "c.yml:3:3: history.dsn: use either path or dsn, not both"),
    ("history dsn that is not PostgreSQL", "history:\n  dsn: mysql://cctv:hunter22@db/cctv\n",
     "c.yml:2:8: history.dsn: expected postgresql://user@host/database or key=value pairs "
     "with host="),
    ("history dsn with a bad port", "history:\n  dsn: postgresql://cctv:hunter22@db:99999/cctv\n",
     "c.yml:2:8: history.dsn: invalid DSN: Port out of range 0-65535"),
    ("history retention without unit", "history: {retention: 400}\n",
     "c.yml:1:22: history.retention: durations need a unit, e.g. 30s, got '400'"),
    ("reload ratio above 1", "monitor:\n  reload: {max_removed_ratio: 2}\n",
     "c.yml:2:31: monitor.reload.max_removed_ratio: must be between 0 and 1, got 2"),
    # ---------------------------------------------------------------- milestones, claims
    ("milestone on a day that does not exist",
     "providers:\n  - name: pt-a\n    milestones: [{by: 2016-06-31, cameras: 5}]\n",
     "c.yml:3:23: providers[0].milestones[0].by: expected a date YYYY-MM-DD, got '2016-06-31'"),
    ("milestones out of date order",
     "providers:\n  - name: pt-a\n    milestones:\n      - {by: 2016-12-31, cameras: 5}\n"
     "      - {by: 2016-06-30, cameras: 9}\n",
     "c.yml:5:14: providers[0].milestones[1].by: milestones must be in date order: 2016-06-30 "
     "is not after 2016-12-31"),
    ("milestone count that decreases",
     "providers:\n  - name: pt-a\n    milestones:\n      - {by: 2016-06-30, cameras: 50}\n"
     "      - {by: 2016-12-31, cameras: 9}\n",
     "c.yml:5:35: providers[0].milestones[1].cameras: cameras must not decrease: 9 by "
     "2016-12-31 after 50 by 2016-06-30"),
    ("milestone without a count",
     "providers:\n  - name: pt-a\n    milestones: [{by: 2016-06-30}]\n",
     "c.yml:3:18: providers[0].milestones[0]: missing required key 'cameras'"),
    ("negative milestone count",
     "providers:\n  - name: pt-a\n    milestones: [{by: 2016-06-30, cameras: -1}]\n",
     "c.yml:3:44: providers[0].milestones[0].cameras: must be at least 0, got -1"),
    ("claimed_installed that is not a date",
     cams("  - {id: A, rtsp: 'rtsp://10.0.0.1/x', claimed_installed: 30/06/2016}\n"),
     "c.yml:10:59: cameras[0].claimed_installed: expected a date YYYY-MM-DD, got '30/06/2016'"),
    # ---------------------------------------------------------------- maintenance
    ("window without times", WINDOW + "  - {name: w, cameras: [A]}\n",
     "c.yml:12:5: maintenance[0]: a window needs from: and to: (one-off) or weekdays: and "
     "between: (recurring)"),
    ("window both one-off and recurring",
     WINDOW + "  - name: w\n    from: 2026-07-01T22:00+07:00\n    to: 2026-07-02T02:00+07:00\n"
     "    weekdays: [sun]\n    between: 01:00-03:00\n    cameras: [A]\n",
     "c.yml:12:5: maintenance[0]: a window is either one-off (from: and to:) or recurring "
     "(weekdays: and between:), not both"),
    ("window with from but no to",
     WINDOW + "  - {name: w, from: '2026-07-01T22:00+07:00', cameras: [A]}\n",
     "c.yml:12:5: maintenance[0]: a one-off window needs from: and to:; to: is missing"),
    ("window with weekdays but no time range",
     WINDOW + "  - {name: w, weekdays: [sun], cameras: [A]}\n",
     "c.yml:12:5: maintenance[0]: a recurring window needs weekdays: and between:; between: "
     "is missing"),
    ("window time without offset",
     WINDOW + "  - {name: w, from: '2026-07-01T22:00', to: '2026-07-02T02:00+07:00', "
     "cameras: [A]}\n",
     "c.yml:12:21: maintenance[0].from: '2026-07-01T22:00' has no UTC offset: add one, "
     "e.g. 2026-07-01T22:00+07:00"),
    ("window time that is not a time",
     WINDOW + "  - {name: w, from: tonight, to: '2026-07-02T02:00+07:00', cameras: [A]}\n",
     "c.yml:12:21: maintenance[0].from: expected a date and time with its UTC offset, "
     "e.g. 2026-07-01T22:00+07:00, got 'tonight'"),
    ("window that ends before it starts",
     WINDOW + "  - {name: w, from: '2026-07-02T02:00+07:00', to: '2026-07-01T22:00+07:00', "
     "cameras: [A]}\n",
     "c.yml:12:51: maintenance[0].to: to (2026-07-01T22:00:00+07:00) must be after from "
     "(2026-07-02T02:00:00+07:00)"),
    ("window on an unknown weekday",
     WINDOW + "  - {name: w, weekdays: [sunday], between: '01:00-03:00', cameras: [A]}\n",
     "c.yml:12:26: maintenance[0].weekdays[0]: unknown weekday 'sunday' (did you mean "
     "'sun'?); weekdays are mon, tue, wed, thu, fri, sat, sun"),
    ("window weekday listed twice",
     WINDOW + "  - {name: w, weekdays: [sun, sun], between: '01:00-03:00', cameras: [A]}\n",
     "c.yml:12:31: maintenance[0].weekdays[1]: 'sun' is listed twice"),
    ("window time range out of the day",
     WINDOW + "  - {name: w, weekdays: [sun], between: '25:00-03:00', cameras: [A]}\n",
     "c.yml:12:41: maintenance[0].between: expected a local time range HH:MM-HH:MM, "
     "e.g. 22:00-02:00, got '25:00-03:00'"),
    ("window with an empty time range",
     WINDOW + "  - {name: w, weekdays: [sun], between: '03:00-03:00', cameras: [A]}\n",
     "c.yml:12:41: maintenance[0].between: '03:00-03:00' is empty: from and to are the same "
     "time (00:00-24:00 is the whole day)"),
    ("window without scope",
     WINDOW + "  - {name: w, weekdays: [sun], between: '01:00-03:00'}\n",
     "c.yml:12:5: maintenance[0]: a window needs a scope: at least one of cameras:, "
     "providers:, districts:, zones:, uplinks:"),
    ("window on an unknown camera",
     WINDOW + "  - {name: w, weekdays: [sun], between: '01:00-03:00', cameras: [B]}\n",
     "c.yml:12:66: maintenance[0].cameras[0]: unknown camera 'B'"),
    ("window on an unknown provider",
     WINDOW + "  - {name: w, weekdays: [sun], between: '01:00-03:00', providers: [pt-b]}\n",
     "c.yml:12:68: maintenance[0].providers[0]: unknown provider 'pt-b' (did you mean 'pt-a'?)"),
    ("window with an empty scope",
     WINDOW + "  - {name: w, weekdays: [sun], between: '01:00-03:00', zones: []}\n",
     "c.yml:12:63: maintenance[0].zones: no zones listed: an empty scope matches no camera"),
    ("duplicate window",
     WINDOW + "  - {name: w, weekdays: [sun], between: '01:00-03:00', zones: [ring-1]}\n"
     "  - {name: w, weekdays: [sat], between: '01:00-03:00', zones: [ring-1]}\n",
     "c.yml:13:12: maintenance[1].name: duplicate maintenance window 'w' (first at c.yml:12)"),
    ("window scope key misspelt",
     WINDOW + "  - {name: w, weekdays: [sun], between: '01:00-03:00', zones: [ring-1], "
     "district: [Menteng]}\n",
     "c.yml:12:73: maintenance[0].district: unknown key 'district' (did you mean "
     "'districts'?)"),
    # ---------------------------------------------------------------- files
    ("include that matches nothing", "include: [providers/*.yml]\n",
     "c.yml:1:11: include[0]: 'providers/*.yml' matches no file"),
    ("unsupported YAML tag", "include: [!include x.yml]\n",
     "c.yml:1:11: include[0]: the YAML tag !include is not supported here (to read other "
     "files, use include:)"),
    ("two documents", "cameras: []\n---\ncameras: []\n",
     "c.yml:2:1: -: invalid YAML: expected a single document in the stream, but found "
     "another document"),
]
