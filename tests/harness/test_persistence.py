"""What `up` stores survives a restart: the snapshot, and the journal of each acknowledged write
since it, which a crash between two snapshots would otherwise lose."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from tests.helpers import fetch, fetch_json
from workshop import manifest, served
from workshop.errors import WorkshopError
from workshop.local import persistence
from workshop.local import stack as stack_module
from workshop.local.local_aws import LocalAWS
from workshop.local.persistence import Journal


def _stop_as_its_process_ends(stack) -> None:
    """Stop `stack`, and delete its table and log group from moto, whose state is this
    process's: a new `up` process finds neither, and puts back what was saved."""
    tables = [table.name for table in stack.template.tables.values()]
    group = stack.function().log_group
    stack.stop()
    aws = LocalAWS().start()
    for table in tables:
        aws.client("dynamodb").delete_table(TableName=table)
    aws.client("logs").delete_log_group(logGroupName=group)
    aws.stop()


def test_what_was_stored_survives_a_restart_unless_fresh(make_stack, tmp_path, monkeypatch):
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 2}
    _stop_as_its_process_ends(first)

    reads, read = [], persistence.read_state
    monkeypatch.setattr(persistence, "read_state", lambda path: reads.append(path) or read(path))
    again = make_stack(state_dir=tmp_path, fresh=False)
    assert reads == [tmp_path / "state.json"]  # once, for its items and its log events
    assert fetch_json(again.url("/behave/add"))[1] == {"hits": 3}
    old_lines = [e.message for e in again.logs('"START RequestId"')]
    assert len(old_lines) == 3  # the two earlier runs' log lines came back too, once each
    again.stop()

    fresh = make_stack(state_dir=tmp_path, fresh=True)
    assert fetch_json(fresh.url("/behave/add"))[1] == {"hits": 1}


def test_a_project_without_a_table_keeps_its_logs_across_restarts(start_stage, tmp_path):
    """Stage 01 keeps nothing in DynamoDB; CloudWatch Logs keeps its log events all the same."""
    first = start_stage("01", state_dir=tmp_path)
    assert fetch(first.url("/hello"))[0] == 200
    earlier = {event.message for event in first.logs()}
    _stop_as_its_process_ends(first)

    again = start_stage("01", state_dir=tmp_path, fresh=False)
    assert earlier and earlier <= {event.message for event in again.logs()}
    again.stop()  # and they are saved again, with this run's
    (streams,) = persistence.read_state(tmp_path / "state.json")["log_groups"].values()
    assert earlier <= {
        event["message"].rstrip("\n") for events in streams.values() for event in events
    }


def test_saved_log_events_never_come_back_twice_into_one_stream(make_stack, tmp_path):
    """A restart in the same process finds its streams in moto still, with their events."""
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    first.stop()
    again = make_stack(state_dir=tmp_path, fresh=False)
    assert len(again.logs('"START RequestId"')) == 1


def test_a_table_deleted_while_the_stack_ran_is_not_saved_and_the_logs_are(make_stack, tmp_path):
    stack = make_stack(state_dir=tmp_path)
    assert fetch_json(stack.url("/behave/add"))[1] == {"hits": 1}
    stack.table().delete()  # as `aws dynamodb delete-table` would, while `up` serves
    assert fetch_json(stack.url("/behave/add"))[0] == 502  # the function fails without it
    stack.stop()  # saves what is left, without a word about the table

    saved = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert saved["tables"] == {}
    (streams,) = saved["log_groups"].values()
    starts = [e for events in streams.values() for e in events if e["message"].startswith("START")]
    assert len(starts) == 2  # both visits, the 502 included


def test_state_saved_under_a_name_the_stack_no_longer_has_is_left_alone(make_stack, tmp_path):
    """As stored before names had CloudFormation's suffix: the stack starts, and counts anew."""
    item = {"pk": {"S": "shared"}, "hits": {"N": "7"}}
    state = {"tables": {"renamed-ItemsTable": [item]}, "log_groups": {}}
    (tmp_path / "state.json").write_text(json.dumps(state), encoding="utf-8")
    # A stack name of its own: its table is made now, so the saved state is read.
    stack = make_stack(state_dir=tmp_path, fresh=False, stack_name="renamed")
    assert fetch_json(stack.url("/behave/add"))[1] == {"hits": 1}


def _crash(stack, state: Path, left: Path) -> None:
    """The state folder as a crash of `stack` would leave it (copied to `left`), with no final
    snapshot; the stack's memory goes with it."""
    shutil.copytree(state, left)
    stack.table().delete()
    stack.stop()


def test_visits_acknowledged_after_the_last_snapshot_survive_a_crash(
    make_stack, tmp_path, monkeypatch
):
    """DynamoDB answers a write once it is durable. `up` snapshots once a second; a process
    killed in between (kill -9, a closed terminal) keeps each acknowledged write in its journal,
    and the restart replays it: the count goes on, never back. So after a clean stop too."""
    monkeypatch.setattr(stack_module, "SAVE_INTERVAL", 3600.0)  # no snapshot after the first
    first = make_stack(state_dir=tmp_path / "a")
    assert [fetch_json(first.url("/behave/add"))[1]["hits"] for _ in range(3)] == [1, 2, 3]
    _crash(first, tmp_path / "a", tmp_path / "b")

    again = make_stack(state_dir=tmp_path / "b", fresh=False)
    assert fetch_json(again.url("/behave/add"))[1] == {"hits": 4}
    again.save()  # as the saver does each second that something changed: a journal each
    again.save()
    again.stop()  # a clean stop: a snapshot of all, and an empty journal after it

    third = make_stack(state_dir=tmp_path / "b", fresh=False)
    assert [fetch_json(third.url("/behave/add"))[1]["hits"] for _ in range(2)] == [5, 6]
    _crash(third, tmp_path / "b", tmp_path / "c")

    last = make_stack(state_dir=tmp_path / "c", fresh=False)
    assert fetch_json(last.url("/behave/add"))[1] == {"hits": 7}


class HeldStart:
    """A stack started in a thread of its own, a step of its start held until `release()`: its
    deploy, the local AWS's serving before it (for which `up` loads moto: `held="serve"`), or
    the saved logs put back after it (`held="logs"`); meanwhile its API serves, and its runtime
    says when an environment's init ended and whether an event was sent after the deploy (`ran`:
    one entry for each event sent)."""

    def __init__(
        self,
        make_stack,
        monkeypatch,
        deploy_fails: bool = False,
        held: str = "deploy",
        **options,
    ):
        self.holding, self._release, self.deployed = threading.Event(), threading.Event(), []
        self.inited, self.ran, self.errors, stacks = threading.Event(), [], [], []
        start, deploy, serve = stack_module.Stack.start, stack_module.Stack._deploy, LocalAWS.serve
        restore_logs = persistence.restore_logs

        def starting(stack):
            stacks.append(stack)
            return start(stack)

        def hold() -> None:
            self.holding.set()
            assert self._release.wait(60)

        def held_serve(aws):
            hold()
            return serve(aws)

        def held_restore_logs(*args):
            hold()
            return restore_logs(*args)

        def held_deploy(stack):
            if held == "deploy":
                hold()
            if deploy_fails:
                raise WorkshopError("the deploy failed")
            saved = deploy(stack)
            self.deployed.append(True)
            return saved

        def make():
            try:
                make_stack(**options)
            except WorkshopError as error:
                self.errors.append(error)

        monkeypatch.setattr(stack_module.Stack, "start", starting)
        monkeypatch.setattr(stack_module.Stack, "_deploy", held_deploy)
        if held == "serve":
            monkeypatch.setattr(LocalAWS, "serve", held_serve)
        if held == "logs":
            monkeypatch.setattr(persistence, "restore_logs", held_restore_logs)
        self._starter = threading.Thread(target=make)
        self._starter.start()
        assert self.holding.wait(60)
        (self.stack,) = stacks
        (runtime,) = self.stack.runtimes.values()
        init, run = runtime._init, runtime._run

        def watched_init(*args):
            ready = init(*args)
            self.inited.set()
            return ready

        def watched_run(*args):
            self.ran.append(bool(self.deployed))
            return run(*args)

        runtime._init, runtime._run = watched_init, watched_run

    def release(self) -> None:
        self._release.set()
        self._starter.join(60)


def _visit_in_a_thread(url: str) -> tuple[threading.Thread, list]:
    answers: list = []

    def visit() -> None:
        try:
            answers.append(fetch_json(url))
        except OSError as error:  # the API stopped before it answered
            answers.append(error)

    visiting = threading.Thread(target=visit)
    visiting.start()
    return visiting, answers


def test_a_visit_while_the_stack_starts_inits_at_once_and_counts_on_from_what_came_back(
    make_stack, tmp_path, monkeypatch
):
    """The API serves once its port is bound: a visit that comes while the tables are made and
    what was stored comes back starts its environment at once (its init, a cold start's cost,
    runs meanwhile), and its event waits for the deploy, as on AWS, where it comes only after."""
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    first.stop()

    start = HeldStart(make_stack, monkeypatch, state_dir=tmp_path, fresh=False)
    visiting, answers = _visit_in_a_thread(start.stack.url("/behave/add"))
    assert start.inited.wait(60)  # the deploy is still held
    start.release()
    visiting.join(60)
    assert [body for _, body, *_ in answers] == [{"hits": 2}]
    assert start.ran == [True]


def test_a_first_visit_inits_before_the_local_aws_serves_and_runs_once_it_is_deployed(
    make_stack, monkeypatch
):
    """`up` serves its API before it loads moto: a first visit's cold start runs meanwhile, and
    its event waits until the local AWS serves and the tables are made."""
    start = HeldStart(make_stack, monkeypatch, held="serve")
    visiting, answers = _visit_in_a_thread(start.stack.url("/behave/add"))
    assert start.inited.wait(60)  # the local AWS is still to be served
    assert start.ran == []
    start.release()
    visiting.join(60)
    assert [body for _, body, *_ in answers] == [{"hits": 1}]
    assert start.ran == [True]


def test_a_restart_counts_a_visit_before_the_saved_logs_are_back_and_a_read_waits_for_them(
    make_stack, tmp_path, monkeypatch
):
    """The saved log events come back once the visits may run: one call a stream, and a day of
    cold starts makes many. A read of the logs meanwhile waits for them, and misses none."""
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    saved = {event.message for event in first.logs()}
    _stop_as_its_process_ends(first)

    start = HeldStart(make_stack, monkeypatch, held="logs", state_dir=tmp_path, fresh=False)
    assert fetch_json(start.stack.url("/behave/add"))[1] == {"hits": 2}  # the logs are held
    read: list = []
    reading = threading.Thread(target=lambda: read.extend(start.stack.logs()))
    reading.start()
    start.release()
    reading.join(60)
    assert saved and saved <= {event.message for event in read}


def test_a_visit_waiting_for_a_deploy_that_fails_never_reaches_the_function(
    make_stack, tmp_path, monkeypatch
):
    start = HeldStart(make_stack, monkeypatch, deploy_fails=True, state_dir=tmp_path)
    visiting, _ = _visit_in_a_thread(start.stack.url("/behave/add"))
    assert start.inited.wait(60)
    start.release()
    visiting.join(60)
    assert [str(error) for error in start.errors] == ["the deploy failed"]
    assert start.ran == []  # its event was never sent: the stack stopped first


def test_a_new_run_journals_after_the_journal_its_snapshot_names(tmp_path):
    """A restart replays the journals from the one the snapshot names on: the next run's must
    come after it, or what it kept would not be replayed after a crash."""
    state = tmp_path / "state.json"
    journal = Journal(state)
    for _ in range(3):  # three snapshots, each starting a journal and deleting those before
        last = journal.rotate()
        for older in tmp_path.glob("state.journal.*.jsonl"):
            if int(older.name.split(".")[-2]) < last:
                older.unlink()
    journal.close()
    following = Journal(state)
    following.close()
    assert following.number > last


def test_a_table_deleted_just_before_a_crash_is_empty_after_the_restart(
    make_stack, tmp_path, monkeypatch
):
    """As after a clean stop: DynamoDB answered the delete DELETING, and a crash must not undo
    it. The table is made anew, empty, for the stack."""
    monkeypatch.setattr(stack_module, "SAVE_INTERVAL", 3600.0)
    first = make_stack(state_dir=tmp_path / "a")
    assert [fetch_json(first.url("/behave/add"))[1]["hits"] for _ in range(2)] == [1, 2]
    first.save()  # a snapshot that holds the count
    first.table().delete()  # as `aws dynamodb delete-table` would
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # and then the crash
    first.stop()

    again = make_stack(state_dir=tmp_path / "b", fresh=False)
    assert fetch_json(again.url("/behave/add"))[1] == {"hits": 1}


@pytest.mark.parametrize(
    "damaged",
    [
        "",
        '{"tables": {"probe-Items',
        "[]",
        '{"tables": []}',
        '{"tables": {}, "log_groups": {"/aws/lambda/probe": {"s": "bad"}}}',
    ],
)
def test_a_state_file_cut_short_is_a_clear_error_and_fresh_starts_over(
    make_stack, tmp_path, damaged
):
    """A crash, or a sync tool, may leave state.json empty or cut short: `up` says so and how
    to go on (--fresh), and --fresh does."""
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    first.table().delete()  # so that the restart makes it anew, and fills it from state.json,
    first.stop()  # as a new `up` process does
    (state,) = tmp_path.rglob("state.json")
    state.write_text(damaged, encoding="utf-8")
    with pytest.raises(WorkshopError, match=r"cannot be read .*--fresh"):
        make_stack(state_dir=tmp_path, fresh=False)
    fresh = make_stack(state_dir=tmp_path, fresh=True)
    assert fetch_json(fresh.url("/behave/add"))[1] == {"hits": 1}


def test_a_state_file_cut_short_is_a_clear_error_in_a_project_without_a_table(
    start_stage, tmp_path
):
    """Stage 01 keeps its log events there: it reads the file too."""
    (tmp_path / "state.json").write_text('{"tables": {}, "log_gr', encoding="utf-8")
    with pytest.raises(WorkshopError, match=r"cannot be read .*--fresh"):
        start_stage("01", state_dir=tmp_path, fresh=False)


@pytest.mark.parametrize(
    "damaged",
    [b'{"a": 1}\n', b'{"target": 1, "authorization": "", "body": ""}\n', b"\xff\xfe{\n"],
    ids=["not-a-write", "a-number-for-a-target", "not-utf-8"],
)
def test_a_journal_damaged_is_a_clear_error_and_fresh_starts_over(make_stack, tmp_path, damaged):
    """As state.json: a line that is JSON but no write, or bytes that are not text, are said as
    damage, and --fresh starts over (they were a KeyError, a UnicodeDecodeError)."""
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    first.table().delete()  # so that the restart makes it anew, and replays the journal
    first.stop()
    journal = max(tmp_path.rglob("state.journal.*.jsonl"))  # the one after the snapshot
    journal.write_bytes(damaged)
    with pytest.raises(WorkshopError, match=rf"in {journal}, cannot be read .*--fresh"):
        make_stack(state_dir=tmp_path, fresh=False)
    fresh = make_stack(state_dir=tmp_path, fresh=True)
    assert fetch_json(fresh.url("/behave/add"))[1] == {"hits": 1}


@pytest.mark.parametrize(
    "stored",
    [
        {"session_id": {"S": "shared"}, "hits": {"N": "7"}},  # another key's name
        {"pk": {"N": "7"}, "hits": {"N": "7"}},  # the key's name, of another type
    ],
)
def test_items_stored_under_another_key_are_named_as_a_changed_key(make_stack, tmp_path, stored):
    """The template changed the table's key after a run: not a damaged file, but a replaced
    table, as on AWS; `up` says so, and --fresh starts over."""
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    table = first.table().name
    first.table().delete()
    first.stop()
    (state,) = tmp_path.rglob("state.json")
    saved = json.loads(state.read_text(encoding="utf-8"))
    saved["tables"][table] = [stored]
    state.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(WorkshopError, match=rf"{table}.* lack its key now \(pk\).*--fresh"):
        make_stack(state_dir=tmp_path, fresh=False)
    fresh = make_stack(state_dir=tmp_path, fresh=True)
    assert fetch_json(fresh.url("/behave/add"))[1] == {"hits": 1}


def test_two_folders_of_one_name_keep_what_they_store_apart(tmp_path, monkeypatch):
    """Two copies called `counter`: the first to run keeps the name, the other gets its own
    folder, so that --fresh on one never empties the other's (a new user's finding)."""
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path / "state"))
    first, second = (tmp_path / where / "counter" for where in ("a", "b"))
    for folder in (first, second):
        shutil.copytree(manifest.find("03").path, folder)
    kept = [served.state_dir(manifest.project(str(folder))) for folder in (first, second)]
    assert kept[0] == tmp_path / "state" / "counter"
    assert kept[1].parent == tmp_path / "state" and kept[1].name.startswith("counter-")
    assert served.state_dir(manifest.project(str(first))) == kept[0]  # and keep them after
    assert served.state_dir(manifest.project(str(second))) == kept[1]
    assert served.state_dir(manifest.project("03")) == tmp_path / "state" / "stage03"
    named_as_a_stage = shutil.copytree(manifest.find("03").path, tmp_path / "c" / "stage03")
    mine = served.state_dir(manifest.project(str(named_as_a_stage)))
    assert mine.parent == tmp_path / "state" and mine.name.startswith("stage03-")
