"""Generates dashboards/*.json: `python scripts/gen_dashboards.py dashboards`.

The JSON files are what Grafana provisions and what the tests check; this generator keeps
the five dashboards consistent (one datasource variable, the same label variables) and is
the place to edit them from.
"""
import json, sys, os

OUT = sys.argv[1]
DS = {"type": "prometheus", "uid": "${datasource}"}

def var_datasource():
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1,
            "regex": "", "includeAll": False, "multi": False, "options": []}

def var_query(name, query, label=None, multi=True, include_all=True, all_value=".*"):
    v = {"name": name, "label": label or name.capitalize(), "type": "query",
         "datasource": DS, "query": {"query": query, "refId": f"{name}-var"},
         "definition": query, "refresh": 2, "sort": 1, "hide": 0,
         "includeAll": include_all, "multi": multi, "current": {}, "options": [], "regex": ""}
    if include_all:
        v["allValue"] = all_value
    return v

def tgt(expr, legend="", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant, "format": fmt, "editorMode": "code"}
    return t

class Dash:
    def __init__(self, uid, title, desc, variables, tags=("cctv",)):
        self.d = {"uid": uid, "title": title, "description": desc, "tags": list(tags),
                  "schemaVersion": 38, "version": 1, "editable": True, "timezone": "",
                  "graphTooltip": 1, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
                  "timepicker": {}, "annotations": {"list": [{
                      "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                      "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                      "name": "Annotations & Alerts", "type": "dashboard"}]},
                  "links": [{"title": "CCTV dashboards", "type": "dashboards", "tags": ["cctv"],
                             "asDropdown": True, "includeVars": True, "keepTime": True}],
                  "templating": {"list": variables}, "panels": []}
        self.id = 1
        self.x = 0; self.y = 0; self.rowh = 0

    def panel(self, ptype, title, targets, w=12, h=8, unit=None, desc="", options=None,
              field=None, overrides=None, transformations=None, mappings=None, thresholds=None):
        if self.x + w > 24:
            self.x = 0; self.y += self.rowh; self.rowh = 0
        for i, t in enumerate(targets):
            t["refId"] = chr(ord("A") + i)
        defaults = {"unit": unit} if unit else {}
        if mappings: defaults["mappings"] = mappings
        if thresholds: defaults["thresholds"] = {"mode": "absolute", "steps": thresholds}
        if field: defaults.update(field)
        p = {"id": self.id, "type": ptype, "title": title, "description": desc,
             "datasource": DS, "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
             "targets": targets,
             "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
             "options": options or {}}
        if transformations: p["transformations"] = transformations
        self.d["panels"].append(p)
        self.id += 1; self.x += w; self.rowh = max(self.rowh, h)
        return p

    def row(self, title):
        self.x = 0; self.y += self.rowh; self.rowh = 0
        self.d["panels"].append({"id": self.id, "type": "row", "title": title, "collapsed": False,
                                 "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.id += 1; self.y += 1

    def save(self, name):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(self.d, f, indent=2); f.write("\n")

UPDOWN = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                          "1": {"text": "up", "color": "green", "index": 1}}}]
RED_GREEN = [{"color": "red", "value": None}, {"color": "green", "value": 1}]
PCT_STEPS = [{"color": "red", "value": None}, {"color": "orange", "value": 0.9}, {"color": "green", "value": 0.98}]
SEL = 'provider=~"$provider",district=~"$district",zone=~"$zone"'
TABLE_OPTS = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
STAT = lambda: {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                "orientation": "auto", "textMode": "auto"}
TS = lambda stack=False: {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                          "tooltip": {"mode": "multi", "sort": "desc"}}
def ts_field(stack=False, fill=10):
    c = {"custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": fill, "showPoints": "never",
                    "spanNulls": False, "stacking": {"mode": "normal" if stack else "none", "group": "A"}}}
    return c

def common_vars():
    return [var_datasource(),
            var_query("provider", "label_values(cctv_camera_info, provider)"),
            var_query("district", 'label_values(cctv_camera_info{provider=~"$provider"}, district)'),
            var_query("zone", 'label_values(cctv_camera_info{provider=~"$provider",district=~"$district"}, zone)')]

# ------------------------------------------------------------------ fleet overview
d = Dash("cctv-fleet-overview", "CCTV / Fleet overview",
         "What is down, where, since when, why: installed vs target, up now, map, worst districts, down list.",
         common_vars())
d.panel("stat", "Installed vs target", [
    tgt(f'sum(provider:cctv_cameras_configured:sum{{provider=~"$provider"}})', "installed"),
    tgt(f'sum(provider:cctv_provider_target_cameras:max{{provider=~"$provider"}})', "target")],
    w=6, h=5, options=STAT(), desc="Cameras in the inventory against the contractual targets of the selected providers.")
d.panel("stat", "Up now", [
    tgt(f'sum(camera:cctv_camera_up:with_info{{{SEL}}})', "up"),
    tgt(f'count(camera:cctv_camera_up:with_info{{{SEL}}} == 0) or vector(0)', "down")],
    w=6, h=5, options=STAT(), desc="Probed cameras up and down in the selection.")
d.panel("gauge", "Share up", [tgt(f'avg(camera:cctv_camera_up:with_info{{{SEL}}})', "up")],
    w=6, h=5, unit="percentunit", thresholds=PCT_STEPS,
    field={"min": 0, "max": 1}, options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                                         "showThresholdLabels": False, "showThresholdMarkers": True})
d.panel("stat", "Ring one connected to each integration", [
    tgt('zone_integration:cctv_feeds_up:sum{zone="ring-1"}', "{{integration}}"),
    tgt('zone:cctv_cameras_configured:sum{zone="ring-1"}', "ring-one points")],
    w=6, h=5, options=STAT(), desc="Ring-one points whose feed reaches each platform, and ring-one points configured.")
d.panel("geomap", "Camera map", [
    tgt(f'cctv_camera_up * on (camera) group_left (name, provider, district, zone, lat, lon) cctv_camera_info{{{SEL}}}',
        instant=True, fmt="table")],
    w=14, h=14, desc="Every camera at its location, green up, red down.",
    mappings=UPDOWN, thresholds=RED_GREEN, field={"color": {"mode": "thresholds"}},
    transformations=[{"id": "convertFieldType", "options": {"conversions": [
        {"targetField": "lat", "destinationType": "number"},
        {"targetField": "lon", "destinationType": "number"}], "fields": {}}}],
    options={"view": {"id": "coords", "lat": -6.2, "lon": 106.83, "zoom": 11, "allLayers": True},
             "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
             "basemap": {"type": "default", "name": "Basemap", "config": {}},
             "layers": [{"type": "markers", "name": "Cameras", "tooltip": True,
                         "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                         "config": {"showLegend": True, "style": {
                             "size": {"fixed": 5, "min": 2, "max": 15},
                             "color": {"field": "Value", "fixed": "dark-green"},
                             "opacity": 0.8, "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"}}}}],
             "tooltip": {"mode": "details"}})
d.panel("bargauge", "Worst districts", [
    tgt('bottomk(10, avg by (district) (camera:cctv_camera_up:with_info{provider=~"$provider",district=~"$district",zone=~"$zone"}))',
        "{{district}}", instant=True)],
    w=10, h=14, unit="percentunit", thresholds=PCT_STEPS, field={"min": 0, "max": 1},
    options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
             "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    desc="The ten districts with the lowest share of cameras up.")
d.panel("table", "Cameras down, with reasons", [
    tgt(f'cctv_probe_reason{{reason!="ok"}} * on (camera) group_left (name, provider, district, zone, uplink) (camera:cctv_camera_up:with_info{{{SEL}}} == 0)',
        instant=True, fmt="table")],
    w=24, h=10, options={**TABLE_OPTS, "sortBy": [{"displayName": "district", "desc": False}]},
    desc="Every failing check of every camera that is down, with the reason of its last probe.",
    transformations=[{"id": "organize", "options": {
        "excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True},
        "indexByName": {"camera": 0, "name": 1, "provider": 2, "district": 3, "zone": 4, "uplink": 5, "check": 6, "reason": 7},
        "renameByName": {}}}])
d.panel("table", "Down since", [
    tgt(f'(time() - cctv_camera_last_up_timestamp_seconds) * on (camera) group_left (name, provider, district) ((camera:cctv_camera_up:with_info{{{SEL}}} == bool 0) == 1)',
        instant=True, fmt="table")],
    w=24, h=8, unit="s", options={**TABLE_OPTS, "sortBy": [{"displayName": "Value", "desc": True}]},
    desc="How long each down camera has been down (since it was last seen up).",
    transformations=[{"id": "organize", "options": {
        "excludeByName": {"Time": True, "__name__": True, "job": True, "instance": True},
        "renameByName": {"Value": "down for"}}}])
d.panel("timeseries", "Share up by provider", [
    tgt('provider:cctv_camera_up:ratio{provider=~"$provider"}', "{{provider}}")],
    w=12, h=8, unit="percentunit", field={**ts_field(), "min": 0, "max": 1}, options=TS())
d.panel("timeseries", "Cameras down by district", [
    tgt('sum by (district) (camera:cctv_camera_up:with_info{provider=~"$provider",district=~"$district",zone=~"$zone"} == bool 0)', "{{district}}")],
    w=12, h=8, field=ts_field(stack=True), options=TS())
d.panel("table", "Device models and firmware", [
    tgt(f'count by (manufacturer, model, firmware) (cctv_camera_device_info * on (camera) group_left () cctv_camera_info{{{SEL}}})',
        instant=True, fmt="table")],
    w=12, h=8, options={**TABLE_OPTS, "sortBy": [{"displayName": "cameras", "desc": True}]},
    desc="Cameras per manufacturer, model and firmware, as their ONVIF device service says (the onvif check): old firmware to patch, models out of contract.",
    transformations=[{"id": "organize", "options": {
        "excludeByName": {"Time": True},
        "renameByName": {"Value": "cameras"}}}])
d.panel("stat", "Camera clocks off, one device counted twice", [
    tgt(f'count(abs(cctv_camera_clock_offset_seconds * on (camera) group_left () cctv_camera_info{{{SEL}}}) > 10) or vector(0)', "clocks > 10 s off"),
    tgt('sum(cctv_inventory_duplicate_devices{provider=~"$provider"}) or vector(0)', "cameras sharing a device")],
    w=12, h=8, options=STAT(),
    desc="Cameras whose clock is more than 10 s from the monitor's (CameraClockDrift), and configured cameras whose ONVIF serial another camera also reports (one device counted twice; pairs on /status).")
d.save("fleet-overview.json")

# ------------------------------------------------------------------ command-centre links
d = Dash("cctv-command-centre-links", "CCTV / Command centre links",
         "Links to the command centres: state, RTT, loss, jitter; feeds reaching each centre by cause.",
         [var_datasource(), var_query("centre", "label_values(cctv_link_up, centre)", "Centre")])
LINKCODE = ('max by (centre, link) ((cctv_link_state{centre=~"$centre",state="up"} == 1) * 2 '
            'or (cctv_link_state{centre=~"$centre",state="degraded"} == 1) '
            'or (cctv_link_state{centre=~"$centre",state="down"} == 1) * 0)')
LINKMAP = [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                           "1": {"text": "degraded", "color": "orange", "index": 1},
                                           "2": {"text": "up", "color": "green", "index": 2}}}]
d.panel("stat", "Centre reachable", [tgt('cctv_centre_up{centre=~"$centre"}', "{{centre}}")],
        w=6, h=6, mappings=UPDOWN, thresholds=RED_GREEN, options={**STAT(), "colorMode": "background", "graphMode": "none"})
d.panel("stat", "Link state now", [tgt(LINKCODE, "{{centre}} {{link}}")],
        w=6, h=6, mappings=LINKMAP, thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 1}, {"color": "green", "value": 2}],
        options={**STAT(), "colorMode": "background", "graphMode": "none"})
d.panel("stat", "Ring one connected to the centre", [
    tgt('zone_integration:cctv_feeds_up:sum{zone="ring-1",integration=~"$centre"}', "connected"),
    tgt('zone:cctv_cameras_configured:sum{zone="ring-1"}', "ring-one points")],
    w=12, h=6, options=STAT())
d.panel("state-timeline", "Link state history", [tgt(LINKCODE, "{{centre}} {{link}}")],
        w=24, h=6, mappings=LINKMAP, thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 1}, {"color": "green", "value": 2}],
        options={"showValue": "auto", "mergeValues": True, "alignValue": "left", "rowHeight": 0.9,
                 "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}})
d.panel("timeseries", "Round-trip time", [
    tgt('cctv_link_rtt_seconds{centre=~"$centre"}', "{{link}} avg"),
    tgt('cctv_link_rtt_min_seconds{centre=~"$centre"}', "{{link}} min"),
    tgt('cctv_link_rtt_max_seconds{centre=~"$centre"}', "{{link}} max")],
    w=12, h=8, unit="s", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Loss", [tgt('cctv_link_loss_ratio{centre=~"$centre"}', "{{link}}")],
        w=6, h=8, unit="percentunit", field={**ts_field(), "min": 0, "max": 1}, options=TS())
d.panel("timeseries", "Jitter", [tgt('cctv_link_jitter_seconds{centre=~"$centre"}', "{{link}}")],
        w=6, h=8, unit="s", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Feeds reaching the centre, by cause", [
    tgt('sum by (integration, cause) (cctv_feed_state{integration=~"$centre"})', "{{cause}}")],
    w=16, h=8, field=ts_field(stack=True, fill=40), options=TS(),
    desc="ok: the feed arrives; camera_down: the camera itself is down; link_down: the centre's links are down; feed_missing: the relay does not carry it.")
d.panel("table", "Feeds not reaching the centre", [
    tgt('cctv_feed_state{integration=~"$centre",cause!="ok"} * on (camera) group_left (name, provider, district, zone) cctv_camera_info',
        instant=True, fmt="table")],
    w=8, h=8, options=TABLE_OPTS,
    transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True}}}])
d.save("command-centre-links.json")

# ------------------------------------------------------------------ provider SLA
d = Dash("cctv-provider-sla", "CCTV / Provider SLA",
         "Contract evidence per provider: uptime vs contract over 1d/7d/30d; installed, integrated and connected vs target.",
         [var_datasource(), var_query("provider", "label_values(cctv_camera_info, provider)")])
P = '{provider=~"$provider"}'
d.panel("table", "Uptime vs contract", [
    tgt(f'provider:cctv_camera_up:ratio_avg1d{P}', instant=True, fmt="table"),
    tgt(f'provider:cctv_camera_up:ratio_avg7d{P}', instant=True, fmt="table"),
    tgt(f'provider:cctv_camera_up:ratio_avg30d{P}', instant=True, fmt="table"),
    tgt(f'provider:cctv_provider_sla_ratio:max{P}', instant=True, fmt="table")],
    w=24, h=7, unit="percentunit", thresholds=PCT_STEPS, field={"custom": {"cellOptions": {"type": "color-text"}}},
    options=TABLE_OPTS,
    desc="Time-weighted share of the provider's cameras up, from the recorded per-evaluation ratio.",
    transformations=[{"id": "merge", "options": {}},
                     {"id": "organize", "options": {"excludeByName": {"Time": True},
                      "renameByName": {"Value #A": "1 day", "Value #B": "7 days", "Value #C": "30 days", "Value #D": "contract"}}}])
d.panel("timeseries", "30-day uptime vs contract", [
    tgt(f'provider:cctv_camera_up:ratio_avg30d{P}', "{{provider}} 30d"),
    tgt(f'provider:cctv_provider_sla_ratio:max{P}', "{{provider}} contract")],
    w=12, h=8, unit="percentunit", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Share up (per evaluation) and 1-day average", [
    tgt(f'provider:cctv_camera_up:ratio{P}', "{{provider}}"),
    tgt(f'provider:cctv_camera_up:ratio_avg1d{P}', "{{provider}} 1d")],
    w=12, h=8, unit="percentunit", field=ts_field(fill=0), options=TS())
d.panel("bargauge", "Installed vs target", [
    tgt(f'provider:cctv_cameras_configured:target_ratio{P}', "{{provider}}", instant=True)],
    w=8, h=8, unit="percentunit", thresholds=[{"color": "red", "value": None}, {"color": "orange", "value": 0.8}, {"color": "green", "value": 1}],
    field={"min": 0, "max": 1},
    options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
             "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
d.panel("table", "Installed and up vs target", [
    tgt(f'provider:cctv_provider_target_cameras:max{P}', instant=True, fmt="table"),
    tgt(f'provider:cctv_cameras_configured:sum{P}', instant=True, fmt="table"),
    tgt(f'provider:cctv_cameras_up:sum{P}', instant=True, fmt="table"),
    tgt(f'provider:cctv_cameras_down:count{P}', instant=True, fmt="table")],
    w=16, h=8, options=TABLE_OPTS,
    transformations=[{"id": "merge", "options": {}},
                     {"id": "organize", "options": {"excludeByName": {"Time": True},
                      "renameByName": {"Value #A": "target", "Value #B": "installed", "Value #C": "up", "Value #D": "down"}}}])
d.panel("table", "Integrated and connected, per platform", [
    tgt(f'provider_integration:cctv_feeds_configured:sum{P}', instant=True, fmt="table"),
    tgt(f'provider_integration:cctv_feeds_up:sum{P}', instant=True, fmt="table")],
    w=12, h=8, options=TABLE_OPTS,
    desc="Integrated: cameras whose feed must reach the platform; connected: feeds that reach it now.",
    transformations=[{"id": "merge", "options": {}},
                     {"id": "organize", "options": {"excludeByName": {"Time": True},
                      "renameByName": {"Value #A": "integrated", "Value #B": "connected"}}}])
d.panel("table", "Cameras by zone and state", [
    tgt(f'sum by (zone, state) (provider_zone_state:cctv_provider_cameras:sum{P})', instant=True, fmt="table")],
    w=12, h=8, options=TABLE_OPTS,
    transformations=[{"id": "groupingToMatrix", "options": {"columnField": "state", "rowField": "zone", "valueField": "Value"}}])
d.panel("timeseries", "Cameras down by provider", [
    tgt(f'provider:cctv_cameras_down:count{P}', "{{provider}}")],
    w=24, h=8, field=ts_field(stack=True, fill=30), options=TS())
d.save("provider-sla.json")

# ------------------------------------------------------------------ camera detail
vars_ = common_vars() + [var_query("camera",
    'label_values(cctv_camera_info{provider=~"$provider",district=~"$district",zone=~"$zone"}, camera)',
    "Camera", multi=False, include_all=False)]
d = Dash("cctv-camera-detail", "CCTV / Camera detail",
         "One camera: state history, reasons, probe durations per check, stream and picture health.", vars_)
C = '{camera="$camera"}'
d.panel("table", "Camera", [tgt(f'cctv_camera_info{C}', instant=True, fmt="table")],
        w=16, h=4, options=TABLE_OPTS,
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True}}}])
d.panel("stat", "Last seen up", [tgt(f'cctv_camera_last_up_timestamp_seconds{C} * 1000', "last up")],
        w=4, h=4, unit="dateTimeFromNow", options={**STAT(), "graphMode": "none"})
d.panel("stat", "State changes (1h)", [tgt(f'increase(cctv_camera_state_changes_total{C}[1h])', "changes")],
        w=4, h=4, unit="short", options={**STAT(), "graphMode": "none"},
        thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 6}])
d.panel("state-timeline", "Up / down", [tgt(f'cctv_camera_up{C}', "up")],
        w=24, h=4, mappings=UPDOWN, thresholds=RED_GREEN,
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
                 "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}})
d.panel("state-timeline", "Checks", [tgt(f'cctv_probe_success{C}', "{{check}}")],
        w=24, h=6, mappings=[{"type": "value", "options": {"0": {"text": "fail", "color": "red", "index": 0},
                                                            "1": {"text": "ok", "color": "green", "index": 1}}}],
        thresholds=RED_GREEN,
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.9,
                 "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}})
d.panel("table", "Last reason per check", [tgt(f'cctv_probe_reason{C}', instant=True, fmt="table")],
        w=8, h=8, options=TABLE_OPTS,
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True, "camera": True}}}])
d.panel("timeseries", "Probe duration per check", [tgt(f'cctv_probe_duration_seconds{C}', "{{check}}")],
        w=8, h=8, unit="s", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Probes by check", [
    tgt(f'sum by (check) (increase(cctv_probes_total{C}[$__rate_interval]))', "{{check}}")],
    w=8, h=8, field=ts_field(stack=True), options=TS(), desc="Checks done per interval; failures by reason are in the next panel.")
d.panel("timeseries", "Failures by reason", [
    tgt(f'sum by (check, reason) (increase(cctv_probe_failures_total{C}[$__rate_interval]))', "{{check}} {{reason}}")],
    w=8, h=8, field=ts_field(stack=True), options=TS())
d.panel("timeseries", "Stream frames per second", [tgt(f'cctv_stream_frames_per_second{C}', "fps")],
        w=8, h=8, unit="fps", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Stream bitrate", [tgt(f'cctv_stream_bytes_per_second{C} * 8', "bitrate")],
        w=8, h=8, unit="bps", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Keyframe interval", [tgt(f'cctv_stream_keyframe_interval_seconds{C}', "keyframe interval")],
        w=8, h=8, unit="s", field=ts_field(fill=0), options=TS())
d.panel("table", "Stream", [tgt(f'cctv_stream_info{C}', instant=True, fmt="table")],
        w=8, h=8, options=TABLE_OPTS,
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True}}}])
d.panel("timeseries", "Snapshot luminance", [tgt(f'cctv_snapshot_luminance_ratio{C}', "luminance")],
        w=8, h=8, unit="percentunit", field={**ts_field(fill=0), "min": 0, "max": 1}, options=TS(),
        desc="Mean brightness of the last picture; near 0 is a black picture.")
d.panel("timeseries", "Identical snapshots in a row", [tgt(f'cctv_snapshot_unchanged_fetches{C}', "unchanged")],
        w=8, h=8, field=ts_field(fill=0), options=TS(), desc="Consecutive fetches with the same picture (frozen when it reaches snapshot.frozen_after).")
d.panel("timeseries", "Camera clock offset", [tgt(f'cctv_camera_clock_offset_seconds{C}', "camera minus monitor")],
        w=8, h=8, unit="s", field=ts_field(fill=0), options=TS(),
        desc="The camera's clock minus the monitor's, from ONVIF or the Date header of its answers (1 s resolution); CameraClockDrift fires beyond 10 s for 30 min.")
d.panel("table", "Device (ONVIF)", [tgt(f'cctv_camera_device_info{C}', instant=True, fmt="table")],
        w=16, h=8, options=TABLE_OPTS, desc="Manufacturer, model and firmware the camera's ONVIF device service reports.",
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True}}}])
d.panel("table", "Feeds at integration points", [tgt(f'cctv_feed_state{C}', instant=True, fmt="table")],
        w=24, h=6, options=TABLE_OPTS,
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True, "job": True, "instance": True}}}])
d.save("camera-detail.json")

# ------------------------------------------------------------------ monitor health
d = Dash("cctv-monitor-health", "CCTV / Monitor health",
         "The monitor itself: probe lag, probes in flight and per second, reload status, scrape cost.",
         [var_datasource(), var_query("instance", 'label_values(up{job="cctv-monitor"}, instance)', "Instance")])
I = '{job="cctv-monitor",instance=~"$instance"}'
d.panel("stat", "Scraped", [tgt(f'up{I}', "{{instance}}")],
        w=6, h=5, mappings=UPDOWN, thresholds=RED_GREEN, options={**STAT(), "colorMode": "background", "graphMode": "none"})
d.panel("stat", "Config reload", [tgt(f'cctv_monitor_config_last_reload_successful{I}', "{{instance}}")],
        w=6, h=5, mappings=[{"type": "value", "options": {"0": {"text": "failed", "color": "red", "index": 0},
                                                           "1": {"text": "ok", "color": "green", "index": 1}}}],
        thresholds=RED_GREEN, options={**STAT(), "colorMode": "background", "graphMode": "none"})
d.panel("stat", "Cameras", [tgt(f'cctv_monitor_cameras{I}', "{{instance}}")],
        w=6, h=5, options=STAT())
d.panel("stat", "Probes in flight", [tgt(f'cctv_monitor_probes_in_flight{I}', "{{instance}}")],
        w=6, h=5, options=STAT())
d.panel("timeseries", "Probe start lag", [
    tgt(f'histogram_quantile(0.5, sum by (instance, le) (rate(cctv_monitor_probe_lag_seconds_bucket{I}[$__rate_interval])))', "{{instance}} p50"),
    tgt(f'histogram_quantile(0.9, sum by (instance, le) (rate(cctv_monitor_probe_lag_seconds_bucket{I}[$__rate_interval])))', "{{instance}} p90"),
    tgt(f'histogram_quantile(0.99, sum by (instance, le) (rate(cctv_monitor_probe_lag_seconds_bucket{I}[$__rate_interval])))', "{{instance}} p99"),
    tgt('cctv:monitor_probe_lag_p99_seconds:threshold', "alert threshold (p99)")],
    w=12, h=8, unit="s", field=ts_field(fill=0), options=TS(),
    desc="How late probes start against their schedule; MonitorProbeLag fires when p99 stays over the threshold for 10m.")
d.panel("timeseries", "Probes in flight", [tgt(f'cctv_monitor_probes_in_flight{I}', "{{instance}}")],
        w=12, h=8, field=ts_field(), options=TS())
d.panel("timeseries", "Probes per second by check", [
    tgt(f'sum by (check) (rate(cctv_probes_total{I}[$__rate_interval]))', "{{check}}")],
    w=12, h=8, unit="ops", field=ts_field(stack=True), options=TS())
d.panel("timeseries", "Failed probes per second by reason", [
    tgt(f'sum by (reason) (rate(cctv_probe_failures_total{I}[$__rate_interval]))', "{{reason}}")],
    w=12, h=8, unit="ops", field=ts_field(stack=True), options=TS())
d.panel("timeseries", "Scrape duration", [tgt(f'scrape_duration_seconds{I}', "{{instance}}")],
        w=12, h=8, unit="s", field=ts_field(fill=0), options=TS())
d.panel("timeseries", "Samples per scrape", [tgt(f'scrape_samples_scraped{I}', "{{instance}}")],
        w=12, h=8, field=ts_field(fill=0), options=TS())
d.save("monitor-health.json")
