"""bench/threads.py's reading of /proc: thread names and CPU times of a live process, and the
per-name sums between two samples. No server runs and no timing is asserted."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import threads  # noqa: E402


def test_threads_of_this_process_are_read_by_name():
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    t = threading.Thread(target=spin, name="spinner")
    t.start()
    try:
        # Linux takes the name from pthread_setname_np, which Python sets on start (3.11+);
        # otherwise the thread shares the process name. Either way it is read.
        before = threads.thread_times(os.getpid())
        time.sleep(0.3)
        after = threads.thread_times(os.getpid())
    finally:
        stop.set()
        t.join()
    assert len(after) >= 2
    assert all(isinstance(n, str) and cpu >= 0 for n, cpu in after.values())
    sums = threads.by_name(before, after)
    assert sum(sums.values()) > 0


def test_by_name_sums_threads_of_one_name_and_counts_new_threads_from_zero():
    before = {"1": ("keeper-tree", 1.0), "2": ("keeper-io-0", 0.5)}
    after = {
        "1": ("keeper-tree", 3.0),
        "2": ("keeper-io-0", 0.75),
        "3": ("keeper-io-0", 0.25),  # born between the samples
        "4": ("keeper-log", 0.0),
    }
    sums = threads.by_name(before, after)
    assert sums == {"keeper-tree": 2.0, "keeper-io-0": 0.5, "keeper-log": 0.0}


def test_a_process_that_is_gone_has_no_threads():
    assert threads.thread_times(2**22 + 12345) == {}
