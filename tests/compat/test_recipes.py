"""kazoo recipes with several KazooClient instances contending:
Lock (+ Read/WriteLock), Election, Barrier, DoubleBarrier, Counter, Queue, LockingQueue,
Party, ShallowParty, Semaphore."""

import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue

from conftest import wait_until

N_CLIENTS = 4


def run_threads(targets, timeout=30):
    errors = []

    def wrap(fn):
        def inner():
            try:
                fn()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        return inner

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in threads if t.is_alive()]
    assert not alive, f"{len(alive)} threads still running after {timeout}s"
    if errors:
        raise errors[0]


def test_lock_mutual_exclusion(make_client, base):
    clients = [make_client() for _ in range(N_CLIENTS)]
    clients[0].create(base + "/count", b"0")
    holders = []
    max_holders = []
    guard = threading.Lock()

    def worker(c, ident):
        def run():
            lock = Lock(c, base + "/lock", identifier=ident)
            for _ in range(5):
                with lock:
                    with guard:
                        holders.append(ident)
                        max_holders.append(len(holders))
                    v = int(c.get(base + "/count")[0])
                    time.sleep(0.005)
                    c.set(base + "/count", str(v + 1).encode())
                    with guard:
                        holders.remove(ident)

        return run

    run_threads([worker(c, f"w{i}") for i, c in enumerate(clients)])
    assert int(clients[0].get(base + "/count")[0]) == 5 * N_CLIENTS
    assert max(max_holders) == 1
    # all lock nodes are gone
    assert clients[0].get_children(base + "/lock") == []


def test_lock_contenders_timeout_and_session_loss(make_client, base):
    a, b = make_client(), make_client()
    la = Lock(a, base + "/lock", identifier="alice")
    lb = Lock(b, base + "/lock", identifier="bob")
    assert la.acquire(timeout=5)
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.5)
    assert la.contenders() == ["alice"]
    # the lock node is an ephemeral sequential node
    (child,) = a.get_children(base + "/lock")
    assert "__lock__" in child and child[-10:].isdigit()
    assert a.exists(base + "/lock/" + child).ephemeralOwner == a.client_id[0]

    got = threading.Event()

    def waiter():
        if lb.acquire(timeout=10):
            got.set()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    wait_until(lambda: len(la.contenders()) == 2, 5, msg="bob queued")
    assert la.contenders() == ["alice", "bob"]
    a.stop()  # session closed: alice's ephemeral lock node disappears
    assert got.wait(10), "bob did not get the lock after alice's session closed"
    t.join(5)
    assert lb.is_acquired
    lb.release()


def test_read_write_lock(make_client, base):
    a, b, c = make_client(), make_client(), make_client()
    r1 = ReadLock(a, base + "/rw")
    r2 = ReadLock(b, base + "/rw")
    w = WriteLock(c, base + "/rw")
    assert r1.acquire(timeout=5)
    assert r2.acquire(timeout=5), "readers share the lock"
    with pytest.raises(LockTimeout):
        w.acquire(timeout=0.5)
    r1.release()
    r2.release()
    assert w.acquire(timeout=5)
    with pytest.raises(LockTimeout):
        ReadLock(a, base + "/rw").acquire(timeout=0.5)
    w.release()


def test_election(make_client, base):
    clients = [make_client() for _ in range(3)]
    leaders = []
    active = []
    guard = threading.Lock()

    def contender(c, ident):
        def run():
            e = Election(c, base + "/election", identifier=ident)

            def lead():
                with guard:
                    active.append(ident)
                    assert len(active) == 1, f"two leaders at once: {active}"
                    leaders.append(ident)
                time.sleep(0.1)
                with guard:
                    active.remove(ident)

            e.run(lead)

        return run

    run_threads([contender(c, f"c{i}") for i, c in enumerate(clients)])
    assert sorted(leaders) == ["c0", "c1", "c2"]


def test_election_contenders(make_client, base):
    a, b = make_client(), make_client()
    started = threading.Event()
    stop = threading.Event()
    ea = Election(a, base + "/el", identifier="first")

    def lead():
        started.set()
        stop.wait(10)

    t = threading.Thread(target=lambda: ea.run(lead), daemon=True)
    t.start()
    assert started.wait(10)
    eb = Election(b, base + "/el", identifier="second")
    assert eb.contenders() == ["first"]
    stop.set()
    t.join(10)


def test_barrier(make_client, base):
    a, b = make_client(), make_client()
    bar_a = Barrier(a, base + "/barrier")
    bar_b = Barrier(b, base + "/barrier")
    bar_a.create()
    assert bar_b.wait(timeout=0.3) is False
    released = threading.Event()

    def waiter():
        if bar_b.wait(timeout=10):
            released.set()

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.2)
    assert not released.is_set()
    assert bar_a.remove() is True
    assert released.wait(10)
    t.join(5)
    assert bar_b.wait(timeout=1) is True


def test_double_barrier(make_client, base):
    n = 3
    clients = [make_client() for _ in range(n)]
    entered = []
    left = []
    guard = threading.Lock()

    def participant(c, i):
        def run():
            db = DoubleBarrier(c, base + "/dbar", n, identifier=f"p{i}")
            time.sleep(0.05 * i)
            db.enter()
            with guard:
                entered.append((i, time.monotonic()))
            time.sleep(0.05 * (n - i))
            db.leave()
            with guard:
                left.append((i, time.monotonic()))

        return run

    run_threads([participant(c, i) for i, c in enumerate(clients)])
    assert len(entered) == n and len(left) == n
    # nobody gets through enter() before the last participant arrived,
    # nobody leaves before everyone is done
    assert max(t for _, t in entered) <= min(t for _, t in left)
    assert clients[0].get_children(base + "/dbar") == []


def test_counter(make_client, base):
    clients = [make_client() for _ in range(N_CLIENTS)]

    def adder(c):
        def run():
            counter = Counter(c, base + "/counter")
            for _ in range(10):
                counter += 1

        return run

    run_threads([adder(c) for c in clients])
    assert Counter(clients[0], base + "/counter").value == 10 * N_CLIENTS
    fc = Counter(clients[0], base + "/fcounter", default=0.5)
    fc += 1.25
    fc -= 0.5
    assert fc.value == pytest.approx(1.25)


def test_queue_fifo_and_priority(make_client, base):
    producer, consumer = make_client(), make_client()
    q = Queue(producer, base + "/queue")
    for i in range(5):
        q.put(f"item-{i}".encode())
    q.put(b"urgent", priority=1)
    assert len(q) == 6
    cq = Queue(consumer, base + "/queue")
    got = [cq.get() for _ in range(6)]
    assert got == [b"urgent"] + [f"item-{i}".encode() for i in range(5)]
    assert cq.get() is None
    assert len(cq) == 0


def test_queue_concurrent_consumers(make_client, base):
    producer = make_client()
    q = Queue(producer, base + "/cq")
    items = [f"{i}".encode() for i in range(40)]
    for it in items:
        q.put(it)
    consumers = [make_client() for _ in range(3)]
    got = []
    guard = threading.Lock()

    def consume(c):
        def run():
            cq = Queue(c, base + "/cq")
            while True:
                v = cq.get()
                if v is None:
                    return
                with guard:
                    got.append(v)

        return run

    run_threads([consume(c) for c in consumers])
    assert sorted(got, key=int) == items, "every item exactly once"


def test_locking_queue(make_client, base):
    producer = make_client()
    lq = LockingQueue(producer, base + "/lq")
    lq.put_all([b"a", b"b", b"c"])
    lq.put(b"first", priority=1)
    assert len(lq) == 4

    c1, c2 = make_client(), make_client()
    q1 = LockingQueue(c1, base + "/lq")
    q2 = LockingQueue(c2, base + "/lq")
    assert q1.get(timeout=5) == b"first"
    assert q1.holds_lock()
    # the item is locked by q1: q2 gets the next one
    assert q2.get(timeout=5) == b"a"
    assert q1.consume() is True
    assert q2.release() is True  # put back, unconsumed
    assert q1.get(timeout=5) == b"a"
    assert q1.consume()
    assert q2.get(timeout=5) == b"b"
    assert q2.consume()
    assert len(lq) == 1
    assert q1.get(timeout=5) == b"c"
    c1.stop()  # the lock on "c" was ephemeral: it goes with the session
    assert q2.get(timeout=5) == b"c"
    assert q2.consume()
    assert q2.get(timeout=0.3) is None


def test_locking_queue_blocking_get(make_client, base):
    consumer, producer = make_client(), make_client()
    q = LockingQueue(consumer, base + "/lqb")
    result = []
    t = threading.Thread(target=lambda: result.append(q.get(timeout=10)), daemon=True)
    t.start()
    time.sleep(0.3)
    LockingQueue(producer, base + "/lqb").put(b"late")
    t.join(10)
    assert result == [b"late"]
    assert q.consume()


@pytest.mark.parametrize("party_cls", [Party, ShallowParty])
def test_party(make_client, base, party_cls):
    clients = [make_client() for _ in range(3)]
    parties = [party_cls(c, base + "/party", identifier=f"member-{i}") for i, c in enumerate(clients)]
    for p in parties:
        p.join()
    observer = party_cls(make_client(), base + "/party")
    assert len(observer) == 3
    assert sorted(observer) == ["member-0", "member-1", "member-2"]
    parties[1].leave()
    assert sorted(observer) == ["member-0", "member-2"]
    clients[2].stop()  # ephemeral membership ends with the session
    assert list(observer) == ["member-0"]
    assert len(observer) == 1


def test_semaphore(make_client, base):
    clients = [make_client() for _ in range(N_CLIENTS)]
    inside = []
    peak = []
    guard = threading.Lock()

    def worker(c, i):
        def run():
            sem = Semaphore(c, base + "/sem", identifier=f"s{i}", max_leases=2)
            for _ in range(3):
                with sem:
                    with guard:
                        inside.append(i)
                        peak.append(len(inside))
                    time.sleep(0.08)
                    with guard:
                        inside.remove(i)

        return run

    run_threads([worker(c, i) for i, c in enumerate(clients)])
    assert max(peak) <= 2
    assert max(peak) == 2, "two leases should have been used at the same time"
    # max_leases is stored as the data of the semaphore node
    assert clients[0].get(base + "/sem")[0] == b"2"


def test_semaphore_lease_holders(make_client, base):
    a, b, c = make_client(), make_client(), make_client()
    sa = Semaphore(a, base + "/sem2", identifier="a", max_leases=2)
    sb = Semaphore(b, base + "/sem2", identifier="b", max_leases=2)
    sc = Semaphore(c, base + "/sem2", identifier="c", max_leases=2)
    assert sa.acquire(timeout=5)
    assert sb.acquire(timeout=5)
    assert sorted(sc.lease_holders()) == ["a", "b"]
    assert sc.acquire(blocking=False) is False
    sa.release()
    assert sc.acquire(timeout=5)
    assert sorted(sa.lease_holders()) == ["b", "c"]
    sb.release()
    sc.release()
