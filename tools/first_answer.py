"""Seconds from starting `python run.py up STAGE` to its first answer, for each stage given.

    python tools/first_answer.py [STAGE ...] [--runs N] [--path /Prod/hello]

A client asks for the page every 20 ms from the moment the command starts, as a browser that
is refreshed would. Per stage: the median of N runs of those seconds, of the CPU seconds the
command's processes had used by then (Linux only: read from /proc), and of the first visit's
Init Duration, which `up` prints on its cold-start line. The last two tell the harness's own
start apart from the function's cold start, and both from a busy machine's waiting.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"
STAGES = ["01", "02", "03", "04", "05", "06", "07", "08", "final"]


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds of a process and of its children, the living and the ended; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    total = sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            total += sum(cpu_seconds(int(child)) or 0 for child in task.read_text().split())
        except OSError:
            continue  # the thread ended meanwhile
    return total


def one_run(stage: str, path: str) -> tuple[float, float | None, float | None]:
    """(seconds to the first answer, CPU seconds by then, Init Duration in ms) of one start."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    command = [sys.executable, str(RUN_PY), "up", stage, "--port", str(port), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).close()
                break
            except urllib.error.HTTPError:
                break  # an answer all the same (stage 02's lesson is a 500)
            except OSError:
                if process.poll() is not None:
                    raise SystemExit(f"`up {stage}` ended before it answered") from None
                time.sleep(0.02)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(process.pid)
    finally:
        process.terminate()
        output = process.communicate()[0].decode("utf-8", "replace")
    init = re.search(r"cold start: init (\d+) ms", output)
    return seconds, cpu, float(init[1]) if init else None


def median(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{statistics.median(known):.2f}" if known else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stages", nargs="*", default=STAGES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--path", default="/Prod/hello")
    args = parser.parse_args()
    print("stage   first answer (s)   CPU (s)   Init Duration (s)   runs")
    for stage in args.stages:
        runs = [one_run(stage, args.path) for _ in range(args.runs)]
        seconds, cpu, init = zip(*runs, strict=True)
        init_s = [ms / 1000 if ms is not None else None for ms in init]
        print(
            f"{stage:<7} {median(list(seconds)):>16}   {median(list(cpu)):>7}   "
            f"{median(init_s):>17}   {len(runs)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
