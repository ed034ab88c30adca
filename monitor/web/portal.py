"""The provider portal: camera outages, disputes and decisions as plain HTML pages.

- ``GET /outages`` (a month's camera outages), ``GET /outages/{id}`` (one, its disputes and,
  for its provider's users, the dispute form), ``POST /outages/{id}/disputes`` (file one);
- ``GET /disputes``, ``GET /disputes/{id}`` (with the admin's decision form),
  ``POST /disputes/{id}/decision``, ``GET /disputes/decisions`` (the audit list).

The forms work without JavaScript (the pages have none: the Content-Security-Policy of
monitor.web.auth forbids it), in English and Bahasa Indonesia (``?lang=id``).  Every change is
a POST carrying a CSRF token: an HMAC, under a per-process key, of the user, what the form
acts on, when it was issued and a random nonce.  A token is good for `TOKEN_SECONDS`, for
that user and that object only, and once: its nonce is stored with the row (a UNIQUE
column), so a replayed form stores nothing, even after a restart.  A POST whose Origin is
another site is refused before the token is read.  Who may see or do what is
monitor.web.access's; an object of another provider is answered 404, as one that does not exist.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import time
from html import escape
from typing import Any, Callable

from aiohttp import web

from .access import Principal
from ..history import disputes as store
from ..report.i18n import Words

log = logging.getLogger("cctv.portal")

TOKEN_SECONDS = 3600.0
MAX_LISTED = 2000  # outages on one page, newest first (the month's report lists them all)
NO_STORE = {"Cache-Control": "no-store"}
CSS = ("body{font:14px system-ui,sans-serif;margin:16px;max-width:1100px}td,th{padding:4px 8px;"
       "border-bottom:1px solid #ddd;text-align:left;vertical-align:top}.bad{color:#b00020}"
       ".ok{color:#1b5e20}textarea{width:100%;max-width:700px}label{display:block;margin:8px 0 2px}"
       ".msg{padding:8px;background:#eef5ee}.err{padding:8px;background:#fdecea}")


class Csrf:
    """One-time form tokens bound to a user and to what the form acts on."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._key = os.urandom(32)
        self.clock = clock

    def _mac(self, user: str, purpose: str, issued: str, nonce: str) -> str:
        msg = "\0".join((user, purpose, issued, nonce)).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, user: str, purpose: str) -> str:
        issued, nonce = str(int(self.clock())), secrets.token_hex(16)
        return f"{issued}.{nonce}.{self._mac(user, purpose, issued, nonce)}"

    def check(self, token: str, user: str, purpose: str) -> str | None:
        """The token's nonce when it is valid for this user and purpose now, else None."""
        parts = (token or "").split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(token) > 200:
            return None
        issued, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(user, purpose, issued, nonce)):
            return None
        if not 0 <= self.clock() - int(issued) <= TOKEN_SECONDS:
            return None
        return nonce


def _page(w: Words, title: str, body: str, status: int = 200) -> web.Response:
    html = (f'<!DOCTYPE html><html lang="{w.lang}"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f'<p><a href="/status">/status</a> · <a href="/outages?lang={w.lang}">{escape(w("camera_outages"))}</a>'
            f' · <a href="/disputes?lang={w.lang}">{escape(w("disputes"))}</a>'
            f' · <a href="/disputes/decisions?lang={w.lang}">{escape(w("decisions"))}</a>'
            f' · <a href="/reports?lang={w.lang}">{escape(w("reports"))}</a></p>'
            f"<h1>{escape(title)}</h1>{body}</body></html>")
    return web.Response(text=html, status=status, content_type="text/html", headers=NO_STORE)


def _message(w: Words, key: str, **fmt: object) -> str:
    """A refusal in the page's language, saying that nothing was stored."""
    return f"{w(key, **fmt)}; {w('nothing_stored')}"


def _err(w: Words, key: str, **fmt: object) -> str:
    return f"<p class=err>{escape(_message(w, key, **fmt))}</p>"


def _refused(w: Words, exc: store.DisputeError) -> str:
    fmt = dict(exc.fmt)
    for k in ("n", "max"):
        if isinstance(fmt.get(k), int):
            fmt[k] = w.number(fmt[k])  # type: ignore[arg-type]
    if "what" in fmt:
        fmt["what"] = w(str(fmt["what"]) if fmt["what"] in ("text", "note") else "text")
    return _message(w, "err_" + exc.key, **fmt) if exc.key else f"{exc}; {w('nothing_stored')}"


def _words(request: web.Request) -> Words:
    return Words("id" if request.query.get("lang") == "id" else "en")


def _id(request: web.Request) -> int | None:
    text = request.match_info["id"]
    return int(text) if text.isdigit() and len(text) < 18 else None


class Portal:
    def __init__(self, state: Any, target: str | None, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.target = target
        self.clock = clock
        self.csrf = Csrf(clock)

    def install(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/outages", self.outages, name="outages")
        r.add_get("/outages/{id}", self.outage, name="outage")
        r.add_post("/outages/{id}/disputes", self.file, name="dispute_file")
        r.add_get("/disputes", self.disputes, name="disputes")
        r.add_get("/disputes/decisions", self.decisions, name="decisions")
        r.add_get("/disputes/{id}", self.dispute, name="dispute")
        r.add_post("/disputes/{id}/decision", self.decide, name="dispute_decide")

    # ------------------------------------------------------------------ helpers

    def _tz(self) -> Any:
        from ..report import timezone_of

        return timezone_of(self.state.inventory)

    def _t(self, ts: float) -> str:
        return dt.datetime.fromtimestamp(ts, self._tz()).strftime("%Y-%m-%d %H:%M:%S")

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(conn, dialect, *args) on a connection of its own in a worker thread."""
        from ..history.writer import connect, is_postgres

        def work() -> Any:
            if not is_postgres(self.target) and not os.path.isfile(self.target):  # type: ignore[arg-type]
                # never create the file: an empty one where the ledger was would hide its loss
                # from the writer (monitor/history/spool.py's marker)
                raise FileNotFoundError("the ledger's file is not there")
            conn, dialect = connect(self.target)  # type: ignore[arg-type]
            try:
                return fn(conn, dialect, *args)
            finally:
                conn.close()

        try:
            return await asyncio.get_running_loop().run_in_executor(None, work)
        except store.DisputeError:
            raise
        except Exception as exc:  # noqa: BLE001 - the ledger away: one line, a clear answer
            from ..logsetup import redact

            log.error("disputes: the ledger cannot be read or written: %s: %s",
                      exc.__class__.__name__, redact(str(exc)))
            raise web.HTTPServiceUnavailable(
                text="the outage ledger cannot be read or written now; nothing stored; "
                     "try again later\n", headers=NO_STORE) from None

    def _no_ledger(self, w: Words) -> web.Response:
        return _page(w, w("disputes"), "<p>no outage ledger configured (history:)</p>", 404)

    @staticmethod
    def _who(request: web.Request) -> Principal:
        from .app import principal

        return principal(request)

    # ------------------------------------------------------------------ outages

    async def outages(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        who = self._who(request)
        tz = self._tz()
        month = request.query.get("month") or dt.datetime.fromtimestamp(self.clock(), tz).strftime("%Y-%m")
        from ..report.compute import period_of

        try:
            start, end, _label = period_of(month, None, None, tz)
        except ValueError:
            return _page(w, w("camera_outages"), "<p class=err>month: YYYY-MM</p>", 400)
        provider = who.scope if who.scope is not None else (request.query.get("provider") or None)
        rows = await self._db(store.outages, start.timestamp(), end.timestamp(), provider,
                              MAX_LISTED + 1)
        more = len(rows) > MAX_LISTED
        rows = rows[:MAX_LISTED]
        body = "".join(
            f'<tr><td><a href="/outages/{o.id}?lang={w.lang}">{o.id}</a></td><td>{escape(o.camera)}</td>'
            f"<td>{escape(o.provider)}</td><td>{self._t(o.start)}</td><td>{self._t(o.end)}"
            f"{' …' if o.open else ''}</td><td>{o.end - o.start:,.0f}</td><td>{escape(o.reason)}</td></tr>"
            for o in rows)
        head = "".join(f"<th>{escape(w(k))}</th>" for k in ("camera", "provider", "start", "end", "seconds", "reason"))
        return _page(w, f"{w('camera_outages')} {month}",
                     (f"<table><tr><th>#</th>{head}</tr>{body}</table>" if rows else f"<p>{escape(w('no_outages'))}</p>")
                     + (f"<p>{escape(w('newest_only', n=w.number(MAX_LISTED)))}</p>" if more else ""))

    async def _outage_or_404(self, request: web.Request, w: Words) -> Any:
        oid = _id(request)
        o = None if oid is None else await self._db(store.outage, oid)
        if o is None or o.kind != "camera" or not self._who(request).sees(o.provider):
            return None
        return o

    async def outage(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        o = await self._outage_or_404(request, w)
        if o is None:
            return _page(w, w("camera_outages"), f"<p class=err>{escape(w('err_no_outage'))}</p>", 404)
        return await self._outage_page(request, w, o)

    async def _outage_page(self, request: web.Request, w: Words, o: Any, error: str = "",
                           status: int = 200) -> web.Response:
        who = self._who(request)
        found = await self._db(store.load, o.provider)
        mine = [d for d in found if d.outage == o.id]
        parts = [f"<p class=err>{escape(error)}</p>" if error else "",
                 f"<table><tr><th>{escape(w('camera'))}</th><td>{escape(o.camera)}</td></tr>"
                 f"<tr><th>{escape(w('provider'))}</th><td>{escape(o.provider)}</td></tr>"
                 f"<tr><th>{escape(w('start'))}</th><td>{self._t(o.start)}</td></tr>"
                 f"<tr><th>{escape(w('end'))}</th><td>{self._t(o.end)}{' …' if o.open else ''}</td></tr>"
                 f"<tr><th>{escape(w('reason'))}</th><td>{escape(o.reason)} ({escape(o.check)})</td></tr></table>",
                 self._dispute_table(w, mine)]
        if who.role == "provider" and who.provider == o.provider:
            token = self.csrf.issue(who.user, f"file:{o.id}")
            options = "".join(f'<option value="{r}">{escape(w("reason_" + r))}</option>' for r in store.REASONS)
            parts.append(
                f'<h2>{escape(w("file_dispute"))}</h2>'
                f'<form method="post" action="/outages/{o.id}/disputes?lang={w.lang}">'
                f'<input type="hidden" name="csrf" value="{escape(token)}">'
                f'<label for="reason">{escape(w("reason"))}</label><select id="reason" name="reason">{options}</select>'
                f'<label for="start">{escape(w("start"))}</label>'
                f'<input id="start" name="start" type="datetime-local" step="1" value="">'
                f'<label for="end">{escape(w("end"))}</label>'
                f'<input id="end" name="end" type="datetime-local" step="1" value="">'
                f"<p>{escape(w('span_hint'))}</p>"
                f'<label for="text">{escape(w("text"))}</label>'
                f'<textarea id="text" name="text" rows="5" maxlength="{store.MAX_TEXT}"></textarea>'
                f"<p>{escape(w('text_hint', n=store.MAX_TEXT))}</p>"
                f'<p><button type="submit" id="submit">{escape(w("file_dispute"))}</button></p></form>')
        return _page(w, f"{w('camera_outages')} #{o.id}", "".join(parts), status)

    def _dispute_table(self, w: Words, found: list) -> str:
        if not found:
            return f"<p>{escape(w('no_disputes'))}</p>"
        head = "".join(f"<th>{escape(w(k))}</th>" for k in (
            "dispute", "camera", "start", "end", "seconds", "reason", "filed_by", "dispute_status", "note"))
        rows = "".join(
            f'<tr class="dispute-{d.status}"><td><a href="/disputes/{d.id}?lang={w.lang}">{d.id}</a></td>'
            f"<td>{escape(d.camera)}</td><td>{self._t(d.start)}</td><td>{self._t(d.end)}</td>"
            f"<td>{d.seconds:,.0f}</td><td>{escape(w('reason_' + d.reason))}</td><td>{escape(d.filed_by)}</td>"
            f'<td class="{"bad" if d.status == "pending" else "ok"}">{escape(w("status_" + d.status))}</td>'
            f"<td>{escape(d.note)}</td></tr>" for d in found)
        return f"<table><tr>{head}</tr>{rows}</table>"

    def _when(self, text: str) -> float | None:
        """A datetime-local field (report time zone) as UNIX seconds; empty: None."""
        text = (text or "").strip()
        if not text:
            return None
        if len(text) > 40:
            raise ValueError(text[:40])
        return dt.datetime.fromisoformat(text).replace(tzinfo=self._tz()).timestamp()

    async def _form(self, request: web.Request, w: Words) -> Any:
        """The POSTed form, or an error answer (cross-origin, too large)."""
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site", "").lower()
        # Referrer-Policy: no-referrer makes browsers send "Origin: null" on a form of our
        # own; Sec-Fetch-Site then says where it came from (the token is checked anyway)
        foreign = origin is not None and origin != "null" and \
            origin.split("://", 1)[-1].lower() != request.host.lower()
        if (site and site not in ("same-origin", "none")) or foreign:
            return _page(w, w("disputes"), _err(w, "err_site"), 403)
        try:
            return await request.post()
        except web.HTTPRequestEntityTooLarge:
            return _page(w, w("disputes"), _err(w, "err_large", max=w.number(store.MAX_TEXT)), 413)

    async def file(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        who = self._who(request)
        form = await self._form(request, w)
        if isinstance(form, web.Response):
            return form
        o = await self._outage_or_404(request, w)
        if o is None or o.provider != who.provider:
            return _page(w, w("file_dispute"), _err(w, "err_no_outage"), 404)
        nonce = self.csrf.check(str(form.get("csrf", "")), who.user, f"file:{o.id}")
        if nonce is None:
            return _page(w, w("file_dispute"), _err(w, "err_token"), 403)
        try:
            start, end = self._when(str(form.get("start", ""))), self._when(str(form.get("end", "")))
        except ValueError:
            return await self._outage_page(request, w, o, _message(w, "err_when"), 400)
        try:
            new_id = await self._db(store.file, o.id, who.provider, str(form.get("reason", "")),
                                    str(form.get("text", "")), who.user, self.clock(), start, end, nonce)
        except store.DisputeError as exc:
            return await self._outage_page(request, w, o, _refused(w, exc), exc.status)
        log.info("dispute %d filed by %s on outage %d", new_id, who.user, o.id)
        raise web.HTTPSeeOther(f"/disputes/{new_id}?lang={w.lang}&done=filed")

    # ------------------------------------------------------------------ disputes

    async def disputes(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        found = await self._db(store.load, self._who(request).scope)
        return _page(w, w("disputes"), self._dispute_table(w, found[::-1]))

    async def _dispute_or_404(self, request: web.Request) -> Any:
        did = _id(request)
        found = [] if did is None else await self._db(store.load, None, None, None, did)
        if not found or not self._who(request).sees(found[0].provider):
            return None
        return found[0]

    async def dispute(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        d = await self._dispute_or_404(request)
        if d is None:
            return _page(w, w("dispute"), f"<p class=err>{escape(w('err_no_dispute'))}</p>", 404)
        return self._dispute_page(request, w, d)

    def _dispute_page(self, request: web.Request, w: Words, d: Any, error: str = "",
                      status: int = 200) -> web.Response:
        who = self._who(request)
        done = request.query.get("done")
        parts = [f"<p class=msg>{escape(w('filed', id=d.id) if done == 'filed' else w('decided'))}</p>"
                 if done in ("filed", "decided") else "",
                 f"<p class=err>{escape(error)}</p>" if error else "",
                 self._dispute_table(w, [d]),
                 f"<h2>{escape(w('text'))}</h2><p style=\"white-space:pre-wrap\">{escape(d.text)}</p>",
                 f'<p><a href="/outages/{d.outage}?lang={w.lang}">{escape(w("camera_outages"))} #{d.outage}</a></p>']
        if d.decisions:
            rows = "".join(f"<tr><td>{self._t(ts)}</td><td>{escape(w('status_' + a))}</td>"
                           f"<td>{escape(actor)}</td><td>{escape(note)}</td></tr>"
                           for ts, a, actor, note in d.decisions)
            parts.append(f"<h2>{escape(w('decisions'))}</h2><table><tr><th>{escape(w('when'))}</th>"
                         f"<th>{escape(w('action'))}</th><th>{escape(w('who'))}</th>"
                         f"<th>{escape(w('note'))}</th></tr>{rows}</table>")
        if who.role == "admin":
            token = self.csrf.issue(who.user, f"decide:{d.id}")
            parts.append(
                f'<h2>{escape(w("decide"))}</h2>'
                f'<form method="post" action="/disputes/{d.id}/decision?lang={w.lang}">'
                f'<input type="hidden" name="csrf" value="{escape(token)}">'
                f'<label for="note">{escape(w("note"))}</label>'
                f'<textarea id="note" name="note" rows="4" maxlength="{store.MAX_TEXT}"></textarea>'
                f'<p><button type="submit" name="decision" value="accept" id="accept">{escape(w("accept"))}</button> '
                f'<button type="submit" name="decision" value="reject" id="reject">{escape(w("reject"))}</button></p></form>')
        return _page(w, f"{w('dispute')} #{d.id}", "".join(parts), status)

    async def decide(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        who = self._who(request)
        form = await self._form(request, w)
        if isinstance(form, web.Response):
            return form
        d = await self._dispute_or_404(request)
        if d is None:
            return _page(w, w("dispute"), _err(w, "err_no_dispute"), 404)
        nonce = self.csrf.check(str(form.get("csrf", "")), who.user, f"decide:{d.id}")
        if nonce is None:
            return self._dispute_page(request, w, d, _message(w, "err_token"), 403)
        decision = str(form.get("decision", ""))
        if decision not in ("accept", "reject"):
            return self._dispute_page(request, w, d, _message(w, "err_decision"), 400)
        try:
            await self._db(store.decide, d.id, decision == "accept", str(form.get("note", "")),
                           who.user, self.clock(), nonce)
        except store.DisputeError as exc:
            return self._dispute_page(request, w, d, _refused(w, exc), exc.status)
        log.info("dispute %d %s by %s", d.id, "accepted" if decision == "accept" else "rejected", who.user)
        raise web.HTTPSeeOther(f"/disputes/{d.id}?lang={w.lang}&done=decided")

    async def decisions(self, request: web.Request) -> web.Response:
        w = _words(request)
        if not self.target:
            return self._no_ledger(w)
        rows = await self._db(store.decisions, self._who(request).scope)
        body = "".join(
            f"<tr><td>{self._t(ts)}</td><td><a href=\"/disputes/{did}?lang={w.lang}\">{did}</a></td>"
            f"<td>{escape(prov)}</td><td>{escape(w('status_' + action))}</td><td>{escape(actor)}</td>"
            f"<td>{escape(note)}</td></tr>" for _i, ts, action, did, prov, actor, note in rows)
        head = "".join(f"<th>{escape(w(k))}</th>" for k in ("when", "dispute", "provider", "action", "who", "note"))
        return _page(w, w("decisions"), f"<table><tr>{head}</tr>{body}</table>" if rows
                     else f"<p>{escape(w('no_disputes'))}</p>")
