"""What `up` stores survives a restart: the snapshot, and the journal of each acknowledged write
since it, which a crash between two snapshots would otherwise lose."""

from __future__ import annotations

import json
import shutil

from tests.helpers import fetch_json
from workshop.local import stack as stack_module


def test_what_was_stored_survives_a_restart_unless_fresh(make_stack, tmp_path):
    first = make_stack(state_dir=tmp_path)
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 1}
    assert fetch_json(first.url("/behave/add"))[1] == {"hits": 2}
    first.stop()

    again = make_stack(state_dir=tmp_path, fresh=False)
    assert fetch_json(again.url("/behave/add"))[1] == {"hits": 3}
    old_lines = [e.message for e in again.logs('"START RequestId"')]
    assert len(old_lines) == 3  # the two earlier runs' log lines came back too, once each
    again.stop()

    fresh = make_stack(state_dir=tmp_path, fresh=True)
    assert fetch_json(fresh.url("/behave/add"))[1] == {"hits": 1}


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


def test_visits_acknowledged_after_the_last_snapshot_survive_a_crash(
    make_stack, tmp_path, monkeypatch
):
    """DynamoDB answers a write once it is durable. `up` snapshots once a second; a process
    killed in between (kill -9, a closed terminal) keeps each acknowledged write in its journal,
    and the restart replays it: the count goes on, never back."""
    monkeypatch.setattr(stack_module, "SAVE_INTERVAL", 3600.0)  # no snapshot after the first
    first = make_stack(state_dir=tmp_path / "state")
    assert [fetch_json(first.url("/behave/add"))[1]["hits"] for _ in range(3)] == [1, 2, 3]
    # The state folder as a crash would leave it, now, with no final snapshot.
    shutil.copytree(tmp_path / "state", tmp_path / "crashed")
    first.table().delete()  # the crashed process's memory is gone with it
    first.stop()

    again = make_stack(state_dir=tmp_path / "crashed", fresh=False)
    assert fetch_json(again.url("/behave/add"))[1] == {"hits": 4}
    again.stop()  # a clean stop: one snapshot, and no journal left to replay
    assert [p.name for p in (tmp_path / "crashed").iterdir()] == ["state.json"]
    assert json.loads((tmp_path / "crashed" / "state.json").read_text())["tables"]
