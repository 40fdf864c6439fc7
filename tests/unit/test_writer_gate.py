"""The in-process queue for SQLite's writer slot: first come first served, Slack listeners first,
re-entrant, and the slot handed to exactly one waiter at a time."""

from __future__ import annotations

import threading
import time

from storage.db import WriterGate


def _queue(gate: WriterGate, order: list[str], name: str, *, urgent: bool) -> threading.Thread:
    def write() -> None:
        gate.acquire(urgent=urgent)
        order.append(name)
        time.sleep(0.01)
        gate.release()

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.05)  # queued in this order
    return thread


def test_urgent_writers_go_first_and_each_class_keeps_its_order() -> None:
    gate = WriterGate()
    gate.acquire(urgent=False)
    order: list[str] = []
    threads = [
        _queue(gate, order, "runner-1", urgent=False),
        _queue(gate, order, "ack-1", urgent=True),
        _queue(gate, order, "runner-2", urgent=False),
        _queue(gate, order, "ack-2", urgent=True),
    ]
    assert order == [], "nobody writes while the slot is held"
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == ["ack-1", "ack-2", "runner-1", "runner-2"]


def test_the_slot_is_reentrant_and_held_by_one_thread_at_a_time() -> None:
    gate = WriterGate()
    inside = 0
    most = 0
    lock = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(50):
            gate.acquire(urgent=False)
            gate.acquire(urgent=True)  # a service function calling another on the same thread
            with lock:
                inside += 1
                most = max(most, inside)
            with lock:
                inside -= 1
            gate.release()
            gate.release()

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 1 and all(not t.is_alive() for t in threads)
    gate.acquire(urgent=False)  # free again once everyone released
    gate.release()
