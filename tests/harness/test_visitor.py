"""The visitor the checks, the race and the bench use keeps cookies as a browser does."""

from __future__ import annotations

import datetime

import pytest

from workshop.visitor import Answer, Visitor, lifetime


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
        ("session_id=; Path=/", ""),  # a browser keeps an empty value, and sends it back
    ],
)
def test_a_set_cookie_stores_or_deletes_as_a_browser_does(set_cookie, kept):
    visitor = Visitor("http://127.0.0.1:1/", "session_id=old")
    visitor.keep(set_cookie)
    assert visitor.jar.get("session_id") == kept


def test_the_cookie_an_answer_sets_is_not_one_it_deletes():
    """An answer may clear an older cookie before it sets the session's (a renamed cookie)."""
    headers = (
        ("Set-Cookie", "session_id=; Max-Age=0; Path=/"),
        ("Set-Cookie", "sid=abc; Max-Age=60; Path=/; HttpOnly"),
    )
    answer = Answer(200, "{}", headers)
    assert answer.cookie == "sid=abc"
    assert answer.set_cookie == "sid=abc; Max-Age=60; Path=/; HttpOnly"


@pytest.mark.parametrize(
    ("deletion", "kept"),
    [
        ("sid=; Max-Age=0; Path=/", None),
        ("sid=; Max-Age=0", "abc"),  # no Path: the request's folder, /Prod (RFC 6265 5.1.4)
        ("sid=; Max-Age=0; Path=/Prod", "abc"),
    ],
)
def test_a_deletion_reaches_only_the_cookie_of_its_path(deletion, kept):
    """A browser keeps one cookie per name and path: set with Path=/, it is deleted only by a
    Set-Cookie with Path=/ too."""
    visitor = Visitor("http://127.0.0.1:1/Prod/hello")
    visitor.keep("sid=abc; Max-Age=60; Path=/")
    visitor.keep(deletion)
    assert visitor.jar.get("sid") == kept


@pytest.mark.parametrize(
    ("set_cookie", "sent"),
    [
        ("sid=abc; Path=/", True),
        ("sid=abc; Path=/Prod", True),
        ("sid=abc; Path=/Prod/", True),
        ("sid=abc; Path=/Prod/hello", True),
        ("sid=abc", True),  # no Path: the request's folder, /Prod (RFC 6265 5.1.4)
        ("sid=abc; Path=hello", True),  # not a path: the request's folder too
        ("sid=abc; Path=/hello", False),  # the route without its stage
        ("sid=abc; Path=/Pro", False),  # a prefix, but not a folder, of /Prod/hello
        ("sid=abc; Path=/Prod/hello/more", False),
    ],
)
def test_a_cookie_is_sent_only_to_the_paths_its_path_covers(set_cookie, sent):
    """A browser sends a cookie only to the paths that its Path matches (RFC 6265 5.1.4)."""
    visitor = Visitor("http://127.0.0.1:1/Prod/hello")
    visitor.keep(set_cookie)
    assert visitor.jar == {"sid": "abc"}
    assert visitor.cookie == ("sid=abc" if sent else None)


@pytest.mark.parametrize(
    ("set_cookie", "seconds"),
    [
        ("sid=abc; Max-Age=31536000", 31536000),
        ("sid=abc; Max-Age=60; Max-Age=120", 120),  # the last one counts
        ("sid=abc; Max-Age=120; Expires=Thu, 01 Jan 1970 00:00:00 GMT", 120),  # it wins
        ("sid=abc; Expires=not a date", None),  # ignored, as a browser ignores it
        ("sid=abc; Path=/", None),  # ends when the browser closes
    ],
)
def test_a_cookie_lasts_its_max_age_or_until_the_browser_closes(set_cookie, seconds):
    assert lifetime(set_cookie) == seconds


@pytest.mark.parametrize(
    ("set_cookie", "ahead"),
    [
        ("sid=abc; Expires=Fri, 01 Jan 2100 00:00:00 GMT", True),
        ("sid=abc; Expires=Fri, 01 Jan 2100 00:00:00", True),  # no zone: GMT
        ("sid=abc; Max-Age=soon; Expires=Thu, 01 Jan 1970 00:00:00 GMT", False),  # no number
    ],
)
def test_without_a_max_age_a_cookie_lasts_until_its_expires_date(set_cookie, ahead):
    kept = lifetime(set_cookie)
    assert kept is not None and (kept > 0) == ahead


def test_a_cookie_lasts_from_the_time_its_answer_came():
    """An answer that came a day from now (a clock moved on): its Expires date counts from then,
    its Max-Age as ever."""
    day = 24 * 3600.0
    came = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC).timestamp() - day
    assert lifetime("sid=abc; Expires=Fri, 01 Jan 2100 00:00:00 GMT", now=came) == day
    assert lifetime("sid=abc; Max-Age=120", now=came) == 120
