//! The real `keeper` binary driven by the Rust `zookeeper-client` crate.

mod common;

use common::{four_letter, Server};
use std::time::Duration;
use zookeeper_client as zk;

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
static EPHEMERAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
static SEQUENTIAL: &zk::CreateOptions<'static> =
    &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
static CONTAINER: &zk::CreateOptions<'static> =
    &zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn connect(server: &Server) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&server.addr())
        .await
        .expect("connect")
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[test]
fn crud_and_stat() {
    let server = Server::start(&[]);
    rt().block_on(async {
        let c = connect(&server).await;
        let (stat, _) = c.create("/a", b"hello", OPEN).await.unwrap();
        assert_eq!(stat.version, 0);
        assert_eq!(stat.czxid, stat.mzxid);
        assert_eq!(stat.data_length, 5);
        let (data, got) = c.get_data("/a").await.unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(got, stat);
        let st = c.set_data("/a", b"bye", Some(0)).await.unwrap();
        assert_eq!(st.version, 1);
        assert!(st.mzxid > stat.mzxid);
        assert_eq!(
            c.set_data("/a", b"x", Some(0)).await,
            Err(zk::Error::BadVersion)
        );
        assert_eq!(
            c.create("/a", b"", OPEN).await.map(|_| ()),
            Err(zk::Error::NodeExists)
        );
        assert_eq!(
            c.create("/no/such", b"", OPEN).await.map(|_| ()),
            Err(zk::Error::NoNode)
        );
        c.create("/a/b", b"", OPEN).await.unwrap();
        assert_eq!(c.delete("/a", None).await, Err(zk::Error::NotEmpty));
        let (children, st) = c.get_children("/a").await.unwrap();
        assert_eq!(children, vec!["b".to_string()]);
        assert_eq!((st.num_children, st.cversion), (1, 1));
        c.delete("/a/b", None).await.unwrap();
        let st = c.check_stat("/a").await.unwrap().unwrap();
        assert_eq!((st.num_children, st.cversion), (0, 2));
        c.delete("/a", Some(1)).await.unwrap();
        assert_eq!(c.check_stat("/a").await.unwrap(), None);
        assert_eq!(c.count_descendants_number("/").await.unwrap(), 3);
    });
}

#[test]
fn sequential_ephemeral_and_session_close() {
    let server = Server::start(&[]);
    rt().block_on(async {
        let c = connect(&server).await;
        c.create("/q", b"", OPEN).await.unwrap();
        let (_, s1) = c.create("/q/n-", b"", SEQUENTIAL).await.unwrap();
        let (_, s2) = c.create("/q/n-", b"", SEQUENTIAL).await.unwrap();
        assert_eq!(s1.into_i64() + 1, s2.into_i64());
        assert_eq!(c.list_children("/q").await.unwrap().len(), 2);
        assert!(c
            .list_children("/q")
            .await
            .unwrap()
            .contains(&format!("n-{:010}", s1.into_i64())));

        let e = connect(&server).await;
        e.create("/eph", b"", EPHEMERAL).await.unwrap();
        let st = c.check_stat("/eph").await.unwrap().unwrap();
        assert_eq!(st.ephemeral_owner, e.session_id().0);
        assert_eq!(
            e.list_ephemerals("/").await.unwrap(),
            vec!["/eph".to_string()]
        );
        assert_eq!(
            e.create("/eph/child", b"", OPEN).await.map(|_| ()),
            Err(zk::Error::NoChildrenForEphemerals)
        );
        let (_, watcher) = c.check_and_watch_stat("/eph").await.unwrap();
        drop(e);
        let ev = within("ephemeral deletion", watcher.changed()).await;
        assert_eq!(ev.event_type, zk::EventType::NodeDeleted);
        assert_eq!(c.check_stat("/eph").await.unwrap(), None);
    });
}

#[test]
fn watches_one_shot_and_persistent() {
    // Connections on IO threads apart from the tree's (the default on 2 cores shares it):
    // notifications and replies cross threads here.
    let server = Server::start(&["client.io_threads=2"]);
    rt().block_on(async {
        let c = connect(&server).await;
        let w = connect(&server).await;
        let (_, exist) = w.check_and_watch_stat("/w").await.unwrap();
        c.create("/w", b"1", OPEN).await.unwrap();
        let ev = within("NodeCreated", exist.changed()).await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (zk::EventType::NodeCreated, "/w")
        );

        let (_, _, data) = w.get_and_watch_data("/w").await.unwrap();
        let (_, _, children) = w.get_and_watch_children("/w").await.unwrap();
        let mut recursive = w
            .watch("/w", zk::AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        c.set_data("/w", b"2", None).await.unwrap();
        assert_eq!(
            within("data", data.changed()).await.event_type,
            zk::EventType::NodeDataChanged
        );
        assert_eq!(
            within("recursive", recursive.changed()).await.event_type,
            zk::EventType::NodeDataChanged
        );
        c.create("/w/c", b"", OPEN).await.unwrap();
        assert_eq!(
            within("children", children.changed()).await.event_type,
            zk::EventType::NodeChildrenChanged
        );
        let ev = within("recursive create", recursive.changed()).await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (zk::EventType::NodeCreated, "/w/c")
        );
        c.set_data("/w/c", b"x", None).await.unwrap();
        let ev = within("recursive set", recursive.changed()).await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (zk::EventType::NodeDataChanged, "/w/c")
        );
        drop(recursive);
    });
}

#[test]
fn multi_is_atomic_and_multi_read() {
    let server = Server::start(&[]);
    rt().block_on(async {
        let c = connect(&server).await;
        let mut m = c.new_multi_writer();
        m.add_create("/m", b"x", OPEN).unwrap();
        m.add_create("/m/1", b"y", OPEN).unwrap();
        m.add_check_version("/m", 7).unwrap();
        match m.commit().await {
            Err(zk::MultiWriteError::OperationFailed { index, source }) => {
                assert_eq!((index, source), (2, zk::Error::BadVersion));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.check_stat("/m").await.unwrap(), None);
        let mut m = c.new_multi_writer();
        m.add_create("/m", b"x", OPEN).unwrap();
        m.add_set_data("/m", b"z", Some(0)).unwrap();
        m.add_check_version("/m", 1).unwrap();
        let r = m.commit().await.unwrap();
        assert_eq!(r.len(), 3);
        let mut rd = c.new_multi_reader();
        rd.add_get_data("/m").unwrap();
        rd.add_get_children("/missing").unwrap();
        let r = rd.commit().await.unwrap();
        assert!(matches!(&r[0], zk::MultiReadResult::Data { data, .. } if data == b"z"));
        assert!(matches!(
            &r[1],
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ));
    });
}

#[test]
fn acl_and_auth() {
    let server = Server::start(&[]);
    rt().block_on(async {
        let owner = connect(&server).await;
        owner.auth("digest", b"alice:secret").await.unwrap();
        let acls = zk::Acls::creator_all();
        let opts = zk::CreateMode::Persistent.with_acls(acls);
        owner.create("/private", b"p", &opts).await.unwrap();
        assert_eq!(owner.get_data("/private").await.unwrap().0, b"p");
        let other = connect(&server).await;
        assert_eq!(
            other.get_data("/private").await.map(|_| ()),
            Err(zk::Error::NoAuth)
        );
        let (acl, _) = owner.get_acl("/private").await.unwrap();
        assert_eq!(acl.len(), 1);
        assert_eq!(acl[0].scheme(), "digest");
        let users = owner.list_auth_users().await.unwrap();
        assert!(users
            .iter()
            .any(|u| u.scheme() == "digest" && u.user() == "alice"));
    });
}

#[test]
fn containers_are_reaped() {
    let server = Server::start(&["server.container_check_interval=100"]);
    rt().block_on(async {
        let c = connect(&server).await;
        c.create("/box", b"", CONTAINER).await.unwrap();
        c.create("/box/x", b"", OPEN).await.unwrap();
        c.delete("/box/x", None).await.unwrap();
        for _ in 0..100 {
            if c.check_stat("/box").await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("empty container was not removed");
    });
}

#[test]
fn session_resumes_on_new_connection() {
    let server = Server::start(&[]);
    rt().block_on(async {
        let c = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .with_detached()
            .connect(&server.addr())
            .await
            .expect("connect");
        c.create("/mine", b"", EPHEMERAL).await.unwrap();
        let session = c.session().clone();
        let id = c.session_id();
        // Dropping a detached client leaves its session open for another connection to take.
        drop(c);
        let resumed = zk::Client::connector()
            .with_session(session)
            .connect(&server.addr())
            .await
            .expect("resume");
        assert_eq!(resumed.session_id(), id);
        let st = resumed.check_stat("/mine").await.unwrap().unwrap();
        assert_eq!(st.ephemeral_owner, id.0);
    });
}

#[test]
fn four_letter_words() {
    let server = Server::start(&[]);
    assert_eq!(four_letter(server.port, "ruok").unwrap(), "imok");
    let srvr = four_letter(server.port, "srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: 3.8"), "{srvr}");
    assert!(srvr.contains("Mode: standalone"));
    assert!(srvr.contains("Node count: 5"));
    let mntr = four_letter(server.port, "mntr").unwrap();
    assert!(
        mntr.lines()
            .all(|l| l.starts_with("zk_") && l.contains('\t')),
        "{mntr}"
    );
    assert!(four_letter(server.port, "envi")
        .unwrap()
        .contains("zookeeper.version=3.8"));
}

#[test]
fn four_letter_whitelist_is_enforced() {
    let server = Server::start(&["server.four_letter_words=srvr"]);
    assert_eq!(
        four_letter(server.port, "mntr").unwrap(),
        "mntr is not executed because it is not in the whitelist.\n"
    );
    assert!(four_letter(server.port, "srvr")
        .unwrap()
        .starts_with("Zookeeper version"));
}
