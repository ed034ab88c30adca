"""What a status code of an HTTP or RTSP answer means as a probe reason.

RTSP/1.0 (RFC 2326) took its status codes from HTTP/1.1, and cameras answer both from the
same web stack, so the http check, the RTSP client (rtsp, feed and stream checks) and the
command-centre link's http targets read a status the same way here.  Each caller keeps its
own message (it knows the method and the phrase) and its own notion of success: the http
check wants exactly 200 with a picture, a link target counts a redirect as an answer.
"""

from __future__ import annotations

from ..model import Reason

__all__ = ["reason_for_status"]


def reason_for_status(status: int, *, credentials: bool) -> Reason:
    """The reason a final answer with this status ends a probe in.

    ``credentials`` says whether credentials were sent: a 401 then means they were refused
    (``auth_failed``), without them that the camera wants some (``auth_required``).
    2xx is ``ok``; 403, 404 and 5xx have their own reasons; anything else (a 3xx nobody
    follows, another 4xx, a status outside 100-599) is ``bad_response``.
    """
    if 200 <= status < 300:
        return Reason.OK
    if status == 401:
        return Reason.AUTH_FAILED if credentials else Reason.AUTH_REQUIRED
    if status == 403:
        return Reason.FORBIDDEN
    if status == 404:
        return Reason.NOT_FOUND
    if 500 <= status < 600:
        return Reason.SERVER_ERROR
    return Reason.BAD_RESPONSE
