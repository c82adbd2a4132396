"""A visitor of the counter over HTTP, as a browser is one: a GET per visit and a cookie jar.

The checks, the race and the benchmark all visit through this one client, so that they see
what a browser would: the status, the body, the headers, and the cookies the answers set.
"""

from __future__ import annotations

import datetime
import email.utils
import http.client
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

VISIT_TIMEOUT = 60.0  # seconds: more than API Gateway's 29 s, which answers 504 first


@dataclass(frozen=True)
class Answer:
    """What one visit got back."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()
    # When it came (epoch seconds): the moment a cookie it sets starts to count its Max-Age from.
    at: float = field(default_factory=time.time, compare=False)

    def header(self, name: str) -> str | None:
        """The first value of the header `name` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    @property
    def set_cookies(self) -> list[str]:
        """Every Set-Cookie header of the answer, whole (with its attributes)."""
        return [value for key, value in self.headers if key.lower() == "set-cookie"]

    @property
    def cookie(self) -> str | None:
        """The `name=value` of the first cookie the answer sets (not one that it deletes, as an
        answer that also clears an older cookie does), or None."""
        header = self.set_cookie
        return header.split(";", 1)[0].strip() if header else None

    @property
    def set_cookie(self) -> str | None:
        """The whole Set-Cookie header of that cookie, with its attributes, or None."""
        return next((header for header in self.set_cookies if not deletes(header)), None)

    @property
    def retry_after(self) -> str | None:
        return self.header("Retry-After")

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def get(
    url: str, cookie: str | None = None, timeout: float = VISIT_TIMEOUT, *, http2: bool = False
) -> Answer:
    """One GET of `url`, sending `cookie` (a Cookie header's value); an error status is an answer.

    A new connection each time, with nothing but the Cookie header, so that visits made at the
    same moment from threads are truly separate requests, as separate browsers make them. With
    `http2`, the header is named as an HTTP/2 browser names it: `cookie`, in lower case (RFC
    9113, 8.2), and API Gateway passes it on so.
    """
    connection = _connect(url, timeout)
    try:
        return _exchange(connection, url, cookie, http2)
    finally:
        connection.close()


def _connect(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )


def _exchange(
    connection: http.client.HTTPConnection, url: str, cookie: str | None, http2: bool = False
) -> Answer:
    """One GET on `connection`, read to its end (so that the connection may carry the next)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    name = "cookie" if http2 else "Cookie"
    connection.request("GET", path, headers={name: cookie} if cookie else {})
    response = connection.getresponse()
    body = response.read().decode("utf-8", "replace")
    return Answer(response.status, body, tuple(response.getheaders()))


class Visitor:
    """One visitor: visits a URL and keeps the cookies the answers set, as a browser does."""

    def __init__(
        self,
        url: str,
        cookie: str | None = None,
        *,
        keep_alive: bool = False,
        cookie_path: str = "/",
        http2: bool = False,
    ):
        """`cookie` (name=value) as set earlier with `cookie_path`. `keep_alive`: one connection
        for every visit, as a browser refreshing keeps its own (close() ends it); otherwise a
        new connection for each visit, as `get` makes. `http2`: the Cookie header named in
        lower case, as `get` says."""
        self.url = url
        self.http2 = http2
        self.jar: dict[str, str] = {}
        self._paths: dict[str, str] = {}  # the Path each stored cookie was set with
        if cookie:
            name, _, value = cookie.partition("=")
            self.jar[name.strip()] = value.strip()
            self._paths[name.strip()] = cookie_path
        self._connection = _connect(url, VISIT_TIMEOUT) if keep_alive else None

    @property
    def cookie(self) -> str | None:
        """The Cookie header this visitor sends, or None when it sends no cookie: only the
        cookies whose Path covers the URL's path go, as a browser sends them."""
        here = urlsplit(self.url).path or "/"
        sent = [
            f"{name}={value}"
            for name, value in self.jar.items()
            if path_matches(here, self._paths[name])
        ]
        return "; ".join(sent) or None

    def visit(self, timeout: float = VISIT_TIMEOUT) -> Answer:
        if self._connection is None:
            answer = get(self.url, self.cookie, timeout, http2=self.http2)
        else:
            answer = self._visit_on(self._connection, timeout)
        for header in answer.set_cookies:
            self.keep(header)
        return answer

    def _visit_on(self, connection: http.client.HTTPConnection, timeout: float) -> Answer:
        """A visit on the kept connection. One that fails is not sent again (it may have been
        counted): the error is the caller's, and the connection is closed."""
        connection.timeout = timeout  # for a new socket: http.client opens one when it must
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            return _exchange(connection, self.url, self.cookie, self.http2)
        except BaseException:
            connection.close()
            raise

    def close(self) -> None:
        """End the kept connection, if any."""
        if self._connection is not None:
            self._connection.close()

    def path_of(self, name: str) -> str | None:
        """The Path the cookie `name` was set with, or None when there is no such cookie."""
        return self._paths.get(name) if name in self.jar else None

    def keep(self, header: str) -> None:
        """Store or delete one cookie as a browser does: Max-Age=0 or an Expires date past
        deletes it (Max-Age, where both are given, wins: RFC 6265 5.3); an empty value is
        stored, and sent back, as any other. A cookie is one per name and path: a deletion
        with another Path (or none, which means the request's folder) leaves it."""
        name, _, value = header.split(";", 1)[0].partition("=")
        name = name.strip()
        paths = _attribute(header, "path")
        path = paths[-1] if paths and paths[-1].startswith("/") else _default_path(self.url)
        if deletes(header):
            if self._paths.get(name, path) == path:
                self.jar.pop(name, None)
                self._paths.pop(name, None)
        else:
            self.jar[name] = value.strip()
            self._paths[name] = path


def path_matches(request_path: str, cookie_path: str) -> bool:
    """Whether a browser sends a cookie of `cookie_path` to `request_path` (RFC 6265 5.1.4): the
    same path, or one of its folders (`/Prod` and `/Prod/` cover `/Prod/hello`; `/Pro` and
    `/hello` do not)."""
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (
        cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    )


def _default_path(url: str) -> str:
    """A cookie's path when Set-Cookie gives none: the request path's folder (RFC 6265 5.1.4)."""
    path = urlsplit(url).path
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


def _attribute(header: str, name: str) -> list[str]:
    """The values a Set-Cookie header gives the attribute `name` (any case), in order."""
    pairs = (part.strip().partition("=") for part in header.split(";")[1:])
    return [value.strip() for key, _, value in pairs if key.strip().lower() == name]


def _expires_at(date: str) -> float | None:
    """An Expires date as a timestamp, or None when it cannot be read as an HTTP date (a browser
    then ignores the attribute: RFC 6265 5.2.1). A date without a zone is GMT, as cookies' are."""
    try:
        when = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=datetime.UTC)).timestamp()


def max_age(header: str) -> int | None:
    """The Max-Age a browser reads in a Set-Cookie header: the last one that is a whole number
    of seconds (RFC 6265 5.2.2), or None."""
    ages = [age for age in _attribute(header, "max-age") if re.fullmatch("-?[0-9]+", age)]
    return int(ages[-1]) if ages else None


def lifetime(header: str, now: float | None = None) -> float | None:
    """How many seconds from `now` (epoch seconds, the time the answer came; by default the
    present) a browser keeps the cookie a Set-Cookie header sets (0 or less: it deletes it), or
    None for a cookie that ends when the browser closes: the last Max-Age that is a whole
    number, or else the last Expires date that can be read (RFC 6265 5.3)."""
    age = max_age(header)
    if age is not None:
        return float(age)
    dates = [when for when in map(_expires_at, _attribute(header, "expires")) if when is not None]
    return dates[-1] - (time.time() if now is None else now) if dates else None


def deletes(header: str) -> bool:
    """Whether a Set-Cookie header deletes its cookie: Max-Age of 0 or less, or else an Expires
    date that has passed."""
    seconds = lifetime(header)
    return seconds is not None and seconds <= 0
