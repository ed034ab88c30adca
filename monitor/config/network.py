"""Providers, command centres (their links and targets) and integrations."""

from __future__ import annotations

from urllib.parse import urlsplit

from yaml.nodes import Node, SequenceNode

from ..model import CommandCentre, Endpoint, Integration, Link, Milestone, Provider
from .keys import CENTRE, INTEGRATION, LINK, LINK_SCHEMES, MAX_LABEL, MILESTONE, PROVIDER
from .tree import node_at, is_null
from .values import show_url, Values



class NetworkSection(Values):
    centre_names: dict[str, tuple[str, Node]]

    def providers(self) -> tuple[Provider, ...]:
        out = []
        names: dict[str, tuple[str, Node]] = {}
        for _, path, f, name in self._named("providers", PROVIDER.names, "provider", names):
            target = self.scalars(f, PROVIDER, ("target_cameras",), path)["target_cameras"]
            sla = 0.0
            if "sla" in f and not is_null(f["sla"][1]):
                value = self.number(f["sla"][1], f"{path}.sla")
                if value is not None and not 0 < value <= 1:
                    self.err(f["sla"][1], f"{path}.sla",
                             f"must be greater than 0 and at most 1 (0.98 is 98%), got {value:g}")
                elif value is not None:
                    sla = value
            milestones: tuple[Milestone, ...] = ()
            pair = f.get("milestones")
            if pair is not None and not is_null(pair[1]):
                milestones = self.milestones(pair[1], f"{path}.milestones")
            out.append(Provider(name, target, sla, milestones))
        return tuple(out)

    def milestones(self, node: Node, path: str) -> tuple[Milestone, ...]:
        out: list[Milestone] = []
        before = len(self.issues)
        for index, mnode in enumerate(self.items(node, path)):
            mpath = f"{path}[{index}]"
            f = self.fields(mnode, mpath, MILESTONE.names)
            if f is None:
                continue
            missing = [k.name for k in MILESTONE.keys if k.name not in f or is_null(f[k.name][1])]
            if missing:
                self.err(mnode, mpath, f"missing required key {missing[0]!r}")
                continue
            v = self.scalars(f, MILESTONE, path=mpath)
            if v["by"] is None or v["cameras"] is None:
                continue
            step = Milestone(v["by"], v["cameras"])
            if out and step.by <= out[-1].by:
                self.err(f["by"][1], f"{mpath}.by", f"milestones must be in date order: "
                         f"{step.by} is not after {out[-1].by}")
            elif out and step.cameras < out[-1].cameras:
                self.err(f["cameras"][1], f"{mpath}.cameras", f"cameras must not decrease: "
                         f"{step.cameras} by {step.by} after {out[-1].cameras} by {out[-1].by}")
            out.append(step)
        return tuple(out) if len(self.issues) == before else ()

    def command_centres(self) -> tuple[CommandCentre, ...]:
        out = []
        named = self._named("command_centres", CENTRE.names, "command centre", self.centre_names)
        for node, path, f, name in named:
            links = []
            pair = f.get("links")
            nodes = [] if pair is None else self.items(pair[1], f"{path}.links")
            if not nodes and (pair is None or pair[1].__class__ is SequenceNode
                              or is_null(pair[1])):
                self.err(pair[1] if pair else node, f"{path}.links",
                         "a command centre needs at least one link")
            link_names: dict[str, int] = {}
            for index, lnode in enumerate(nodes):
                lpath = f"{path}.links[{index}]"
                lf = self.fields(lnode, lpath, LINK.names)
                if lf is None:
                    continue
                lname = None
                if "name" not in lf:
                    self.err(lnode, lpath, "missing required key 'name'")
                else:
                    lname = self.required_text(lf["name"][1], f"{lpath}.name")
                    if lname is not None and self.too_long(lf["name"][1], f"{lpath}.name",
                                                           lname, MAX_LABEL):
                        lname = None
                    elif lname is not None and lname in link_names:
                        self.err(lf["name"][1], f"{lpath}.name",
                                 f"duplicate link {lname!r} (first at line {link_names[lname]})")
                        lname = None
                    elif lname is not None:
                        link_names[lname] = lf["name"][1].start_mark.line + 1
                targets = []
                tpair = lf.get("targets")
                tnodes = [] if tpair is None else self.items(tpair[1], f"{lpath}.targets")
                if not tnodes and (tpair is None or tpair[1].__class__ is SequenceNode
                                   or is_null(tpair[1])):
                    self.err(tpair[1] if tpair else lnode, f"{lpath}.targets",
                             "a link needs at least one target")
                for tindex, tnode in enumerate(tnodes):
                    endpoint = self.link_target(tnode, f"{lpath}.targets[{tindex}]")
                    if endpoint is not None:
                        targets.append(endpoint)
                if lname is not None:
                    links.append(Link(lname, tuple(targets)))
            out.append(CommandCentre(name, tuple(links)))
        return tuple(out)

    def link_target(self, node: Node, path: str) -> Endpoint | None:
        endpoint = self.url(node, path, LINK_SCHEMES)
        if endpoint is None:
            return None
        parts = urlsplit(endpoint.url)
        scheme = parts.scheme.lower()
        shown = show_url(node.value)
        if scheme == "tcp":
            if parts.port is None:
                self.err(node, path,
                         f"{shown}: a tcp target needs a port, e.g. tcp://10.20.0.1:443")
                return None
            if parts.path not in ("", "/") or parts.query:
                self.err(node, path, f"{shown}: a tcp target is only tcp://host:port")
                return None
        elif scheme == "icmp":
            if (parts.port is not None or parts.path not in ("", "/") or parts.query
                    or endpoint.credentials is not None):
                self.err(node, path, f"{shown}: an icmp target is only icmp://host")
                return None
        return endpoint

    def integrations(self) -> tuple[Integration, ...]:
        out = []
        names: dict[str, tuple[str, Node]] = {}
        named = self._named("integrations", INTEGRATION.names, "integration", names)
        for _, path, f, name in named:
            if name in self.centre_names:
                self.err(f["name"][1], f"{path}.name",
                         f"{name!r} is already a command centre "
                         f"(at {node_at(*self.centre_names[name])}); "
                         "every command centre is an integration of its own name")
                continue
            centre = None
            pair = f.get("centre")
            if pair is not None and not is_null(pair[1]):
                centre = self.required_text(pair[1], f"{path}.centre")
                if centre is not None and self.too_long(pair[1], f"{path}.centre", centre,
                                                        MAX_LABEL):
                    centre = None
                elif centre is not None and centre not in self.centre_names:
                    self.err(pair[1], f"{path}.centre", f"unknown command centre {centre!r}"
                             f"{self.hint(centre, self.centre_names)}")
                    centre = None
            out.append(Integration(name, centre))
        out.extend(Integration(name, centre=name) for name in self.centre_names)
        return tuple(out)

    # ------------------------------------------------------------------ cameras
