"""Stage 08: a retried update counts once, while DynamoDB answers late.

The local AWS can stall DynamoDB (LocalAWS.dynamodb_stall): each call is applied, and its
answer held. An answer held longer than the SDK's read timeout (3 s in stages 06 to 08)
always makes the SDK give up on it and send the same update again, so the schedules below
are certain, not timed: a visit is held until its retry arrives, or until it is answered.
The races with stalls of 4 s (within the SDK's retries: a retry sent after the 3 s read timeout
is answered) and 9 s (beyond them: the first held visit's two attempts have both timed out, 3 s
each with at most 1 s of backoff between, 7 s, before the stall ends) then check what must hold
for each visitor whatever the timing: nothing acknowledged is lost, nothing is counted twice,
and every answer is 200, 503 or the API's own 429.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.helpers import (
    UNAVAILABLE,
    changed_files,
    count_of,
    dynamodb_calls,
    here,
    new_session,
    stage_module,
    visit,
)
from workshop import learn, manifest
from workshop.learn import checks
from workshop.learn.checks import counts_retries_once
from workshop.local.iam import function_credentials
from workshop.measure.race import RaceResult, Tally, race

# The story check of the exercise that starts from stage 07 and ends with stage 08.
COUNTS_RETRIES_ONCE = checks.get(learn.exercise("08").check)
PATIENCE = 30  # seconds to wait for what a schedule needs; far more than it takes


def test_08_differs_from_07_in_the_handler_alone():
    assert changed_files("07", "08") == ["src/app.py"]
    code = (manifest.find("08").path / "src" / "app.py").read_text(encoding="utf-8")
    # The visit's update, and, with a client of its own, the one that forgets old request ids.
    assert code.count("table.update_item(") == 1 and code.count("forgetting.update_item(") == 1
    assert 'ReturnValuesOnConditionCheckFailure="ALL_OLD"' in code


def test_08_keeps_the_sdk_settings_of_07(monkeypatch):
    """The fix is in the update, not in the client: the same timeouts and retries."""
    config = {
        stage: stage_module(stage, monkeypatch).table.meta.client.meta.config
        for stage in ("07", "08")
    }
    for name in ("connect_timeout", "read_timeout", "retries"):
        assert getattr(config["07"], name) == getattr(config["08"], name), name


@pytest.mark.parametrize("stage", ["07", "08", manifest.FINAL])
def test_one_round_trip_per_visit_when_dynamodb_answers_in_time(start_stage, stage):
    stack = start_stage(stage)
    with dynamodb_calls(stack) as calls:
        cookie, _ = new_session(stack.url())
        assert [count_of(stack.url(), cookie) for _ in range(3)] == [2, 3, 4]
    assert calls == ["UpdateItem"] * 4


def held_visit(stack, cookie: str) -> tuple[int, dict, list[str]]:
    """One visit while DynamoDB holds every answer until the visit is answered (both attempts
    timed out): (status, body, the function's calls)."""
    answers: list = []
    with dynamodb_calls(stack) as calls, stack.aws.dynamodb_stall() as stall:
        visiting = threading.Thread(target=lambda: answers.append(visit(stack.url(), cookie)))
        visiting.start()
        assert stall.wait_for_held(2, PATIENCE), "the SDK should retry an update held past 3 s"
        visiting.join(PATIENCE)
    (answer,) = answers
    return answer[0], answer[2], list(calls)


# The exercise's story check (counts_retries_once) drives stages 07 and 08 here: it holds a
# visit until the SDK's retry arrives, then two tabs' visits, then one until it is answered,
# and these tests are the owners of the three schedules (tests/learn/test_checks.py leaves
# exercise 08 to them).


@pytest.mark.slow
def test_07_counts_an_update_answered_later_than_the_read_timeout_twice(start_stage):
    """Visits 1 and 2; visit 3's update is applied and its answer held until the SDK retries
    it; then DynamoDB answers: 07's ADD has counted visit 3 twice, as the check says."""
    stack = start_stage("07")
    with dynamodb_calls(stack) as calls:
        (problem,) = COUNTS_RETRIES_ONCE(stack)
    # Visit 3: the first attempt and the SDK's retry; visit 4 reads how much 3 counted.
    assert calls == ["UpdateItem"] * 2 + ["UpdateItem", "UpdateItem"] + ["UpdateItem"]
    assert problem.startswith(
        "The third visit, whose update DynamoDB applied at once but answered late, is counted "
        "twice: it answers 200 {"
    )
    assert '"visit_count": 4}, where the story\'s counter answers 3, and' in problem  # told 4
    assert problem.endswith(
        "and the next visit answers 5, where the story's counter answers 4: the retried "
        "update counted the visit again."
    )


@pytest.mark.slow
def test_08_counts_an_update_answered_late_once_and_a_503_at_most_once(start_stage, monkeypatch):
    """The schedule of the check's late answers on 08: visit 3 held until the SDK's retry (200,
    counted once); a new visitor's first visit held so too, and its second; another visitor's four
    visits, the second and third in one millisecond; a third visitor's first visit (it starts the
    environment of the late visit to come); the other tab's visits 5 to 14; visit 15, its
    retry held back while the other tab makes visits 16 to 120 (fewer on a machine too slow for them
    all before the Timeout), the last five just before the Timeout (503, and each counted once);
    visit 122 held until it is answered (503, applied once); visit 124, whose first attempt is
    applied only after its retry (200, counted once), and 125. A day later, 126 finds its forgetting
    write throttled, 127 its first attempt lost, its retry answered late and its forgetting write
    stalled (each 200, and the ids kept); 128 forgets, its write held while another tab's visit 129
    counts and waits for its retry, answered too late (503, counted once); 130 to 327, and 328 to
    334 a day after, 328 the first of its day to forget. The two tabs visit once, at whatever
    moment their late visit comes (the check tries them again when a busy machine makes it miss
    the moment it aims at, and stage 08 counts right at any). (The earlier stages' lessons, which
    the check tries after, are their own checks', tried on 08 by the corpus's right fixes.)"""
    check = counts_retries_once
    monkeypatch.setattr(check, "ROUND_ATTEMPTS", 1)
    earlier, comeback = check.EARLIER_VISITS, check.COMEBACK_VISITS
    day_after = check.DAY_AFTER_VISITS
    served: list = []  # (status, invocation) of every request, as API Gateway saw it
    stack = start_stage("08", on_request=lambda _, status, inv, __: served.append((status, inv)))
    forgetting: list[str] = []  # the UpdateItems that forget old ids: DELETE, and no count

    def watch(_target: str, body: dict) -> None:
        if body.get("UpdateExpression", "").lstrip().upper().startswith("DELETE"):
            forgetting.append(body["UpdateExpression"])

    key = function_credentials(stack.function())["AWS_ACCESS_KEY_ID"]
    with dynamodb_calls(stack) as calls, stack.aws.intercept_dynamodb(key, watch):
        assert check.late_answers(stack) == []
    # The other tab's visits while visit 15 waits: all of MIDDLE_VISITS but on a machine so
    # slow that they do not fit before the Timeout (the check stops them then), and LATER_VISITS.
    # The rest are 4, the seven of the three other visitors, the earlier ones, 15, and the closing
    # ones (asserted below): 122 to 129, the comeback's, and the visits a day after.
    after = len(served) - (4 + 7 + earlier + 1 + 8 + comeback + day_after - 1)
    assert check.LATER_VISITS < after <= check.MIDDLE_VISITS + check.LATER_VISITS
    # Visits 3, 15, 122 and 124, and the new visitor's first: the first attempt and the SDK's
    # retry each; 126 and 128 one more, that forgets, 127 two more (its retry, its forgetting);
    # 129 its first attempt and its retry; the others one call (the other visitors' five too),
    # and 328 one more, that forgets. Those four forgetting writes are the check's to force; a
    # machine so slow that the first visits' ids are 30 s old before the day later (REQUEST_MEMORY)
    # forgets them sooner too, with writes of its own, and one whose forgetting write outlasts its
    # 1 s read timeout leaves it to the next visit.
    assert set(calls) == {"UpdateItem"}
    assert len(forgetting) >= 4
    assert len(calls) - len(forgetting) == (
        5 * 2 + 4 + 5 + earlier + after + 3 + (comeback - 3) + 2 + 3 + 2 + 2 + 1 + 2 + day_after - 5
    )
    statuses = [status for status, _ in served]
    bodies = [json.loads(inv.payload["body"]) for _, inv in served]
    counts = [body.get("visit_count") for body in bodies]
    newcomer = [counts.pop(4), counts.pop(4)]  # its visits come after the fourth
    in_one_millisecond = [counts.pop(4) for _ in range(4)]  # then another visitor's
    starter = counts.pop(4)  # then a third's, that starts the late visit's environment
    del statuses[4:11], bodies[4:11]
    assert newcomer == [1, 2]
    assert in_one_millisecond == [1, 2, 3, 4]
    assert starter == 1
    assert counts[: 4 + earlier] == list(range(1, 5 + earlier))
    # Visit 15 answered 503 once its retry, held back, timed out too: among the other tab's
    # visits after it. It counted once: they are 16 to 120, and its retry, let go after them,
    # counted nothing more.
    late = 4 + earlier
    window = slice(late, late + 1 + after)
    tabs = list(zip(statuses[window], counts[window], strict=True))
    tabs.remove((503, None))
    assert tabs == [(200, count) for count in range(late + 2, late + 2 + after)]
    closing = late + 1 + after
    other_tab = closing + 8  # visit 129, answered 503
    assert statuses[closing:] == [200, 503] + [200] * 6 + [503] + [200] * (comeback + day_after - 2)
    assert counts[closing] == closing + 1
    assert bodies[closing + 1] == UNAVAILABLE == bodies[other_tab]
    # Exactly once each: the 503 visits counted once (DynamoDB applied them), the next is after.
    assert counts[closing + 2 : other_tab] == list(range(closing + 3, other_tab + 1))
    assert counts[other_tab + 1 :] == list(
        range(other_tab + 2, other_tab + 1 + comeback + day_after - 1)
    )


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "counted"), [pytest.param("07", 2, id="07-twice")])
def test_no_answer_within_the_sdk_s_retries(start_stage, stage, counted):
    """Both attempts are applied and held past the read timeout: the visitor gets 503."""
    stack = start_stage(stage)
    cookie, _ = new_session(stack.url())
    status, body, calls = held_visit(stack, cookie)
    assert calls == ["UpdateItem", "UpdateItem"]
    assert (status, body) == (503, UNAVAILABLE)
    # A 503 cannot promise that nothing counted: DynamoDB applied the update. 07 counts it
    # twice, more than the one visit the visitor made (08's once: in the check's test above).
    assert count_of(stack.url(), cookie) == 1 + counted + 1


@pytest.mark.slow
@pytest.mark.parametrize("stall", [4, 9], ids=["4s-within-the-retries", "9s-beyond-them"])
@pytest.mark.parametrize("stage", ["07", "08"])
def test_8_visitors_through_a_stall(start_stage, stage, stall):
    """The app's own SDK settings, 8 visitors with a cookie each, DynamoDB stalled for a while."""
    result = race(start_stage(stage), clients=8, visits=6, stall=stall)
    assert result.held >= 1  # the stall held answers: its first one, for the whole `stall`
    assert len(result.visitors) == 8
    for visitor in result.visitors:
        assert sum(visitor.statuses.values()) == 6
        assert set(visitor.statuses) <= {200, 503, 429}  # no 502, 504 or silence
        assert visitor.lost == 0  # nothing acknowledged is lost (counted >= answered 200)
        if stage == "08":
            assert visitor.counted <= visitor.acknowledged + visitor.unavailable
    if result.unavailable:  # what the verdict says of the 503s is what this race measured
        beyond = sum(max(0, v.counted - v.acknowledged) for v in result.visitors)
        (said,) = [line for line in result.verdict() if "answered 503" in line]
        assert (f"rose by {beyond} more" in said) if beyond else ("None of them" in said), said
    if stage == "07":
        # The first held answer is held `stall` seconds, more than the read timeout: the SDK
        # retries that visit's update, and 07's ADD counts it again.
        assert result.counted_twice >= 1
    else:
        assert result.counted_twice == 0


@pytest.mark.slow
def test_workshop_race_with_a_stall_tells_what_was_counted_twice(capsys):
    run = here(capsys, "race", "07", "--clients", "2", "--visits", "3", "--stall", "4")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "Racing 2 clients x 3 visits, all at once, on their sessions..." in lines
    header = lines.index(
        "clients  visits each  sent  counted  lost  answered 503  counted twice  failed"
    )
    numbers = [int(n) for n in lines[header + 1].split()]
    assert numbers[:3] == [2, 3, 6] and numbers[4] == 0 and numbers[6] >= 1
    twice = "1 visit was" if numbers[6] == 1 else f"{numbers[6]} visits were"
    assert lines[header + 2] == (
        f"{twice} answered once but counted twice: DynamoDB applied an "
        "update whose answer came after the SDK's read timeout, and the SDK's retry counted "
        "it again."
    )


def test_a_stalled_race_on_a_stage_with_one_session_tallies_it_as_one_visitor(start_stage):
    result = race(start_stage("05"), clients=2, visits=2, stall=1)
    (session,) = result.visitors
    assert sum(session.statuses.values()) == 4


def test_a_stalled_race_too_short_for_the_stall_says_that_nothing_was_held(start_stage):
    """The stall begins once a quarter of the visits are answered: one visit is all of them."""
    result = race(start_stage("07"), clients=1, visits=1, stall=4)
    assert result.held == 0
    assert result.verdict()[-1] == (
        "DynamoDB held no answer: the stall begins once a quarter of the visits are answered, "
        "and the race ended first. Give it more visits (--visits 4)."
    )
    assert "although DynamoDB answered late" not in " ".join(result.verdict())


def _stalled(*visitors: Tally) -> RaceResult:
    sent = sum(sum(visitor.statuses.values()) for visitor in visitors)
    counted = sum(visitor.counted for visitor in visitors)
    return RaceResult(1, sent, sent, counted, 0, stall=12, held=sent, visitors=visitors)


@pytest.mark.parametrize(
    ("counted", "says"),
    [
        pytest.param(4, "The counts rose by 2 more than the visits answered 200", id="07-twice"),
        pytest.param(3, "The counts rose by 1 more than the visits answered 200", id="08-once"),
        pytest.param(2, "None of them was counted.", id="not-at-all"),
    ],
)
def test_the_503_sentence_says_what_the_race_measured(counted, says):
    """Stage 07 may count a 503 visit twice, stage 08 once at most: the sentence holds for both."""
    result = _stalled(Tally({200: 2, 503: 1}, counted))
    (said,) = [line for line in result.verdict() if "answered 503" in line]
    assert said.startswith("1 visit was answered 503: DynamoDB did not answer within the SDK's")
    assert says in said and "count once" not in said


# Stage 08 keeps every counted request id while its retry may come, and forgets it after.
def seeded(stack, old: int) -> tuple[str, set[str]]:
    """A session whose item holds 4 visits, `old` request ids an hour old and one just made."""
    cookie, _ = new_session(stack.url())
    now = int(time.time())
    stale = {f"{now - 3600}:old-{n}" for n in range(old)}
    stack.table().put_item(
        Item={
            "session_id": cookie.partition("=")[2],
            "visit_count": 4,
            "counted_requests": stale | {f"{now}:recent"},
        }
    )
    return cookie, stale


def requests_kept(stack, cookie: str) -> set[str]:
    item = stack.table().get_item(Key={"session_id": cookie.partition("=")[2]})["Item"]
    return set(item["counted_requests"])


def test_old_request_ids_are_forgotten_once_enough_of_them_are_old(start_stage, monkeypatch):
    stack = start_stage("08")
    app = stage_module("08", monkeypatch)
    # Retries come within the function's Timeout; the ids are kept three times as long.
    assert 3 * stack.function().timeout <= app.REQUEST_MEMORY
    for old, forgotten in ((app.FORGET_BATCH - 1, False), (app.FORGET_BATCH, True)):
        cookie, stale = seeded(stack, old)
        with dynamodb_calls(stack) as calls:
            assert count_of(stack.url(), cookie) == 5
        kept = requests_kept(stack, cookie)
        assert len(kept) == (2 if forgotten else 2 + old)
        assert not kept & stale if forgotten else stale <= kept
        assert calls == ["UpdateItem"] * (2 if forgotten else 1)


def test_a_failure_to_forget_old_request_ids_still_answers_the_count(start_stage):
    stack = start_stage("08")
    cookie, stale = seeded(stack, 10)
    denied = {"__type": "com.amazon.coral.service#AccessDeniedException", "message": "no"}

    def deny_forgetting(_target: str, body: dict) -> dict | None:
        return denied if body.get("UpdateExpression", "").startswith("DELETE") else None

    logs = stack.log_tail()
    with stack.intercept_dynamodb(deny_forgetting):
        assert count_of(stack.url(), cookie) == 5
    assert stale <= requests_kept(stack, cookie)
    logged = " ".join(event.message for event in logs.read())
    assert "Could not forget 10 old request ids" in logged


@pytest.mark.slow
def test_a_slow_forgetting_write_never_keeps_a_counted_visit_from_its_answer(start_stage):
    """The count takes a retry (its first attempt held back, unapplied, until the SDK gives up
    on it), then the write that forgets old ids gets no answer: the visit still answers 200,
    counted once, within the function's Timeout."""
    stack = start_stage("08")
    cookie, stale = seeded(stack, 10)
    retried, answered = threading.Event(), threading.Event()

    def hold(_target: str, body: dict) -> None:
        expression = body.get("UpdateExpression", "")
        if expression.startswith("ADD") and not retried.is_set():
            retried.set()  # the first attempt waits here; its retry goes on
            answered.wait(PATIENCE)
        elif expression.startswith("DELETE"):
            answered.wait(PATIENCE)

    with stack.intercept_dynamodb(hold):
        status, _, body = visit(stack.url(), cookie)
        answered.set()
    assert (status, body.get("visit_count")) == (200, 5), body
    assert count_of(stack.url(), cookie) == 6
