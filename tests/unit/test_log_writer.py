"""The background log writer: every line written once, in each writer's order, none lost."""

from __future__ import annotations

import io
import threading
import time

from skill_ledger.logs import LineWriter


def test_lines_from_many_threads_are_all_written_once_in_each_threads_order() -> None:
    stream = io.StringIO()
    writer = LineWriter(lambda: stream)

    def burst(name: str) -> None:
        for n in range(500):
            writer.write(f"{name} {n}")

    threads = [threading.Thread(target=burst, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 8 * 500 and time.monotonic() < deadline:
        time.sleep(0.005)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 500
    for i in range(8):
        mine = [int(line.split()[1]) for line in lines if line.startswith(f"t{i} ")]
        assert mine == list(range(500))


def test_a_lone_line_is_written_soon_without_a_flush() -> None:
    stream = io.StringIO()
    writer = LineWriter(lambda: stream)
    writer.write("alone")
    deadline = time.monotonic() + 2
    while "alone" not in stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert stream.getvalue() == "alone\n"
