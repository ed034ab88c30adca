"""Cameras: identity and labels, credentials and password files, URLs, checks, feeds."""

from __future__ import annotations

import os

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..checks import CAMERA_CHECKS, active_checks, default_checks, needs
from ..model import Camera, Credentials, Endpoint, MonitorSettings
from .durations import format_duration
from .keys import CAMERA, FEED_SCHEMES, HTTP_SCHEMES, MAX_ID, MAX_LABEL, RTSP_SCHEMES
from .secretfile import SecretFileError, read_secret
from .tree import node_at, is_null, join_key, kind_of, simple_text
from .values import Values

_CAMERA_TEXT_KEYS = ("name", "district", "zone", "uplink")


class CamerasSection(Values):
    password_files: dict[str | tuple[str, str], str | Exception]

    def password_file(self, node: Node, path: str) -> str | None:
        name = self.required_text(node, path)
        if name is None:
            return None
        # Thousands of cameras name the same file: read it once, and skip even the path
        # arithmetic when the same file of the configuration names it again.
        content = self.password_files.get((self.file, name))
        if content is None:
            full = os.path.normpath(os.path.join(os.path.dirname(self.file), name))
            content = self.password_files.get(full)
        if content is None:
            try:
                content = read_secret(full).decode("utf-8").rstrip("\r\n")
                self.files.append(full)
                if content:
                    self.secrets.add(content)
            except (OSError, UnicodeError, SecretFileError) as exc:
                content = exc
            self.password_files[full] = content
        self.password_files[(self.file, name)] = content
        if isinstance(content, UnicodeError):
            self.err(node, path, f"password_file {name!r} is not UTF-8 text")
            return None
        if isinstance(content, SecretFileError):
            self.err(node, path, f"password_file {name!r} {content}")
            return None
        if isinstance(content, OSError):
            self.err(node, path,
                     f"cannot read password_file {name!r}: {content.strerror or content}")
            return None
        if not content:
            self.err(node, path, f"password_file {name!r} is empty")
            return None
        return content

    def cameras(self, settings: MonitorSettings, providers: set[str],
                integrations: set[str]) -> tuple[Camera, ...]:
        out: list[Camera] = []
        ids: dict[str, tuple[str, Node]] = self.camera_ids
        self.settings_now = settings
        self.check_lists: dict[object, list[str]] = {}  # resolved check lists, shared
        min_interval = settings.timeout
        for doc in self.docs:
            pair = doc.sections.get("cameras")
            if pair is None:
                continue
            self.file = doc.file
            for index, node in enumerate(self.items(pair[1], "cameras")):
                camera = self.camera(node, f"cameras[{index}]", ids, min_interval,
                                     providers, integrations)
                if camera is not None:
                    out.append(camera)
        return tuple(out)

    def camera(self, node: Node, path: str, ids: dict, min_interval: float,
               providers: set[str], integrations: set[str]) -> Camera | None:
        f = self.fields(node, path, CAMERA.names)
        if f is None:
            return None
        before = len(self.issues)
        get = f.get
        null = is_null

        cid = None
        pair = get("id")
        if pair is None:
            self.err(node, path, "missing required key 'id'")
        else:
            cid = self.required_text(pair[1], f"{path}.id")
            if cid is not None and len(cid) > MAX_ID and self.too_long(pair[1], f"{path}.id",
                                                                       cid, MAX_ID):
                cid = None
            elif cid is not None:
                first = ids.get(cid)
                if first is not None:
                    self.err(pair[1], f"{path}.id",
                             f"duplicate camera id {cid!r} (first at {node_at(*first)})")
                else:
                    ids[cid] = (self.file, pair[1])

        values: dict[str, str] = {}
        for key in _CAMERA_TEXT_KEYS:
            pair = get(key)
            if pair is not None:
                value = simple_text(pair[1])
                if value is None and not null(pair[1]):
                    value = self.text(pair[1], f"{path}.{key}")
                if value is not None and not (len(value) > MAX_LABEL and self.too_long(
                        pair[1], f"{path}.{key}", value, MAX_LABEL)):
                    values[key] = value

        provider = ""
        pair = get("provider")
        if pair is not None and not null(pair[1]):
            provider = self.required_text(pair[1], f"{path}.provider") or ""
            if len(provider) > MAX_LABEL and self.too_long(pair[1], f"{path}.provider",
                                                           provider, MAX_LABEL):
                provider = ""
            elif provider and provider not in providers:
                hint = self.hint(provider, providers) if providers else \
                    " (no providers are declared)"
                self.err(pair[1], f"{path}.provider", f"unknown provider {provider!r}{hint}")

        location = None
        pair = get("location")
        if pair is not None and not null(pair[1]):
            location = self.location(pair[1], f"{path}.location")

        creds = self.credentials(f, path)

        rtsp = http = None
        has_rtsp = (pair := get("rtsp")) is not None and not null(pair[1])
        if has_rtsp:
            rtsp = self.url(pair[1], f"{path}.rtsp", RTSP_SCHEMES, creds)
        has_http = (pair := get("http")) is not None and not null(pair[1])
        if has_http:
            http = self.url(pair[1], f"{path}.http", HTTP_SCHEMES, creds)
        if not has_rtsp and not has_http:
            self.err(node, path, "a camera needs rtsp: or http: (or both)")
        onvif = None
        has_onvif = (pair := get("onvif")) is not None and not null(pair[1])
        if has_onvif:
            onvif = self.url(pair[1], f"{path}.onvif", HTTP_SCHEMES, creds)

        pair = get("checks")
        if pair is None or null(pair[1]):
            # The catalogue's rule, once per combination of URLs a camera has.
            present = (has_rtsp, has_http, has_onvif)
            checks = self.check_lists.get(present)
            if checks is None:
                fields = {f for f, has in zip(("rtsp", "http", "onvif"), present) if has}
                checks = self.check_lists[present] = list(
                    default_checks(fields, self.settings_now))
        else:
            checks = self.checks(pair[1], f"{path}.checks", has_rtsp, has_http, has_onvif)

        own: list[str] = []
        pair = get("integrations")
        if pair is not None:
            ipath = f"{path}.integrations"
            for index, inode in enumerate(self.items(pair[1], ipath)):
                name = self.required_text(inode, f"{ipath}[{index}]")
                if name is None or len(name) > MAX_LABEL and self.too_long(
                        inode, f"{ipath}[{index}]", name, MAX_LABEL):
                    continue
                if name not in integrations:
                    self.err(inode, f"{ipath}[{index}]",
                             f"unknown integration {name!r}{self.hint(name, integrations)}")
                elif name in own:
                    self.err(inode, f"{ipath}[{index}]", f"{name!r} is listed twice")
                else:
                    own.append(name)

        feeds: list[tuple[str, Endpoint]] = []
        pair = get("feeds")
        if pair is not None and not null(pair[1]):
            feeds = self.feeds(pair[1], f"{path}.feeds", integrations, own)

        interval = None
        pair = get("interval")
        if pair is not None and not null(pair[1]):
            interval = self.duration(pair[1], f"{path}.interval")
            if interval is not None and interval < min_interval:
                self.err(pair[1], f"{path}.interval",
                         f"interval ({format_duration(interval)}) must not be shorter than "
                         f"monitor.timeout ({format_duration(min_interval)})")

        claimed = None
        pair = get("claimed_installed")
        if pair is not None and not null(pair[1]):
            claimed = self.date(pair[1], f"{path}.claimed_installed")

        if cid is None or len(self.issues) != before:
            return None
        return Camera(
            id=cid,
            name=values.get("name", ""),
            provider=provider,
            district=values.get("district", ""),
            zone=values.get("zone", ""),
            location=location,
            uplink=values.get("uplink", ""),
            rtsp=rtsp,
            http=http,
            onvif=onvif,
            checks=tuple(checks),
            integrations=tuple(own),
            feeds=tuple(feeds),
            interval=interval,
            claimed_installed=claimed,
        )

    def credentials(self, f: dict, path: str) -> Credentials | None:
        username = password = None
        pair = f.get("username")
        if pair is not None and not is_null(pair[1]):
            username = self.required_text(pair[1], f"{path}.username")
        ppair = f.get("password")
        if ppair is not None and not is_null(ppair[1]):
            # Never echo a password: type errors here say only what kind of value it was.
            if ppair[1].__class__ is not ScalarNode:
                self.err(ppair[1], f"{path}.password", f"expected a string, got {kind_of(ppair[1])}")
            else:
                password = self.text(ppair[1], f"{path}.password")
                if password:
                    self.secrets.add(password)
            if username is None and pair is None:
                self.err(ppair[0], f"{path}.password", "password needs username")
        fpair = f.get("password_file")
        if fpair is not None and not is_null(fpair[1]):
            if ppair is not None:
                self.err(fpair[0], f"{path}.password_file",
                         "use either password or password_file, not both")
            else:
                password = self.password_file(fpair[1], f"{path}.password_file")
                if pair is None:
                    self.err(fpair[0], f"{path}.password_file", "password_file needs username")
        if username is None:
            return None
        return Credentials(username, password or "")
    def checks(self, node: Node, path: str, has_rtsp: bool, has_http: bool,
               has_onvif: bool = False) -> list[str]:
        wanted: set[str] = set()
        nodes = self.items(node, path)
        if not nodes and node.__class__ is SequenceNode:
            self.err(node, path,
                     "no checks listed: list some, or leave checks out for the defaults")
        for index, cnode in enumerate(nodes):
            cpath = f"{path}[{index}]"
            check = self.required_text(cnode, cpath)
            if check is None:
                continue
            if check not in _CHECK_SET:
                self.err(cnode, cpath, f"unknown check {check!r}{self.hint(check, _CHECK_SET)}; "
                                       f"checks are {', '.join(CAMERA_CHECKS)}")
                continue
            if check in wanted:
                self.err(cnode, cpath, f"{check!r} is listed twice")
                continue
            fields = needs(check)
            present = {"rtsp": has_rtsp, "http": has_http, "onvif": has_onvif}
            if not any(present.get(f) for f in fields):
                if not (has_rtsp or has_http):
                    continue  # the camera already has its own "needs rtsp: or http:" error
                self.err(cnode, cpath,
                         f"check {check!r} needs {' or '.join(f'{f}:' for f in fields)}")
                continue
            wanted.add(check)
        # Checks whose round is off (stream.interval 0) are dropped: the catalogue's rule.
        key = frozenset(wanted)
        out = self.check_lists.get(key)
        if out is None:
            out = self.check_lists[key] = list(active_checks(wanted, self.settings_now))
        return out

    def feeds(self, node: Node, path: str, integrations: set[str],
              own: list[str]) -> list[tuple[str, Endpoint]]:
        if node.__class__ is not MappingNode:
            self.err(node, path, f"expected a mapping of integration: rtsp URL, got {kind_of(node)}")
            return []
        out: list[tuple[str, Endpoint]] = []
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            if knode.__class__ is not ScalarNode:
                self.err(knode, path, "keys must be plain text")
                continue
            name = knode.value
            fpath = join_key(path, name)
            if name in seen:
                self.err(knode, fpath, f"duplicate key {name!r} (first at line {seen[name]})")
                continue
            seen[name] = knode.start_mark.line + 1
            if name not in integrations:
                self.err(knode, fpath,
                         f"unknown integration {name!r}{self.hint(name, integrations)}")
                continue
            if name not in own:
                self.err(knode, fpath, f"a feed to {name!r} needs {name!r} in this camera's "
                                       "integrations")
                continue
            endpoint = self.url(vnode, fpath, FEED_SCHEMES)
            if endpoint is not None:
                out.append((name, endpoint))
        return out


_CHECK_SET = frozenset(CAMERA_CHECKS)
