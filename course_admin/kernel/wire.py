"""The wire between the grading process and a student's kernel: framed messages on a Unix socket.

The socket lies in the kernel's private folder (its path in `SOCKET_ENV`). One frame is a
4-byte header length, a JSON header, then each binary buffer with an 8-byte length. The
receiving side caps a frame's size and counts its JSON items before parsing
(`codec.bounded_json`), so a hostile frame is refused before it costs memory.

This module runs inside the kernel: it imports the standard library and the codec only.
"""

from __future__ import annotations

import json
import socket
import struct

from course_admin.kernel.codec import ProtocolError, bounded_json

SOCKET_ENV = "COURSE_REMOTE_SOCKET"
MAX_FRAME_BYTES = 512 * 2**20  # what the kernel accepts in one message (arguments carry models)


def send_frame(sock: socket.socket, header: dict, buffers: list[bytes] = ()) -> None:
    head = json.dumps({**header, "nbuf": len(buffers)}, allow_nan=False).encode()
    parts = [struct.pack(">I", len(head)), head]
    for data in buffers:
        parts += [struct.pack(">Q", len(data)), data]
    sock.sendall(b"".join(parts))


def recv_frame(sock: socket.socket, limit: int = MAX_FRAME_BYTES) -> tuple[dict, list[bytes]]:
    (size,) = struct.unpack(">I", _recv_exact(sock, 4))
    if size > min(64 * 2**20, limit):
        raise ProtocolError("frame header too large")
    try:
        header = bounded_json(_recv_exact(sock, size))
    except ValueError as error:
        raise ProtocolError(f"malformed frame header ({str(error)[:80]})") from None
    if not isinstance(header, dict) or not isinstance(header.get("nbuf"), int) or not 0 <= header["nbuf"] < 10**6:
        raise ProtocolError("malformed frame header")
    buffers, total = [], size
    for _ in range(header["nbuf"]):
        (length,) = struct.unpack(">Q", _recv_exact(sock, 8))
        total += length
        if total > limit:
            raise ProtocolError(f"more than {limit // 2**20} MB in one message")
        buffers.append(_recv_exact(sock, length))
    return header, buffers


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 4 * 2**20))
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
