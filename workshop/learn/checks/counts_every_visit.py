"""Every visit answers 200 and counts one more, even after a cold start, and whichever execution
environment serves it; a visit while DynamoDB fails is not answered as counted, nor told a count
that a failed read made up (stage 02 -> 03)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from workshop import interrupt
from workshop.learn.checks import sessions_and_honest_errors as honest
from workshop.learn.checks.logged_visits import LoggedVisitor, comes_back_later, counts_in_a_row
from workshop.learn.checks.story import count_of, greeting, is_greeting, quote, unexpected
from workshop.visitor import Answer, get

NEEDS_STACK = True
PATIENCE = 15.0  # seconds a held visit waits for the other one (a cold start among them)
ELSEWHERE = 2  # visits another execution environment counts, unseen by the one that serves next
# Where an environment may keep a count for itself: its memory, and its own /tmp, which no other
# environment sees.
KEPT_FOR_ITSELF = "what one environment kept for itself, in its memory or in its own /tmp"
# DynamoDB's read operations: what a role with a write policy only is denied, while its writes
# go through. SAM's DynamoDBWritePolicy allows PutItem, UpdateItem and BatchWriteItem, and no
# read (aws/serverless-application-model: samtranslator/policy_templates_data/
# policy_templates.json).
READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


class HoldFirst:
    """Holds the first DynamoDB call it is shown until `release`; lets every other one go."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self._released = threading.Event()
        self._taken = False
        self._lock = threading.Lock()

    def __call__(self, target: str, body: dict[str, Any]) -> None:
        with self._lock:
            first, self._taken = not self._taken, True
        if first:
            self.holding.set()
            self._released.wait(PATIENCE)

    def release(self) -> None:
        self._released.set()


def _in_two_environments(stack: Any, visitor: LoggedVisitor) -> tuple[Answer, Answer]:
    """A visit held in its environment at its first DynamoDB call, and, meanwhile, a visit
    that Lambda serves in another environment; then the held one goes on. (held, other)"""
    hold = HoldFirst()
    held: list[Answer] = []
    with stack.intercept_dynamodb(hold):
        first = threading.Thread(target=lambda: held.append(get(visitor.url, visitor.cookie)))
        first.start()
        while first.is_alive() and not hold.holding.wait(0.05):
            pass  # held, or answered without a call
        other = get(visitor.url, visitor.cookie)
        hold.release()
        interrupt.join(first, PATIENCE * 2)
    return (held or [Answer(0, "no answer")])[0], other


def _counted_elsewhere(stack: Any, counted: int) -> bool:
    """Add ELSEWHERE to every count of `counted` visits that the table holds, as an execution
    environment on another machine would by counting that many visits; whether it held one.
    A count is a Number (what the resource API reads as a Decimal) in any attribute but the
    key, at any depth: in a map, or a list, too; or, where no item holds it, an attribute
    whose Numbers sum to it over the items (a count kept in parts, as shards of a busy key)."""
    table = stack.table()
    keys = {part["AttributeName"] for part in table.key_schema}
    items = table.scan(ConsistentRead=True)["Items"]
    held = False
    for item in items:
        changed = {
            name: _recounted(value, counted)
            for name, value in item.items()
            if name not in keys and _count_in(value, counted)
        }
        if changed:
            table.put_item(Item={**item, **changed})
            held = True
    return held or _counted_in_parts(table, items, keys, counted)


def _counted_in_parts(table: Any, items: list[dict], keys: set[str], counted: int) -> bool:
    """Add ELSEWHERE to one part of a count kept in parts: an attribute whose Numbers, over
    the items, sum to `counted`; whether there is one."""
    totals: dict[str, Decimal] = {}
    for item in items:
        for name, value in item.items():
            if name not in keys and isinstance(value, Decimal):
                totals[name] = totals.get(name, Decimal(0)) + value
    name = next((name for name, total in totals.items() if total == counted), None)
    if name is None:
        return False
    part = next(item for item in items if isinstance(item.get(name), Decimal))
    table.put_item(Item={**part, name: part[name] + ELSEWHERE})
    return True


def _leaves(value: Any) -> Iterator[Any]:
    """The values in `value` that are neither a map nor a list, at any depth."""
    if isinstance(value, dict):
        for inner in value.values():
            yield from _leaves(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _leaves(inner)
    else:
        yield value


def _count_in(value: Any, counted: int) -> bool:
    """Whether `value` is the Number `counted`, or a map or list that holds it."""
    return any(isinstance(leaf, Decimal) and leaf == counted for leaf in _leaves(value))


def _recounted(value: Any, counted: int) -> Any:
    """`value` with each Number `counted` in it, at any depth, ELSEWHERE more."""
    if isinstance(value, dict):
        return {name: _recounted(inner, counted) for name, inner in value.items()}
    if isinstance(value, list):
        return [_recounted(inner, counted) for inner in value]
    return Decimal(counted + ELSEWHERE) if _count_in(value, counted) else value


def _count_as_text(stack: Any, counted: int) -> bool:
    """Whether an item of the table holds `counted` as a String, at any depth."""
    return any(
        isinstance(leaf, str) and leaf.strip() == str(counted)
        for item in stack.table().scan()["Items"]
        for leaf in _leaves(item)
    )


def _from_the_table(stack: Any, visitor: LoggedVisitor, counted: int) -> list[str]:
    """After `counted` visits, another environment counts ELSEWHERE more, straight in the
    table: the next visit, served by one of the warm environments, must count on from there."""
    if not _counted_elsewhere(stack, counted):
        if _count_as_text(stack, counted):
            return [
                f'After {counted} visits the table holds the count as text, "{counted}", not '
                "as a number: keep it a Number, which DynamoDB can add to and compare."
            ]
        return [
            f"After {counted} visits no item of the table holds the count, the number "
            f"{counted}: the count must come from the table each time, kept there as a number, "
            f"not from {KEPT_FOR_ITSELF}."
        ]
    expected = counted + ELSEWHERE + 1
    answer, logs = visitor.visit()
    told = count_of(answer)
    if told is not None and told != expected:
        return [
            f"After {counted} visits, another execution environment, on another machine, "
            f"counted {ELSEWHERE} more, and the table holds {counted + ELSEWHERE}; the next "
            f"visit is told visit {told}, where it should be visit {expected}: the count must "
            f"come from the table each time, not from {KEPT_FOR_ITSELF}."
        ]
    if not is_greeting(answer, expected):
        which = f"visit after another execution environment counted {ELSEWHERE} more"
        return [unexpected(which, answer, logs, greeting(expected))]
    return []


def _while_dynamodb_fails(stack: Any, visitor: LoggedVisitor, counted: int) -> list[str]:
    """While DynamoDB throttles every call, then while it denies the function's calls, a visit
    is not answered as counted: nothing was. Then, while it denies only the reads, a visit
    answers the count after the `counted` ones the table holds, or an error: a failed read does
    not mean a session with no count yet. (Which error it answers is exercise 06's.)"""
    # Waited for until the function's Timeout: an SDK may retry as long, and a retry that
    # outlived the outage would count after it.
    patience = stack.function().timeout + honest.STALL_MARGIN
    answer, _ = honest.visit_during_outage(stack, visitor, "throttled", patience)
    problems = _counted_anyway(answer, honest.OUTAGES["throttled"])
    if problems:
        return problems
    with stack.intercept_dynamodb(honest.denying_every_call(stack)):
        answer, _ = visitor.visit(patience=patience)
    problems = _counted_anyway(
        answer, "While DynamoDB denies the function's calls (AccessDeniedException)"
    )
    if problems:
        return problems
    with stack.intercept_dynamodb(_denying_reads(stack)):
        answer, _ = visitor.visit(patience=patience)
    return _read_failed(answer, counted)


def _denying_reads(stack: Any) -> Callable[[str, dict[str, Any]], dict[str, Any] | None]:
    """An IAM check that denies the function's reads (AccessDeniedException) and lets its writes
    through, as a role with a write policy only."""
    deny = honest.denying_every_call(stack)

    def hook(target: str, body: dict[str, Any]) -> dict[str, Any] | None:
        return deny(target, body) if target.rsplit(".", 1)[-1] in READS else None

    return hook


def _read_failed(answer: Answer, counted: int) -> list[str]:
    """A visit answered while only DynamoDB's reads were denied, with `counted` visits in the
    table: what is wrong with it. It may count (an update that returns the new count needs no
    read) or fail; it must not answer another count, nor a redirect."""
    during = (
        "While DynamoDB denies the function's reads (AccessDeniedException) and lets its writes "
        "through, as a role with a write policy only (SAM's DynamoDBWritePolicy) would"
    )
    if 300 <= answer.status < 400:
        return _counted_anyway(answer, during)
    if not 200 <= answer.status < 300 or is_greeting(answer, counted + 1):
        return []
    return [
        f"{during}, a visit answers {answer.status} {quote(answer.body)}, where the table holds "
        f"{counted} visits: it should answer visit {counted + 1}, or an error. A read that "
        "failed is not a session with no count yet: catch only what says there is none (no "
        '"Item" in get_item\'s answer), and let any other error fail the visit, or the count '
        "written after it replaces the one the table kept."
    ]


def _counted_anyway(answer: Answer, during: str) -> list[str]:
    """A visit answered 2xx or 3xx `during` a failure: what is wrong with it."""
    if 300 <= answer.status < 400:
        where = answer.header("location")
        return [
            f"{during}, a visit answers {answer.status}"
            + (f" with Location: {quote(where)}" if where else "")
            + ": a redirect, not an error, which hides the failure from API Gateway's 5XXError "
            "metric, and sends the browser on at once, back to the counter over and over for "
            "as long as the failure lasts. A failure must not be answered as a success or a "
            "redirect: let it answer an error (exercise 06 makes it the right one)."
        ]
    if not 200 <= answer.status < 300:
        return []
    body = answer.json()
    told = (
        "a count that DynamoDB never kept"
        if isinstance(body, dict) and "visit_count" in body
        else "a success for a visit that was not counted"
    )
    return [
        f"{during}, a visit answers {answer.status} {quote(answer.body)}: {told}, told the "
        "visitor as if all were well, which hides the failure from them, and from API "
        "Gateway's 5XXError metric. A failure must not be answered as a success: let it "
        "answer an error (exercise 06 makes it the right one)."
    ]


def check(stack: Any) -> list[str]:
    """What still fails: three visits in a row, then one after a cold start, then one while
    DynamoDB throttles every call, one while it denies them, and one while it denies only the
    reads, then pairs of visits served by two environments (one held while the other one
    serves), then one after another environment counted in the table; last, one when the
    visitor comes back a long while later, the items whose time to live was over by then
    deleted."""
    visitor = LoggedVisitor(stack)
    problems = counts_in_a_row(visitor, 3)
    if problems:
        return problems
    stack.expire_environments()  # as after the idle timeout: the next visit is a cold start
    answer, logs = visitor.visit()
    if not is_greeting(answer, 4):
        body = answer.json()
        if answer.status == 200 and isinstance(body, dict) and body.get("visit_count") == 1:
            return [
                "After a cold start the count starts again at 1: it was kept in the function's "
                "memory, which a new execution environment does not have, and not in the table."
            ]
        return [
            unexpected("fourth visit, the first after a cold start,", answer, logs, greeting(4))
        ]
    # Four visits counted: while every call fails, nothing more can be.
    problems = _while_dynamodb_fails(stack, visitor, 4)
    if problems:
        return problems
    # The second environment starts with a pair that is not judged: a judged visit would be
    # held through that cold start, which a short Timeout may not outlast. The count goes on
    # from the next visit's.
    _in_two_environments(stack, visitor)
    answer, logs = visitor.visit()
    counted = count_of(answer)
    if counted is None:
        return [unexpected("visit after two at once", answer, logs, greeting(7))]
    # Each pair: the other one is served by the other environment, warm, while the first is
    # held; it comes first, so it counts first.
    for before in (counted, counted + 2):
        held, other = _in_two_environments(stack, visitor)
        told = [count_of(answer) for answer in (other, held)]
        if told != [before + 1, before + 2] or not all(map(is_greeting, (other, held), told)):
            said = " and ".join(
                f"visit {count}" if count is not None else f"{answer.status} {quote(answer.body)}"
                for answer, count in zip((other, held), told, strict=True)
            )
            return [
                f"After {before} visits, two more served by two execution environments, one "
                f"after the other, are told {said}, where they should be visits {before + 1} "
                f"and {before + 2}: the count must come from the table each time, not from "
                f"{KEPT_FOR_ITSELF} (Lambda runs as many as it needs)."
            ]
    # A count kept for itself by each environment may pass the pairs (one that reads the table
    # first, and counts on from its own copy once it holds the session), but not a count
    # changed in the table. The two pairs made the count counted + 4.
    return _from_the_table(stack, visitor, counted + 4) or comes_back_later(visitor)
