"""The visitor the checks, the race and the bench use keeps cookies as a browser does."""

from __future__ import annotations

import pytest

from workshop.visitor import Visitor


@pytest.mark.parametrize(
    ("set_cookie", "kept"),
    [
        ("session_id=new; Max-Age=31536000; Path=/", "new"),
        ("session_id=; Max-Age=0; Path=/", None),
        ("session_id=old; Max-Age=0", None),
        ("session_id=old; Expires=Thu, 01 Jan 1970 00:00:00 GMT", None),
        ("session_id=new; Expires=Fri, 01 Jan 2100 00:00:00 GMT", "new"),
        # RFC 6265 5.3: Max-Age wins over Expires.
        ("session_id=new; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "new"),
        ("session_id=new; Expires=not a date", "new"),
    ],
)
def test_a_set_cookie_stores_or_deletes_as_a_browser_does(set_cookie, kept):
    visitor = Visitor("http://127.0.0.1:1/", "session_id=old")
    visitor.keep(set_cookie)
    assert visitor.jar.get("session_id") == kept
