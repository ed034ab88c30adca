"""A stand-in "command centre" for the link tests: stdlib only, one process, run inside a
network namespace the test built (``ip netns exec NS python delay_responder.py ...``).

It serves, as asked on the command line:

- ``--tcp PORT``: a TCP listener that accepts and closes (the tcp:// link target);
- ``--http PORT[:DELAY[:STATUS]]`` (repeatable): an HTTP/1.1 server whose ``/health``
  answers STATUS (default 200) DELAY seconds (default 0) after the request arrived;
- ``--icmp-delay S``: answers ICMP echo requests from user space S seconds late with a raw
  socket.  The kernel's own replies must be off in the namespace
  (``net.ipv4.icmp_echo_ignore_all=1``), or the requester sees two answers.

It prints ``ready`` on stdout once every socket is bound, and runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


async def serve_tcp(port: int) -> asyncio.AbstractServer:
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(accept, "0.0.0.0", port, backlog=1024)


async def serve_http(port: int, delay: float, status: int) -> asyncio.AbstractServer:
    reasons = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Unavailable"}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = head.split(b" ", 2)[1] if head.count(b" ") >= 2 else b"/"
            code = status if path.split(b"?")[0] == b"/health" else 404
            if delay:
                await asyncio.sleep(delay)
            body = b"ok\n" if code == 200 else b"unhealthy\n"
            writer.write(
                f"HTTP/1.1 {code} {reasons.get(code, 'Status')}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "0.0.0.0", port, backlog=1024)


def serve_icmp(delay: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)

    def reply(packet: bytes, source: str) -> None:
        try:
            sock.sendto(packet, (source, 0))
        except OSError:
            pass  # the requester's route went away: a lost answer, like a real host's

    def readable() -> None:
        while True:
            try:
                data, (source, _) = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            ihl = (data[0] & 0x0F) * 4
            icmp = data[ihl:]
            if len(icmp) < 8 or icmp[0] != 8:  # echo requests only
                continue
            body = b"\0\0\0\0" + icmp[4:]  # type 0 (echo reply), code 0, checksum 0
            packet = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
            loop.call_later(delay, reply, packet, source)

    loop.add_reader(sock.fileno(), readable)
    return sock


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tcp", type=int, action="append", default=[])
    parser.add_argument("--http", action="append", default=[], metavar="PORT[:DELAY[:STATUS]]")
    parser.add_argument("--icmp-delay", type=float)
    args = parser.parse_args()
    keep = []
    for port in args.tcp:
        keep.append(await serve_tcp(port))
    for spec in args.http:
        fields = spec.split(":")
        port, delay, status = fields + ["0", "200"][len(fields) - 1 :]
        keep.append(await serve_http(int(port), float(delay), int(status)))
    if args.icmp_delay is not None:
        keep.append(serve_icmp(args.icmp_delay))
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
