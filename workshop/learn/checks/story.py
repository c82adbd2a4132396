"""The story's words, and the sentences the checks build from what a visit answered and logged."""

from __future__ import annotations

import email.utils
import json
from typing import Any

from workshop.visitor import Answer

# What the original answered and logged.
SESSION = "user_123"
ANY_SESSION = "<your session id>"  # in a sentence, where any session id will do
FIRST_VISIT = "Welcome! This is your first visit."
GENERIC_500 = '{"message": "Error interacting with the database."}'
DECIMAL_ERROR = "Error: Object of type Decimal is not JSON serializable"

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
PLATFORM_LINES = ("START ", "END ", "REPORT ", "INIT_START ", "INIT_REPORT ")
LONGEST_QUOTE = 400  # characters of an answer or a log line quoted in a sentence


def greeting(count: int, session: str = SESSION) -> dict[str, Any]:
    """The body the story's working counter answers on visit number `count`."""
    message = FIRST_VISIT if count == 1 else f"Welcome back! This is your {count} visit."
    return {"message": message, "session_id": session, "visit_count": count}


def printed_lines(messages: list[str]) -> list[str]:
    """What the function itself logged, a line each: without Lambda's platform lines, and in
    the JSON log format (LoggingConfig LogFormat: JSON) as `[LEVEL] message`."""
    lines = []
    for message in messages:
        if message.startswith(PLATFORM_LINES):
            continue
        try:
            record = json.loads(message)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get("type", "")).startswith("platform."):
                continue
            # Application records say `level`; the runtime's uncaught error says `log_level`.
            level = record.get("level") or record.get("log_level")
            prefix = f"[{level}] " if level else ""
            if "errorType" in record and "message" not in record:
                message = f"{prefix}{record['errorType']}: {record.get('errorMessage', '')}"
            elif "message" in record:
                message = f"{prefix}{record['message']}"
        first = str(message).strip().splitlines()
        if first:
            lines.append(first[0].rstrip())
    return lines


def error_line(messages: list[str]) -> str | None:
    """The line of the logs that names the error: the first at level ERROR, else the first one
    saying Error or Exception (the runtime's WARNING before an init error says "error" too)."""
    lines = printed_lines(messages)
    return (_naming_errors(lines) or lines or [None])[0]


def _naming_errors(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[ERROR]")] or [
        line for line in lines if "error" in line.lower() or "exception" in line.lower()
    ]


def reported_failure(messages: list[str]) -> tuple[str, str | None] | None:
    """(Status, Error Type) of the last REPORT that says the invocation failed, or None; in the
    text log format, or the JSON one's platform.report."""
    found = None
    for message in messages:
        if message.startswith("REPORT ") and "\tStatus: " in message:
            fields = dict(p.split(": ", 1) for p in message.split("\t") if ": " in p)
            found = fields["Status"].strip(), fields.get("Error Type", "").strip() or None
            continue
        try:
            record = json.loads(message)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("type") == "platform.report":
            body = record.get("record") or {}
            if body.get("status", "success") != "success":
                found = str(body["status"]), body.get("errorType")
    return found


def quote(text: str) -> str:
    """`text` on one line, shortened to LONGEST_QUOTE characters."""
    text = " ".join(text.split())
    return text if len(text) <= LONGEST_QUOTE else text[: LONGEST_QUOTE - 3] + "..."


def too_slow(seconds: list[float]) -> str:
    """The sentence for a check that this machine's slowness kept from judging: the local AWS
    answered writes so late (`seconds` each) that the function's SDK sent them again."""
    return (
        f"This machine answered a DynamoDB write of the function only after {max(seconds):.1f} "
        "seconds, where DynamoDB takes milliseconds, so its SDK sent the write again and it was "
        "applied twice: not your code's doing, but it spoils the count; check again when the "
        "machine is less busy."
    )


def sentence(text: str) -> str:
    """`text` on one line, ending with a full stop."""
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def unexpected(which: str, answer: Answer, logs: list[str], expected: dict[str, Any]) -> str:
    """The sentence for a visit that did not answer what the story's working counter answers.

    `which` names the visit as it follows "The": "second visit", "first visit after a cold
    start".
    """
    if answer.status == 0:
        return f"The {which} got {answer.body}."
    if answer.status != 200:
        line = error_line(logs)
        # "still": the story's own failure, the generic 500 over the Decimal error.
        still = "still " if answer.body == GENERIC_500 and line == DECIMAL_ERROR else ""
        said = f"The {which} {still}answers {answer.status} " + (
            quote(answer.body) if answer.body else "with an empty body"
        )
        reported = reported_failure(logs)
        if reported and not _naming_errors(printed_lines(logs)):
            status, error_type = reported
            why = (
                "it ran past its Timeout, and Lambda stopped it"
                if status == "timeout"
                else f"its runtime ended it ({error_type or 'an error'}: the process exited "
                "or crashed, which no `except` catches)"
            )
            named = f"Status: {status}" + (f", Error Type: {error_type}" if error_type else "")
            return f"{said}; the handler logged no error, but its REPORT says {named}: {why}."
        if line:
            return f"{said}, and the logs {still}say `{quote(line)}`."
        failed = ("\tStatus: ", '"status":"timeout"', '"status":"error"')  # REPORT's
        if answer.status == 502 and not any(f in m for m in logs for f in failed):
            # The function ran, and ended well: what it answered is the fault.
            return (
                f"{said}, and the logs name no error: API Gateway answers 502 when the "
                "function's response is not a proxy response (a statusCode, headers of "
                "strings, and a body that is a string: json.dumps it)."
            )
        if answer.status == 500 and not logs:
            # API Gateway's 500 with no invocation at all: Lambda refused to run the function.
            return (
                f"{said}, and the function never ran (no logs): Lambda refused the invoke, as it "
                "does when the function's reserved concurrency (ReservedConcurrentExecutions) "
                "is 0, or all in use."
            )
        return f"{said}, and the logs name no error."
    body, count = answer.json(), expected.get("visit_count")
    if isinstance(body, dict) and body.get("message") == expected.get("message"):
        told = body.get("visit_count")
        if told is None:
            return f"The {which} answers 200 {quote(answer.body)}, which has no visit_count."
        if type(told) is not int and (told == count or str(told) == str(count)):
            return (
                f"The {which} answers 200 {quote(answer.body)}, where the count is "
                f"{json.dumps(told)}, not the whole number {count}: JSON has integers, and a "
                "page or client that reads this count gets another type than the story's."
            )
    return (
        f"The {which} answers 200 {quote(answer.body)}, where the story's counter "
        f"answers {json.dumps(expected)}."
    )


def count_of(answer: Answer) -> int | None:
    """The visit_count a 200 answered, or None."""
    body = answer.json()
    if answer.status != 200 or not isinstance(body, dict):
        return None
    count = body.get("visit_count")
    return count if type(count) is int else None


def is_greeting(answer: Answer, count: int, session: str | None = SESSION) -> bool:
    """Whether the answer is the story's greeting for visit `count` of `session`.

    With `session` None, any session will do, and the body need not name it (a counter that
    keeps a session per visitor, and one that keeps its id out of the page, are both right).
    Fields of its own beside the story's (a request id, say) break no client: they are let be.
    """
    body = answer.json()
    if answer.status != 200 or not isinstance(body, dict):
        return False
    expected = greeting(count, session or "")
    if session is None:
        expected.pop("session_id")
    return (
        all(key in body and body[key] == value for key, value in expected.items())
        and type(body["visit_count"]) is int  # 2.0 == 2 in Python only
    )


def ordinal_visit(number: int) -> str:
    """ "second visit", or "visit number 9" past the ordinals."""
    return f"{ORDINALS[number - 1]} visit" if number <= len(ORDINALS) else f"visit number {number}"


def waiting(what: str) -> None:
    """Say what a check tries, and what it waits for, before a wait of seconds: the learner
    sees that it has not hung."""
    print(f"  ... {what}", flush=True)


def delay_or_date(value: str) -> bool:
    """Whether a Retry-After value is delay-seconds or an HTTP date, as RFC 9110 allows."""
    if value.strip().isdigit():
        return True
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False
