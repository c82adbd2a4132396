"""HTTP/1.1 message framing for the local servers (RFC 9112): where a request's body ends, and
whether its connection carries another request after the answer."""

from __future__ import annotations

import re
from email.message import Message
from http import HTTPStatus
from typing import BinaryIO

MAX_LINE = 8192  # a chunk-size line with its extensions, or a trailer field line
MAX_TRAILER_LINES = 100
_PIECE = 1 << 20  # a body is read a piece at a time: a length is a claim, not memory to set aside
_BEFORE_1_1 = ("HTTP/0.9", "HTTP/1.0")  # http.server refuses 2.0 and later
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;.*)?")  # RFC 9112 7.1, 7.1.1


class BadFraming(ValueError):
    """A request whose body cannot be delimited: it is answered `status` and the connection is
    closed, since where the next request would begin is unknown (RFC 9112 6.3)."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.status = status


class LastLine:
    """A reader that remembers the last line it read: a header section ends with an empty line,
    and one that ended where the stream did (b"": the client stopped sending) never did."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.last: bytes | None = None

    def readline(self, *limit: int) -> bytes:
        self.last = self.raw.readline(*limit)
        return self.last

    def __getattr__(self, name: str):
        return getattr(self.raw, name)

    def ended(self) -> bool:
        """Whether the header section read through it ended with its empty line."""
        return self.last in (b"\r\n", b"\n")


def _options(headers: Message) -> set[str]:
    """The connection options of a request: `Connection` is a comma list, case-insensitive."""
    return {
        option.strip().lower()
        for value in headers.get_all("Connection") or ()
        for option in value.split(",")
    }


def persists(request_version: str, headers: Message) -> bool:
    """Whether the connection stays open after the answer to this request (RFC 9112 9.3)."""
    options = _options(headers)
    if "close" in options:
        return False
    if request_version not in _BEFORE_1_1:
        return True
    return request_version == "HTTP/1.0" and "keep-alive" in options


def _read(rfile: BinaryIO, length: int) -> bytes:
    pieces = []
    while length:
        piece = rfile.read(min(length, _PIECE))
        if not piece:
            raise BadFraming("the connection ended inside the body")
        pieces.append(piece)
        length -= len(piece)
    return b"".join(pieces)


def _line(rfile: BinaryIO) -> bytes:
    """A line of the chunked coding, without its CRLF (a bare LF ends one too: RFC 9112 2.2)."""
    line = rfile.readline(MAX_LINE + 1)
    if not line.endswith(b"\n"):
        raise BadFraming("a chunk line is too long" if line else "the chunked body ended early")
    return line[:-2] if line.endswith(b"\r\n") else line[:-1]


def _dechunk(rfile: BinaryIO) -> bytes:
    """A chunked body, decoded (RFC 9112 7.1); its extensions and trailer fields are dropped."""
    pieces = []
    while True:
        size = _CHUNK_SIZE.fullmatch(_line(rfile))
        if size is None:
            raise BadFraming("a chunk size is not hexadecimal")
        length = int(size[1], 16)
        if not length:
            break
        pieces.append(_read(rfile, length))
        if _line(rfile):
            raise BadFraming("a chunk has more data than its size says")
    for _ in range(MAX_TRAILER_LINES):  # the trailer section, up to its empty line (7.1.2)
        if not _line(rfile):
            return b"".join(pieces)
    raise BadFraming("the chunked body's trailer has too many fields")


def read_body(request_version: str, headers: Message, rfile: BinaryIO) -> tuple[bytes, bool]:
    """The request's whole body as RFC 9112 6.3 delimits it, and whether the connection may
    carry another request after it. Raises BadFraming when the body cannot be delimited."""
    codings = [
        coding.strip().lower()
        for value in headers.get_all("Transfer-Encoding") or ()
        for coding in value.split(",")
        if coding.strip()  # a list may have empty elements (RFC 9110 5.6.1)
    ]
    lengths = {
        length.strip()
        for value in headers.get_all("Content-Length") or ()
        for length in value.split(",")
    }
    if codings:
        if request_version in _BEFORE_1_1:
            # An HTTP/1.0 sender knows no chunked coding: its framing is faulty (6.1).
            raise BadFraming("Transfer-Encoding in an HTTP/1.0 request")
        if codings[-1] != "chunked":
            raise BadFraming("chunked is not the request's final transfer coding")
        if codings != ["chunked"]:
            raise BadFraming("a transfer coding other than chunked", 501)
        # Transfer-Encoding wins over a Content-Length sent with it; the connection is then
        # closed after the answer, against request smuggling (6.1).
        return _dechunk(rfile), not lengths
    if not lengths:
        return b"", True  # a request without either has no body (6.3)
    if len(lengths) > 1 or not all(length.isdigit() and length.isascii() for length in lengths):
        raise BadFraming("the Content-Length is not one number")
    return _read(rfile, int(lengths.pop())), True


TLS_REFUSED = "https:// to a port that serves http://"


def sends_tls(rfile: BinaryIO) -> bool:
    """Whether the client opens with a TLS handshake (https:// to this http:// port): 0x16, a
    TLS handshake record's first byte, begins no HTTP request. Waits for the first byte."""
    try:
        return rfile.peek(1)[:1] == b"\x16"  # type: ignore[attr-defined]
    except OSError:  # the client is gone: reading the request line will say so
        return False


def refusal(code: int, message: str | None) -> str:
    """http.server's reason for refusing a request in one readable line: its own quotes the raw
    bytes it got, and those of a client that is not speaking HTTP are binary."""
    if message is None:
        return HTTPStatus(code).phrase
    return message.split(" (", 1)[0]
