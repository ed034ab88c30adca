"""The camera's clock, read from the ``Date:`` header its RTSP and HTTP answers already carry.

Owns `offset(date, sent, received)`: camera minus monitor, in seconds, with no extra
request.  The camera stamped its answer somewhere between our sending the request and
receiving the answer (wall-clock times, `time.time()`); the midpoint of that round trip is
our best guess of the moment.  ``Date`` has a resolution of one second and cameras truncate
(the header says 12:00:07 from 12:00:07.000 to 12:00:07.999), so the camera's time is taken
as the header plus 0.5 s.  The offset is therefore known to within +/- (0.5 s + half the
round trip): fine for the drift that matters (minutes, hours, a camera still in 1970 or
2000 after a power cut without NTP), not for sub-second skew.

Formats accepted: RFC 7231 IMF-fixdate (``Sun, 29 Nov 2026 08:00:07 GMT``, what RTSP 1.0
and HTTP specify) and the other forms `email.utils` parses (RFC 850, asctime, which RFC 7231 makes
GMT, numeric zones).  A header that does not parse, or without a time zone, gives None: a camera that
writes its local time without saying so must not read as a 7-hour drift.
"""

from __future__ import annotations

import datetime
import email.utils
import re

#: asctime ("Sun Nov 29 08:00:07 2026") carries no zone, yet RFC 7231 says it is GMT.
_ASCTIME = re.compile(r"^[A-Za-z]{3} [A-Za-z]{3} +\d{1,2} \d\d:\d\d:\d\d \d{4}$")


def offset(date: str | None, sent: float, received: float) -> float | None:
    """Camera minus monitor (seconds) from a ``Date`` value and the request's wall-clock
    send and receive times; None when there is no usable Date."""
    if not date:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(date.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        if not _ASCTIME.match(date.strip()):
            return None
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    try:
        camera = parsed.timestamp() + 0.5
    except (OverflowError, OSError, ValueError):
        return None
    return round(camera - (sent + received) / 2, 3)


class ClockReading:
    """The best reading of one probe's answers: the one with the shortest round trip."""

    __slots__ = ("offset", "rtt")

    def __init__(self) -> None:
        self.offset: float | None = None
        self.rtt = float("inf")

    def take(self, date: str | None, sent: float, received: float) -> None:
        rtt = received - sent
        if rtt >= self.rtt:
            return
        value = offset(date, sent, received)
        if value is not None:
            self.offset, self.rtt = value, rtt
