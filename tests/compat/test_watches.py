"""Watches: one-shot exists/get/children watches, DataWatch, ChildrenWatch,
persistent and persistent-recursive watches (addWatch, sent raw: kazoo 2.11 has no add_watch),
removeWatches / checkWatches."""

import threading
import time

import pytest
from kazoo.exceptions import NoNodeError
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

import rawzk
from conftest import wait_until
from rawzk import EV_NODE_CHILDREN_CHANGED, EV_NODE_CREATED, EV_NODE_DATA_CHANGED, EV_NODE_DELETED


class Recorder:
    def __init__(self):
        self.events = []
        self.cv = threading.Condition()

    def __call__(self, event):
        with self.cv:
            self.events.append(event)
            self.cv.notify_all()

    def wait(self, n=1, timeout=10.0):
        with self.cv:
            ok = self.cv.wait_for(lambda: len(self.events) >= n, timeout)
        assert ok, f"expected {n} watch events, got {self.events}"
        return self.events

    def quiet(self, seconds=0.5):
        time.sleep(seconds)
        return list(self.events)


def kinds(events):
    return [(e.type, e.path) for e in events]


def test_exists_watch_on_missing_node_fires_created(make_client, base):
    zk, writer = make_client(), make_client()
    rec = Recorder()
    assert zk.exists(base + "/n", watch=rec) is None
    writer.create(base + "/n")
    assert kinds(rec.wait()) == [("CREATED", base + "/n")]
    assert rec.events[0].state == "CONNECTED"


def test_exists_watch_changed_and_deleted(make_client, base):
    zk, writer = make_client(), make_client()
    writer.create(base + "/n")
    rec = Recorder()
    zk.exists(base + "/n", watch=rec)
    writer.set(base + "/n", b"1")
    assert kinds(rec.wait()) == [("CHANGED", base + "/n")]
    # one-shot: a second change is not reported
    writer.set(base + "/n", b"2")
    assert len(rec.quiet(0.3)) == 1
    rec2 = Recorder()
    zk.exists(base + "/n", watch=rec2)
    writer.delete(base + "/n")
    assert kinds(rec2.wait()) == [("DELETED", base + "/n")]


def test_get_watch(make_client, base):
    zk, writer = make_client(), make_client()
    writer.create(base + "/n", b"a")
    rec = Recorder()
    assert zk.get(base + "/n", watch=rec)[0] == b"a"
    writer.set(base + "/n", b"a")  # same bytes still fire
    assert kinds(rec.wait()) == [("CHANGED", base + "/n")]
    rec2 = Recorder()
    zk.get(base + "/n", watch=rec2)
    writer.delete(base + "/n")
    assert kinds(rec2.wait()) == [("DELETED", base + "/n")]


def test_get_watch_not_set_on_missing_node(make_client, base):
    zk, writer = make_client(), make_client()
    rec = Recorder()
    with pytest.raises(NoNodeError):
        zk.get(base + "/missing", watch=rec)
    writer.create(base + "/missing")
    assert rec.quiet(0.5) == []


def test_children_watch(make_client, base):
    zk, writer = make_client(), make_client()
    rec = Recorder()
    assert zk.get_children(base, watch=rec) == []
    writer.create(base + "/c1")
    assert kinds(rec.wait()) == [("CHILD", base)]
    # data changes of children and of the node itself do not fire child watches
    rec2 = Recorder()
    zk.get_children(base, watch=rec2)
    writer.set(base + "/c1", b"x")
    writer.set(base, b"x")
    assert rec2.quiet(0.4) == []
    writer.delete(base + "/c1")
    assert kinds(rec2.wait()) == [("CHILD", base)]


def test_children_watch_gets_deleted_when_node_goes(make_client, base):
    zk, writer = make_client(), make_client()
    writer.create(base + "/p")
    rec = Recorder()
    zk.get_children(base + "/p", watch=rec)
    writer.delete(base + "/p")
    assert kinds(rec.wait()) == [("DELETED", base + "/p")]


def test_set_acl_does_not_fire_data_watch(make_client, base):
    zk, writer = make_client(), make_client()
    writer.create(base + "/n")
    rec = Recorder()
    zk.get(base + "/n", watch=rec)
    writer.set_acls(base + "/n", writer.get_acls(base + "/n")[0])
    assert rec.quiet(0.4) == []


def test_data_watch_recipe(make_client, base):
    zk, writer = make_client(), make_client()
    seen = []
    cv = threading.Condition()

    def cb(data, stat, event):
        with cv:
            seen.append((data, stat.version if stat else None, event.type if event else None))
            cv.notify_all()

    DataWatch(zk, base + "/dw", cb)

    def wait_for(pred):
        with cv:
            assert cv.wait_for(lambda: seen and pred(seen[-1]), 10), seen

    wait_for(lambda s: s == (None, None, None))
    writer.create(base + "/dw", b"v0")
    wait_for(lambda s: s == (b"v0", 0, "CREATED"))
    writer.set(base + "/dw", b"v1")
    wait_for(lambda s: s == (b"v1", 1, "CHANGED"))
    writer.delete(base + "/dw")
    wait_for(lambda s: s == (None, None, "DELETED"))


def test_children_watch_recipe(make_client, base):
    zk, writer = make_client(), make_client()
    seen = []
    cv = threading.Condition()

    def cb(children):
        with cv:
            seen.append(sorted(children))
            cv.notify_all()

    ChildrenWatch(zk, base, cb)
    for name in ("a", "b", "c"):
        writer.create(base + "/" + name)
    with cv:
        assert cv.wait_for(lambda: seen and seen[-1] == ["a", "b", "c"], 10), seen
    writer.delete(base + "/b")
    with cv:
        assert cv.wait_for(lambda: seen[-1] == ["a", "c"], 10), seen
    assert seen[0] == []


# ---- raw: frame-level details -------------------------------------------------


def test_raw_notification_frame(raw):
    w, c = raw(), raw()
    assert w.create("/rn", b"").err == 0
    assert c.exists("/rn", watch=True).err == 0
    assert w.set_data("/rn", b"x").err == 0
    ev = c.wait_event(5)
    assert (ev.type, ev.state, ev.path) == (EV_NODE_DATA_CHANGED, 3, "/rn")
    assert ev.zxid == -1  # ZooKeeper 3.8 sends -1 as the notification's zxid


def test_raw_notification_precedes_reply_on_same_connection(raw):
    c = raw()
    assert c.create("/rp", b"").err == 0
    assert c.get_data("/rp", watch=True).err == 0
    assert c.set_data("/rp", b"y").err == 0
    # the event was queued while waiting for the setData reply
    assert [(e.type, e.path) for e in c.events] == [(EV_NODE_DATA_CHANGED, "/rp")]


def test_raw_one_event_per_connection_and_path(raw):
    w, c = raw(), raw()
    assert w.create("/r1", b"").err == 0
    assert c.exists("/r1", watch=True).err == 0
    assert c.get_data("/r1", watch=True).err == 0
    assert w.delete("/r1").err == 0
    evs = c.drain_events(0.5)
    assert [(e.type, e.path) for e in evs] == [(EV_NODE_DELETED, "/r1")]


def test_raw_exists_watch_on_missing_then_created(raw):
    w, c = raw(), raw()
    assert c.exists("/r2", watch=True).err == rawzk.NO_NODE
    assert w.create("/r2", b"").err == 0
    ev = c.wait_event(5)
    assert (ev.type, ev.path) == (EV_NODE_CREATED, "/r2")


def test_persistent_watch(raw):
    w, c = raw(), raw()
    assert w.create("/pw", b"").err == 0
    rep = c.add_watch("/pw", rawzk.ADD_WATCH_PERSISTENT)
    assert rep.err == 0
    assert w.set_data("/pw", b"1").err == 0
    assert w.set_data("/pw", b"2").err == 0  # still armed: not one-shot
    assert w.create("/pw/child", b"").err == 0
    assert w.set_data("/pw/child", b"x").err == 0  # not watched (not recursive)
    assert w.create("/pw/child/grand", b"").err == 0  # not watched
    assert w.delete("/pw/child/grand").err == 0
    assert w.delete("/pw/child").err == 0
    assert w.delete("/pw").err == 0
    assert w.create("/pw", b"").err == 0
    evs = [(e.type, e.path) for e in c.drain_events(0.6)]
    assert evs == [
        (EV_NODE_DATA_CHANGED, "/pw"),
        (EV_NODE_DATA_CHANGED, "/pw"),
        (EV_NODE_CHILDREN_CHANGED, "/pw"),
        (EV_NODE_CHILDREN_CHANGED, "/pw"),
        (EV_NODE_DELETED, "/pw"),
        (EV_NODE_CREATED, "/pw"),
    ]


def test_persistent_watch_on_missing_node(raw):
    w, c = raw(), raw()
    assert c.add_watch("/pw-missing", rawzk.ADD_WATCH_PERSISTENT).err == 0
    assert w.create("/pw-missing", b"").err == 0
    ev = c.wait_event(5)
    assert (ev.type, ev.path) == (EV_NODE_CREATED, "/pw-missing")


def test_persistent_recursive_watch(raw):
    w, c = raw(), raw()
    assert w.create("/prw", b"").err == 0
    assert c.add_watch("/prw", rawzk.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    assert w.create("/prw/a", b"").err == 0
    assert w.create("/prw/a/b", b"").err == 0
    assert w.set_data("/prw/a/b", b"x").err == 0
    assert w.set_data("/prw", b"y").err == 0
    assert w.delete("/prw/a/b").err == 0
    assert w.create("/prw-sibling", b"").err == 0  # not below /prw
    evs = [(e.type, e.path) for e in c.drain_events(0.6)]
    # never NodeChildrenChanged for a recursive watch
    assert evs == [
        (EV_NODE_CREATED, "/prw/a"),
        (EV_NODE_CREATED, "/prw/a/b"),
        (EV_NODE_DATA_CHANGED, "/prw/a/b"),
        (EV_NODE_DATA_CHANGED, "/prw"),
        (EV_NODE_DELETED, "/prw/a/b"),
    ]


def test_persistent_recursive_watch_on_root(raw):
    w, c = raw(), raw()
    assert c.add_watch("/", rawzk.ADD_WATCH_PERSISTENT_RECURSIVE).err == 0
    assert w.create("/rootrec", b"").err == 0
    assert w.delete("/rootrec").err == 0
    evs = [(e.type, e.path) for e in c.drain_events(0.6)]
    assert evs == [(EV_NODE_CREATED, "/rootrec"), (EV_NODE_DELETED, "/rootrec")]


def test_remove_and_check_watches(raw):
    w, c = raw(), raw()
    assert w.create("/rw", b"").err == 0
    # WatcherType: 1 children, 2 data, 3 any
    assert c.check_watches("/rw", 2).err == rawzk.NO_WATCHER
    assert c.get_data("/rw", watch=True).err == 0
    assert c.check_watches("/rw", 2).err == 0
    assert c.check_watches("/rw", 1).err == rawzk.NO_WATCHER
    assert c.remove_watches("/rw", 2).err == 0
    assert c.remove_watches("/rw", 2).err == rawzk.NO_WATCHER
    assert w.set_data("/rw", b"x").err == 0
    assert c.drain_events(0.4) == []
    assert c.get_children("/rw", watch=True).err == 0
    assert c.remove_watches("/rw", 3).err == 0
    assert w.create("/rw/c", b"").err == 0
    assert c.drain_events(0.4) == []


def test_watches_are_per_connection(make_client, base):
    zk = make_client()
    rec = Recorder()
    zk.create(base + "/own")
    zk.get(base + "/own", watch=rec)
    zk.set(base + "/own", b"self")  # the watcher's own write fires its watch too
    assert kinds(rec.wait()) == [("CHANGED", base + "/own")]


def test_many_watchers_all_notified(make_client, base):
    writer = make_client()
    writer.create(base + "/multi")
    clients = [make_client() for _ in range(5)]
    recs = []
    for c in clients:
        r = Recorder()
        c.get(base + "/multi", watch=r)
        recs.append(r)
    writer.set(base + "/multi", b"go")
    for r in recs:
        assert kinds(r.wait()) == [("CHANGED", base + "/multi")]
    wait_until(lambda: True)
