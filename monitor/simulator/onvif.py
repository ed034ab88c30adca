"""The simulated cameras' ONVIF device service and clocks.

Owns what a camera says about itself: its clock (`camera_time`, also used for the
``Date:`` header of its RTSP and HTTP answers), its identity (`device_info`: manufacturer,
model, firmware, serial, hardware id) and the SOAP answers of the device service at
``POST /onvif/device_service`` on the camera's HTTP port (`answer`):

- ``GetSystemDateAndTime``: answered without authentication, as the ONVIF core
  specification requires (clients read it to correct their UsernameToken's time);
- ``GetDeviceInformation``: needs a WS-Security UsernameToken with a PasswordDigest,
  Base64(SHA-1(nonce + created + password)), checked against the fleet's credentials;
  a wrong digest is the ``ter:NotAuthorized`` SOAP fault (HTTP 400), as cameras answer.

Faults: ``clock_skew`` cameras run 2 minutes to 3 hours off (sign and size from the id);
``duplicate_device`` cameras answer with the serial of another camera of the fleet (one
device configured twice); other cameras keep a correct clock (they have NTP).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import re
import time
from xml.sax.saxutils import escape

import zlib


def stable_hash(text: str) -> int:
    # the same as base.stable_hash; not imported, since base imports this module
    return zlib.crc32(text.encode("utf-8"))

DEVICE_PATH = "/onvif/device_service"
_SKEWS = (125.0, -420.0, 1800.0, -3600.0, 10800.0, -95.0)
_MODELS = (
    ("Hikvision", "DS-2CD2143G2-I", "V5.7.3 build 220112"),
    ("Dahua", "IPC-HFW2431S-S-S2", "2.820.0000000.18.R"),
    ("Hikvision", "DS-2CD2T47G2-L", "V5.7.12 build 221014"),
    ("Axis", "P1455-LE", "10.12.199"),
)
_FAULT_OF_TOKEN = re.compile(rb"<[^>]*UsernameToken[^>]*>(.*?)</[^>]*UsernameToken>", re.S)


def clock_skew(cam) -> float:
    """Seconds the camera's clock is ahead of the real time (negative: behind)."""
    if cam.fault != "clock_skew":
        return 0.0
    return _SKEWS[stable_hash(cam.id + "/clock") % len(_SKEWS)]


def camera_time(cam) -> float:
    return time.time() + clock_skew(cam)


def date_header(cam) -> str:
    """The ``Date:`` header line of an answer from this camera (RFC 7231 form)."""
    return "Date: " + email.utils.formatdate(camera_time(cam), usegmt=True)


def serial_of(camera_id: str) -> str:
    return f"SN{stable_hash(camera_id + '/serial') % 10**10:010d}"


def device_info(cam, twin: str | None = None) -> dict[str, str]:
    """What GetDeviceInformation answers; `twin`: the camera id whose serial a
    duplicate_device camera reports."""
    make, model, firmware = _MODELS[stable_hash(cam.provider + "/model") % len(_MODELS)]
    serial = serial_of(twin if cam.fault == "duplicate_device" and twin else cam.id)
    return {"Manufacturer": make, "Model": model, "FirmwareVersion": firmware,
            "SerialNumber": serial, "HardwareId": f"{model.split('-')[0]}-{serial[-4:]}"}


def _tag(name: str, body: bytes) -> bytes | None:
    m = re.search(rb"<(?:[\w-]+:)?" + name.encode() + rb"\b[^>]*>(.*?)</(?:[\w-]+:)?"
                  + name.encode() + rb">", body, re.S)
    return m.group(1).strip() if m else None


def authorized(body: bytes, username: str, password: str) -> bool:
    """A WS-Security UsernameToken with a valid PasswordDigest for these credentials."""
    token = _FAULT_OF_TOKEN.search(body)
    if token is None:
        return False
    t = token.group(1)
    user, digest, nonce, created = (_tag(n, t) for n in ("Username", "Password", "Nonce", "Created"))
    if None in (user, digest, nonce, created) or user.decode("utf-8", "replace") != username:
        return False
    try:
        raw_nonce = base64.b64decode(nonce)
    except ValueError:
        return False
    expected = base64.b64encode(hashlib.sha1(raw_nonce + created + password.encode()).digest())
    return expected == digest


_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" '
    'xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:ter="http://www.onvif.org/ver10/error">'
    "<SOAP-ENV:Body>{}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
)


def _date_time(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return (f"<tt:UTCDateTime><tt:Time><tt:Hour>{d.hour}</tt:Hour><tt:Minute>{d.minute}</tt:Minute>"
            f"<tt:Second>{d.second}</tt:Second></tt:Time><tt:Date><tt:Year>{d.year}</tt:Year>"
            f"<tt:Month>{d.month}</tt:Month><tt:Day>{d.day}</tt:Day></tt:Date></tt:UTCDateTime>")


def answer(cam, body: bytes, username: str, password: str, twin: str | None) -> tuple[int, bytes]:
    """(HTTP status, SOAP envelope) for one device-service request."""
    if b"GetSystemDateAndTime" in body:
        inner = ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                 "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
                 "<tt:TimeZone><tt:TZ>WIB-7</tt:TZ></tt:TimeZone>"
                 f"{_date_time(camera_time(cam))}"
                 "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")
        return 200, _ENVELOPE.format(inner).encode()
    if b"GetDeviceInformation" in body:
        if password and not authorized(body, username, password):
            fault = ("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>"
                     "<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:NotAuthorized</SOAP-ENV:Value>"
                     "</SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">"
                     "Sender not Authorized</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>")
            return 400, _ENVELOPE.format(fault).encode()
        info = device_info(cam, twin)
        inner = "<tds:GetDeviceInformationResponse>" + "".join(
            f"<tds:{k}>{escape(v)}</tds:{k}>" for k, v in info.items()
        ) + "</tds:GetDeviceInformationResponse>"
        return 200, _ENVELOPE.format(inner).encode()
    fault = ("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Receiver</SOAP-ENV:Value>"
             "<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:ActionNotSupported</SOAP-ENV:Value>"
             "</SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">"
             "Action not supported</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>")
    return 400, _ENVELOPE.format(fault).encode()
