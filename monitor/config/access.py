"""``access:``: the roles of the web users (admin, viewer, prometheus, provider NAME).

The passwords stay in ``--web.config.file``; this section only says who is who, so that a
reload can change a user's role without touching the web config.  A user listed in two
roles is an error (one user, one answer to "what may they see"), as is an undeclared
provider.
"""

from __future__ import annotations

from yaml.nodes import Node

from ..model import AccessSettings
from .keys import ACCESS, ACCESS_PROVIDER, MAX_LABEL
from .tree import is_null
from .values import Values


class AccessSection(Values):
    def access(self, providers: set[str]) -> AccessSettings:
        found = self.single("access")
        if found is None:
            return AccessSettings()
        f = self.fields(found[1], ACCESS.path, ACCESS.names)
        if f is None:
            return AccessSettings(configured=True)
        seen: dict[str, str] = {}
        lists: dict[str, tuple[str, ...]] = {}
        for role in ("admins", "viewers", "prometheus"):
            pair = f.get(role)
            lists[role] = () if pair is None or is_null(pair[1]) else \
                self._users(pair[1], f"access.{role}", role, seen)
        out: list[tuple[str, tuple[str, ...]]] = []
        pair = f.get("providers")
        if pair is not None:
            for index, node in enumerate(self.items(pair[1], "access.providers")):
                path = f"access.providers[{index}]"
                pf = self.fields(node, path, ACCESS_PROVIDER.names)
                if pf is None:
                    continue
                if "provider" not in pf:
                    self.err(node, path, "missing required key 'provider'")
                    continue
                name = self.required_text(pf["provider"][1], f"{path}.provider")
                if name is None or self.too_long(pf["provider"][1], f"{path}.provider", name,
                                                 MAX_LABEL):
                    continue
                if name not in providers:
                    self.err(pf["provider"][1], f"{path}.provider",
                             f"unknown provider {name!r}{self.hint(name, providers)}")
                    continue
                upair = pf.get("users")
                users = () if upair is None or is_null(upair[1]) else \
                    self._users(upair[1], f"{path}.users", f"provider {name}", seen)
                out.append((name, users))
        return AccessSettings(configured=True, admins=lists["admins"], viewers=lists["viewers"],
                              prometheus=lists["prometheus"], providers=tuple(out))

    def _users(self, node: Node, path: str, role: str, seen: dict[str, str]) -> tuple[str, ...]:
        out: list[str] = []
        for index, vnode in enumerate(self.items(node, path)):
            vpath = f"{path}[{index}]"
            user = self.required_text(vnode, vpath)
            if user is None or self.too_long(vnode, vpath, user, MAX_LABEL):
                continue
            if user in seen:
                self.err(vnode, vpath, f"user {user!r} already has a role ({seen[user]}): "
                                       "one role per user")
                continue
            seen[user] = role
            out.append(user)
        return tuple(out)
