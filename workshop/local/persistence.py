"""What `up` stores survives a restart, a crash too: a snapshot, and a journal of writes since.

DynamoDB answers a write only once it is durable. The embedded AWS keeps its tables in memory
and snapshots them while they change (Stack saves every second), so a process killed between
two snapshots (kill -9, a closed terminal, a crash) would lose writes it had acknowledged. So
each DynamoDB write that succeeded is appended to a journal before its answer goes out, and a
restart replays the journal onto the snapshot. A snapshot reads the tables while no call is
applied, and starts a new journal file at that very point: the files before it are deleted
only once the snapshot is on disk, so a crash at any moment leaves a snapshot and every write
since it. Log events have no journal: at worst the last second of them is lost. The snapshot
keeps the template's tables only: one made with the AWS CLI is gone after a restart.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workshop.errors import WorkshopError
from workshop.types import ITEM_WRITES

__all__ = [
    "JOURNALED",
    "Journal",
    "forget",
    "make_state_folder",
    "read_state",
    "restore_logs",
    "restore_tables",
    "save",
]

# The header of a journaled write sent again, with the local AWS's replay token (which no
# function has): it was checked when it was first made, and its function's calls may be held
# meanwhile (the stack is starting), so it goes past their hooks.
REPLAYED = "X-Workshop-Replayed"
# The DynamoDB operations that may change items, or delete them all: each one that succeeded is
# journaled.
JOURNALED = ITEM_WRITES | {"DeleteTable"}


def _journal_path(state_file: Path, number: int) -> Path:
    return state_file.with_name(f"{state_file.stem}.journal.{number}.jsonl")


def _journals(state_file: Path) -> list[tuple[int, Path]]:
    """The journal files beside `state_file`, oldest first."""
    found = []
    for path in state_file.parent.glob(f"{state_file.stem}.journal.*.jsonl"):
        number = path.name.split(".")[-2]
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


class Journal:
    """The DynamoDB writes acknowledged since the latest snapshot, one JSON line each."""

    def __init__(self, state_file: Path):
        self.state_file = state_file
        # After every file there is: a restart replays those, and must not journal its replay.
        self.number = max((number for number, _ in _journals(state_file)), default=0) + 1
        make_state_folder(state_file)
        self._file = _journal_path(state_file, self.number).open("a", encoding="utf-8")
        self.failed = False  # whether a write could not be kept (said once)

    def append(self, target: str, authorization: str, body: bytes) -> None:
        """Keep one write, as it came (its target, its credential scope, its body)."""
        line = {"target": target, "authorization": authorization, "body": body.decode("utf-8")}
        try:
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()  # in the operating system's hands: a crash of this process keeps it
        except OSError as error:  # a full disk, say: the write is applied, and must be answered
            if not self.failed:  # (a 500 would have the SDK retry it, and count a visit twice)
                print(
                    f"Warning: cannot keep writes in {self._file.name} ({error}): what is "
                    "stored survives a restart, but not a crash, until the next snapshot.",
                    file=sys.stderr,
                    flush=True,
                )
            self.failed = True

    def rotate(self) -> int:
        """Start the next file (a snapshot is being taken); its number."""
        self._file.close()
        self.number += 1
        self._file = _journal_path(self.state_file, self.number).open("a", encoding="utf-8")
        return self.number

    def close(self) -> None:
        # The file stays, empty or not: its number is where the next run's journal must begin,
        # after the one the snapshot names (a lower one would not be replayed).
        self._file.close()


def forget(state_file: Path) -> None:
    """Delete the snapshot and its journals (`up --fresh`)."""
    make_state_folder(state_file)
    for _, path in _journals(state_file):
        path.unlink(missing_ok=True)
    state_file.unlink(missing_ok=True)


def save(aws: Any, path: Path, tables: list[str], groups: list[str], journal: Journal | None):
    """Write the named tables and log groups to `path` (atomically)."""
    with aws.between_calls():  # the tables as they stand, and the journal of what follows
        items = aws.items(tables)
        first = journal.rotate() if journal is not None else None
    logs = aws.client("logs")
    state: dict[str, Any] = {"tables": items, "log_groups": {}, "journal": first}
    for group in groups:
        streams: dict[str, list[dict[str, Any]]] = {}
        try:
            for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group):
                for stream in page["logStreams"]:
                    name = stream["logStreamName"]
                    events = logs.get_log_events(
                        logGroupName=group, logStreamName=name, startFromHead=True
                    )["events"]
                    streams[name] = [
                        {"timestamp": e["timestamp"], "message": e["message"]} for e in events
                    ]
        except logs.exceptions.ResourceNotFoundException:
            continue
        state["log_groups"][group] = streams
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    with open(scratch, "w", encoding="utf-8") as file:
        file.write(json.dumps(state))
        file.flush()
        os.fsync(file.fileno())  # on disk before it replaces the last one: a power cut keeps one
    os.replace(scratch, path)
    for number, old in _journals(path):
        if first is not None and number < first:
            # One held open (by a virus scanner on Windows) is left: older than the snapshot
            # names, it is never replayed, and the next snapshot tries again.
            with contextlib.suppress(OSError):
                old.unlink(missing_ok=True)


def read_state(path: Path) -> dict[str, Any]:
    """What `save` wrote to `path` ({} when nothing was), or a WorkshopError saying how to go on
    when it cannot be read: cut short by a crash, or by a sync tool."""
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not all(
            isinstance(state.get(part, {}), dict) for part in ("tables", "log_groups")
        ):
            raise ValueError("it is not what the workshop writes")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _damaged(path, str(error)) from None
    return state


def make_state_folder(state_file: Path) -> None:
    """Make the folder `state_file` goes in; a file where it should be (which no run of the
    workshop writes, and --fresh would not remove) is a WorkshopError naming it."""
    try:
        state_file.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise WorkshopError(
            f"{state_file.parent} is a file, where the workshop keeps what this project stores "
            "(a folder): delete that file, or move it away, then run the command again; the "
            "project starts afresh."
        ) from None


def _damaged(path: Path, why: str) -> WorkshopError:
    return WorkshopError(
        f"What this project stored, in {path}, cannot be read ({' '.join(why.split())}): a "
        "crash or a sync tool "
        "may have cut it short. Start it afresh: the same `python run.py up` command with "
        "--fresh, which discards what it held (or delete that file)."
    )


def _key_changed(path: Path, table: str, keys: list[str]) -> WorkshopError:
    return WorkshopError(
        f"The items stored for table {table}, in {path}, lack its key now ({', '.join(keys)}): "
        "template.yaml changed the table's key since they were stored. On AWS that change "
        "replaces the table, and its items go with it. Start afresh: the same `python run.py "
        "up` command with --fresh, which discards what it held."
    )


def restore_tables(aws: Any, path: Path, state: dict[str, Any]) -> None:
    """Put back the items of `state`, which `save` wrote to `path` (the tables must exist
    already), and replay the journal since."""
    from botocore.exceptions import BotoCoreError, ClientError

    dynamodb = aws.client("dynamodb")
    existing = set(dynamodb.list_tables()["TableNames"])
    try:
        for table, items in state.get("tables", {}).items():
            if table not in existing:  # saved under an older name (before names had a suffix)
                continue
            described = dynamodb.describe_table(TableName=table)["Table"]
            keys = [key["AttributeName"] for key in described["KeySchema"]]
            types = {
                a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]
            }
            if any(
                isinstance(item, dict)
                and any(
                    not isinstance(item.get(key), dict) or types[key] not in item[key]
                    for key in keys
                )
                for item in items
            ):
                raise _key_changed(path, table, keys)
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                dynamodb.batch_write_item(RequestItems={table: batch})
    except (BotoCoreError, ClientError, TypeError, AttributeError) as error:  # wrong inside
        raise _damaged(path, f"{type(error).__name__}: {error}") from None
    since = state.get("journal") or 0  # a snapshot from before journals: none of them is newer
    where = urlsplit(aws.endpoint_url)
    # http.client, not urllib: a proxy of the user's (HTTP_PROXY) must not see local calls.
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        for number, journal in _journals(path):
            if number >= since:
                for write in _journaled(journal):
                    _replay(connection, write, aws.replay_token)
    finally:
        connection.close()


def restore_logs(aws: Any, path: Path, state: dict[str, Any] | None = None) -> None:
    """Put back the log events `save` wrote to `path` (from `state`, where it was read already),
    each stream's only into a stream made just now: never twice into one stream."""
    from botocore.exceptions import BotoCoreError, ClientError

    from workshop.local.local_aws import ensure_log_group, ensure_log_stream

    state = read_state(path) if state is None else state
    logs = aws.client("logs")
    try:
        for group, streams in state.get("log_groups", {}).items():
            ensure_log_group(logs, group)
            for stream, events in streams.items():
                if ensure_log_stream(logs, group, stream) and events:
                    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    except (BotoCoreError, ClientError, TypeError, AttributeError) as error:  # wrong inside
        raise _damaged(path, f"{type(error).__name__}: {error}") from None


def _journaled(journal: Path) -> list[dict[str, str]]:
    """The writes a journal file keeps, or a WorkshopError saying how to go on when it cannot be
    read: it holds what `Journal.append` writes, JSON in ASCII, one write a line."""
    try:
        lines = journal.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise _damaged(journal, str(error)) from None
    writes = []
    for number, line in enumerate(lines, 1):
        try:
            write = json.loads(line)
        except ValueError:  # a line cut short by the crash
            continue
        if not _is_write(write):
            raise _damaged(journal, f"line {number} is not a write the workshop keeps")
        writes.append(write)
    return writes


def _is_write(write: Any) -> bool:
    """Whether `write` is what `Journal.append` keeps, and can be sent again: headers in ASCII
    (as HTTP sent them), a body of text that UTF-8 can write (no lone surrogate)."""
    if not isinstance(write, dict) or not all(
        isinstance(write.get(part), str) for part in ("target", "authorization", "body")
    ):
        return False
    try:
        write["body"].encode("utf-8")
    except UnicodeEncodeError:
        return False
    return write["target"].isascii() and write["authorization"].isascii()


def _replay(connection: http.client.HTTPConnection, write: dict[str, str], token: str) -> None:
    """Send one journaled write again, as it came. One that fails now (its table deleted since,
    say) is left out, as its effect was."""
    headers = {
        "X-Amz-Target": write["target"],
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": write["authorization"],
        REPLAYED: token,
    }
    connection.request("POST", "/", write["body"].encode("utf-8"), headers)
    connection.getresponse().read()
