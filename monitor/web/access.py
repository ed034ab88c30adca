"""Who may do what on the web port: one function, `decide`, for every route and every role.

Roles (monitor.model.AccessSettings, the configuration's `access:`):

- ``admin``: the city.  Everything: every page, /metrics, reloads, deciding disputes.
- ``viewer``: every page, read only (no reload, no decision, no filing).
- ``prometheus``: /metrics, /-/reload and the health endpoints.
- ``provider``: that provider's cameras, feeds, outages, reports and disputes only; it may
  file disputes on its own outages.  Other providers do not appear at all (no names, no
  totals): a total would let a provider subtract its own figures and learn a competitor's.
- no role (a valid password, no `access:` entry): ``/-/healthy`` only.

Without a web config there are no users: the monitor is local and trusted, everyone is an
admin (as before roles existed).  With a web config and no `access:` section, every
authenticated user is an admin too, so that existing deployments keep working; the start
logs it once.

`decide` answers for the route alone; a provider's right to one object (a camera, an outage,
a report, a dispute) is then the handler's, through `Principal.sees(provider)`: an object of
another provider is answered 404, exactly as one that does not exist, so that ids cannot be
probed.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Route name -> the roles allowed.  Every route the application serves has a name here
#: (tests/test_access.py walks the router and this table both ways).
ROUTES: dict[str, frozenset[str]] = {
    "healthy": frozenset({"admin", "viewer", "prometheus", "provider", ""}),
    "healthz": frozenset({"admin", "viewer", "prometheus", "provider"}),
    "ready": frozenset({"admin", "viewer", "prometheus", "provider"}),
    "ready_prom": frozenset({"admin", "viewer", "prometheus", "provider"}),
    "metrics": frozenset({"admin", "prometheus"}),
    "reload": frozenset({"admin", "prometheus"}),
    "index": frozenset({"admin", "viewer", "provider"}),
    "status": frozenset({"admin", "viewer", "provider"}),
    "api_cameras": frozenset({"admin", "viewer", "provider"}),
    "api_camera": frozenset({"admin", "viewer", "provider"}),
    "api_evidence": frozenset({"admin", "viewer", "provider"}),
    "reports": frozenset({"admin", "viewer", "provider"}),
    "report_custom": frozenset({"admin", "viewer", "provider"}),
    "report_file": frozenset({"admin", "viewer", "provider"}),
    "outages": frozenset({"admin", "viewer", "provider"}),
    "outage": frozenset({"admin", "viewer", "provider"}),
    "dispute_file": frozenset({"provider"}),
    "disputes": frozenset({"admin", "viewer", "provider"}),
    "dispute": frozenset({"admin", "viewer", "provider"}),
    "dispute_decide": frozenset({"admin"}),
    "decisions": frozenset({"admin", "viewer", "provider"}),
}

#: The path of each route, for the documentation and the tests.
PATHS: dict[str, tuple[str, str]] = {
    "healthy": ("GET", "/-/healthy"),
    "healthz": ("GET", "/healthz"),
    "ready": ("GET", "/readyz"),
    "ready_prom": ("GET", "/-/ready"),
    "metrics": ("GET", "/metrics"),
    "reload": ("POST", "/-/reload"),
    "index": ("GET", "/"),
    "status": ("GET", "/status"),
    "api_cameras": ("GET", "/api/cameras"),
    "api_camera": ("GET", "/api/cameras/{camera}"),
    "api_evidence": ("GET", "/api/cameras/{camera}/evidence.jpg"),
    "reports": ("GET", "/reports"),
    "report_custom": ("GET", "/reports/custom"),
    "report_file": ("GET", "/reports/{month}/{name}"),
    "outages": ("GET", "/outages"),
    "outage": ("GET", "/outages/{id}"),
    "dispute_file": ("POST", "/outages/{id}/disputes"),
    "disputes": ("GET", "/disputes"),
    "dispute": ("GET", "/disputes/{id}"),
    "dispute_decide": ("POST", "/disputes/{id}/decision"),
    "decisions": ("GET", "/disputes/decisions"),
}
ROLES = ("admin", "viewer", "prometheus", "provider", "")


@dataclass(frozen=True, slots=True)
class Principal:
    user: str  # "" without authentication
    role: str  # one of ROLES
    provider: str = ""  # the provider of a provider user

    def sees(self, provider: str) -> bool:
        """May this principal see an object belonging to `provider`?"""
        return self.role in ("admin", "viewer") or (self.role == "provider"
                                                   and provider == self.provider)

    @property
    def scope(self) -> str | None:
        """The one provider this principal is limited to, None for all of them."""
        return self.provider if self.role == "provider" else None


#: Who is asking when there is no web config: the local, trusted operator.
LOCAL = Principal("", "admin")


def principal_of(user: str | None, access: object) -> Principal:
    """The principal of an authenticated `user` (None: no authentication configured)."""
    if user is None:
        return LOCAL
    if not getattr(access, "configured", False):
        return Principal(user, "admin")
    role, provider = access.role_of(user)  # type: ignore[attr-defined]
    return Principal(user, role, provider)


def decide(principal: Principal, route: str) -> int:
    """The HTTP status a principal gets for a route before its handler runs: 0 (go on),
    403 (authenticated, not allowed) or 404 (an unknown route name: never served)."""
    allowed = ROUTES.get(route)
    if allowed is None:
        return 404
    return 0 if principal.role in allowed else 403
