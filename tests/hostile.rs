//! Clients that misbehave against a real `keeper` process: what they make the server hold stays
//! bounded, and a well-behaved client beside them keeps working. Each test prints its figures
//! (peak RSS of the server, writes the good client got acknowledged).

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zookeeper_client as zk;

static OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

async fn connect(addr: &str) -> zk::Client {
    tokio::time::timeout(
        Duration::from_secs(20),
        zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(addr),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples a process's RSS until stopped; the peak in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn jute_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A raw connection with a new session; the connect response is read (and only that).
fn raw_session(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_be_bytes()); // protocol version
    body.extend_from_slice(&0i64.to_be_bytes()); // last zxid seen
    body.extend_from_slice(&10_000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&0i64.to_be_bytes()); // session id
    body.extend_from_slice(&16i32.to_be_bytes());
    body.extend_from_slice(&[0; 16]); // password
    body.push(0); // read-only
    s.write_all(&frame(&body)).expect("send connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("connect response");
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).expect("connect response");
    s
}

fn request(xid: i32, opcode: i32, path: &str, tail: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&xid.to_be_bytes());
    body.extend_from_slice(&opcode.to_be_bytes());
    jute_string(&mut body, path);
    body.extend_from_slice(tail);
    frame(&body)
}

const GET_DATA: i32 = 4;
const ADD_WATCH: i32 = 106;

/// Send getData of `path` as fast as the server takes them for `how_long`, never reading a
/// reply. The bytes sent and the next xid.
fn pipeline_without_reading(s: &mut TcpStream, path: &str, how_long: Duration) -> (usize, i32) {
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = Instant::now();
    let (mut sent, mut xid) = (0usize, 1);
    let mut pending = Vec::new();
    while started.elapsed() < how_long {
        if pending.is_empty() {
            for _ in 0..64 {
                pending.extend(request(xid, GET_DATA, path, &[0]));
                xid += 1;
            }
        }
        match s.write(&pending) {
            Ok(n) => {
                sent += n;
                pending.drain(..n);
            }
            // The server stopped reading: the kernel's buffers are full.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    (sent, xid)
}

/// Writes that one well-behaved client gets acknowledged while `busy` is set.
async fn good_writer(addr: String, busy: Arc<AtomicBool>) -> u64 {
    let c = connect(&addr).await;
    c.create("/good", b"", OPEN).await.expect("create /good");
    let mut acked = 0u64;
    while busy.load(Ordering::Relaxed) {
        match tokio::time::timeout(
            Duration::from_secs(5),
            c.set_data("/good", &acked.to_be_bytes(), None),
        )
        .await
        {
            Ok(Ok(_)) => acked += 1,
            Ok(Err(e)) => panic!("a well-behaved client's write failed: {e}"),
            Err(_) => panic!("a well-behaved client's write took over 5 s"),
        }
    }
    acked
}

#[test]
fn a_client_that_never_reads_its_replies_holds_bounded_memory() {
    let server = Server::start(&[]);
    let pid = server.pid().expect("pid");
    let rt = rt();
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        c.create("/big", &vec![7u8; 256 << 10], OPEN)
            .await
            .expect("create /big");
    });
    let idle_kib = rss_kib(pid);
    let sampler = RssSampler::start(pid);
    let busy = Arc::new(AtomicBool::new(true));
    let good = rt.spawn(good_writer(server.addr(), busy.clone()));
    // Pipeline getData of the 256 KiB znode for 8 s and never read a byte of the replies.
    let mut hostile = raw_session(&server.addr());
    let (sent, xid) = pipeline_without_reading(&mut hostile, "/big", Duration::from_secs(8));
    busy.store(false, Ordering::Relaxed);
    let acked = rt.block_on(good).expect("good writer");
    let peak_kib = sampler.finish();
    println!(
        "hostile reader: {} KiB of getData requests sent ({} answered with 256 KiB each if all were served); server RSS {} KiB idle, peak {} KiB; the well-behaved client got {acked} writes acknowledged in 8 s",
        sent >> 10,
        xid - 1,
        idle_kib,
        peak_kib
    );
    // 128 replies in flight of 256 KiB (32 MiB) plus the queue's marks, with room for the
    // allocator; without the bounds this grew by gigabytes.
    assert!(
        peak_kib < idle_kib + 160 * 1024,
        "server RSS grew from {idle_kib} to {peak_kib} KiB"
    );
    assert!(acked > 0, "the well-behaved client got nothing done");
    // The server still serves, and the hostile session still works once it reads.
    assert!(common::is_serving_answer(common::four_letter(
        server.port,
        "ruok"
    )));
    drop(hostile);
}

#[test]
fn a_client_that_never_reads_its_watch_events_is_disconnected() {
    let server = Server::start(&["client.max_queued_bytes=1048576"]);
    let pid = server.pid().expect("pid");
    // Long paths make big events: each setData below fires one NodeDataChanged of ~8 KiB.
    let long = format!("/{}", "w".repeat(8 << 10));
    let rt = rt();
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        c.create(&long, b"", OPEN).await.expect("create");
    });
    let idle_kib = rss_kib(pid);
    let sampler = RssSampler::start(pid);
    // A persistent watch on the node, then never read again.
    let mut hostile = raw_session(&server.addr());
    hostile
        .write_all(&request(1, ADD_WATCH, &long, &0i32.to_be_bytes()))
        .expect("addWatch");
    std::thread::sleep(Duration::from_millis(200));
    let writes = 6_000;
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        for chunk in 0..writes / 100 {
            let batch: Vec<_> = (0..100)
                .map(|i| c.set_data(&long, format!("{chunk}-{i}").as_bytes(), None))
                .collect();
            for f in batch {
                f.await.expect("setData by a well-behaved client");
            }
        }
    });
    let peak_kib = sampler.finish();
    let log = server.log();
    println!(
        "hostile watcher: {writes} events of ~8 KiB fired; server RSS {idle_kib} KiB idle, peak {peak_kib} KiB"
    );
    assert!(
        log.contains("queued that the client does not read"),
        "the connection that does not read was not closed:\n{log}"
    );
    assert!(
        peak_kib < idle_kib + 24 * 1024,
        "server RSS grew from {idle_kib} to {peak_kib} KiB"
    );
    // The hostile socket is closed by the server: after what the kernel held, EOF or a reset.
    hostile
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match hostile.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) if Instant::now() < deadline => continue,
            Ok(_) => panic!("the connection was not closed"),
        }
    }
}

/// Memory follows the bytes a client really sent, not the length it announced (the decoder
/// reserves at most 64 KiB ahead), and half-sent frames do not stop the server.
#[test]
fn a_length_prefix_alone_does_not_make_the_server_allocate_the_frame() {
    let server = Server::start(&["server.max_client_cnxns=0"]);
    let pid = server.pid().expect("pid");
    let idle_kib = rss_kib(pid);
    // 300 connections each announce a frame just under jute.maxbuffer (1 MiB) and send no more.
    let conns: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).expect("connect");
            s.write_all(&1_000_000i32.to_be_bytes()).expect("send");
            s.write_all(&[0u8; 100]).expect("send");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held_kib = rss_kib(pid);
    println!(
        "300 connections announcing 1 MB frames: server RSS {idle_kib} KiB idle, {held_kib} KiB holding them"
    );
    assert!(
        held_kib < idle_kib + 100 * 1024,
        "server RSS grew from {idle_kib} to {held_kib} KiB"
    );
    assert!(common::is_serving_answer(common::four_letter(
        server.port,
        "ruok"
    )));
    drop(conns);
}

#[test]
fn idle_connections_without_a_session_are_closed_and_cost_little() {
    let server = Server::start(&["server.max_client_cnxns=0"]);
    let pid = server.pid().expect("pid");
    let idle_kib = rss_kib(pid);
    let n = 1_000;
    let mut conns: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(server.addr()).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let held_kib = rss_kib(pid);
    println!(
        "{n} idle connections: server RSS {idle_kib} KiB idle, {held_kib} KiB holding them ({} B each)",
        (held_kib.saturating_sub(idle_kib) << 10) / n as u64
    );
    assert!(
        held_kib < idle_kib + 64 * 1024,
        "server RSS grew from {idle_kib} to {held_kib} KiB"
    );
    // A well-behaved client is served meanwhile.
    rt().block_on(async {
        let c = connect(&server.addr()).await;
        c.create("/served", b"", OPEN).await.expect("create");
    });
    // None sent a connect request: each is closed 10 s after it was accepted, as ZooKeeper's
    // sessionless connection timeout does.
    let deadline = Instant::now() + Duration::from_secs(30);
    for c in &mut conns {
        let left = deadline.saturating_duration_since(Instant::now());
        c.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        let mut b = [0u8; 16];
        match c.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("an idle connection was not closed: {other:?}"),
        }
    }
}

/// The ensemble scenario, scaled to this suite: on a 3-server ensemble, a client that
/// pipelines getData of a 256 KiB znode and never reads, 300 idle connections per client port,
/// and connections sending garbage to every port (client, quorum, election) of every server.
/// A well-behaved client writing through another server keeps going, every write it was told
/// succeeded is there afterwards, and no server's memory runs away.
#[test]
fn an_ensemble_under_hostile_clients_keeps_serving_the_others() {
    use common::Ensemble;
    let e = Ensemble::start(3, 0, &["server.max_client_cnxns=0"]);
    let leader = e.wait_leader(Duration::from_secs(30));
    let followers = e.followers();
    let (victim, calm) = (followers[0], followers[1]);
    let rt = rt();
    rt.block_on(async {
        let c = connect(&e.addr(victim)).await;
        c.create("/big", &vec![7u8; 256 << 10], OPEN)
            .await
            .expect("create /big");
    });
    let idle: Vec<u64> = e
        .ids()
        .iter()
        .map(|id| rss_kib(e.pid(*id).unwrap()))
        .collect();
    let samplers: Vec<RssSampler> = e
        .ids()
        .iter()
        .map(|id| RssSampler::start(e.pid(*id).unwrap()))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    // Idle connections on every client port.
    let idle_conns: Vec<TcpStream> = e
        .ids()
        .iter()
        .flat_map(|id| {
            let addr = e.addr(*id);
            (0..300).map(move |_| TcpStream::connect(&addr).expect("idle connection"))
        })
        .collect();
    // Garbage to every port, one connection after another.
    let ports: Vec<u16> = e
        .members
        .iter()
        .flat_map(|m| [m.client_port, m.quorum_port, m.election_port])
        .collect();
    let garbage = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut x: u32 = 0x9e37_79b9;
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for p in &ports {
                    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", *p)) {
                        let junk: Vec<u8> = (0..512)
                            .map(|_| {
                                x ^= x << 13;
                                x ^= x >> 17;
                                x ^= x << 5;
                                x as u8
                            })
                            .collect();
                        let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
                        if s.write_all(&junk).is_ok() {
                            sent += 1;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        })
    };
    let busy = Arc::new(AtomicBool::new(true));
    let good = rt.spawn(good_writer(e.addr(calm), busy.clone()));
    let mut hostile = raw_session(&e.addr(victim));
    pipeline_without_reading(&mut hostile, "/big", Duration::from_secs(10));
    busy.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let acked = rt.block_on(good).expect("good writer");
    let garbage_conns = garbage.join().expect("garbage thread");
    let peaks: Vec<u64> = samplers.into_iter().map(|s| s.finish()).collect();
    println!(
        "ensemble under hostile clients for 10 s (leader {leader}, hostile reader on {victim}, good writer on {calm}): {acked} writes acknowledged, {garbage_conns} garbage connections; RSS idle {idle:?} KiB, peak {peaks:?} KiB"
    );
    for (i, (idle, peak)) in idle.iter().zip(&peaks).enumerate() {
        assert!(
            *peak < idle + 160 * 1024,
            "server {} RSS grew from {idle} to {peak} KiB",
            i + 1
        );
    }
    assert!(acked > 0, "the well-behaved client got nothing done");
    drop(hostile);
    drop(idle_conns);
    // Nothing acknowledged was lost, and every server agrees.
    rt.block_on(async {
        for id in e.ids() {
            let c = connect(&e.addr(id)).await;
            c.sync("/good").await.expect("sync");
            let (data, _) = c.get_data("/good").await.expect("get /good");
            assert_eq!(
                data,
                (acked - 1).to_be_bytes(),
                "server {id} lost the last acknowledged write"
            );
        }
    });
    assert_eq!(e.running().len(), 3);
}

/// A multi of thousands of ops is one txn: applied whole, nothing of it on failure, and it
/// costs the server about what its znodes cost. One over jute.maxbuffer is refused at the frame
/// and the connection closed, as ZooKeeper does; the server and other clients are unaffected.
#[test]
fn a_multi_of_thousands_of_ops_is_one_txn_and_a_too_big_one_is_refused() {
    let server = Server::start(&[]);
    let pid = server.pid().expect("pid");
    let rt = rt();
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        c.create("/m", b"", OPEN).await.expect("create /m");
        let before = rss_kib(pid);
        let n = 5_000;
        let mut m = c.new_multi_writer();
        for i in 0..n {
            m.add_create(&format!("/m/n{i:05}"), b"0123456789", OPEN)
                .expect("add");
        }
        let started = Instant::now();
        let r = m.commit().await.expect("a multi of 5,000 creates");
        let took = started.elapsed();
        assert_eq!(r.len(), n);
        let (children, stat) = c.get_children("/m").await.expect("children");
        assert_eq!(children.len(), n);
        assert_eq!(stat.num_children as usize, n);
        println!(
            "multi of {n} creates: answered in {took:?}; server RSS {before} -> {} KiB",
            rss_kib(pid)
        );
        // The same again plus one op that fails: nothing of it is applied.
        let mut m = c.new_multi_writer();
        for i in 0..n {
            m.add_create(&format!("/m/x{i:05}"), b"", OPEN)
                .expect("add");
        }
        m.add_check_version("/m", 12345).expect("add");
        match m.commit().await {
            Err(zk::MultiWriteError::OperationFailed { index, source }) => {
                assert_eq!((index, source), (n, zk::Error::BadVersion));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.get_children("/m").await.expect("children").0.len(),
            n,
            "a failed multi left something behind"
        );
    });
    // Past jute.maxbuffer (1 MiB): 40,000 creates of 30-byte paths.
    let mut raw = raw_session(&server.addr());
    let mut body = Vec::new();
    body.extend_from_slice(&1i32.to_be_bytes()); // xid
    body.extend_from_slice(&14i32.to_be_bytes()); // multi
    for i in 0..40_000 {
        body.extend_from_slice(&1i32.to_be_bytes()); // create
        body.push(0); // done = false
        body.extend_from_slice(&(-1i32).to_be_bytes()); // error
        jute_string(&mut body, &format!("/m/big-{i:020}"));
        body.extend_from_slice(&(-1i32).to_be_bytes()); // no data
        body.extend_from_slice(&0i32.to_be_bytes()); // no ACLs
        body.extend_from_slice(&0i32.to_be_bytes()); // flags
    }
    body.extend_from_slice(&(-1i32).to_be_bytes()); // end: type -1
    body.push(1); // done
    body.extend_from_slice(&(-1i32).to_be_bytes());
    assert!(body.len() > 1 << 20);
    let _ = raw.write_all(&frame(&body));
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    match raw.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("an oversized multi got an answer of {n} bytes"),
    }
    assert!(server.log().contains("exceeds jute.maxbuffer"));
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        assert_eq!(c.get_children("/m").await.expect("children").0.len(), 5_000);
    });
}

/// A `mntr` figure of the server on `port`.
fn mntr(port: u16, key: &str) -> Option<i64> {
    let text = common::four_letter(port, "mntr").ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Ten thousand clients that open a session and then say nothing (ZooKeeper's usual load of
/// idle watchers, at a size real ensembles reach): what they cost the server, that a busy
/// client beside them is served, and that when they all vanish at once (no closeSession) their
/// sessions expire together without the server faltering.
#[test]
fn ten_thousand_idle_sessions_cost_little_and_expire_together() {
    // Each side holds one descriptor per session: take the hard limit (the server inherits it),
    // and open fewer sessions, said aloud, where even that is too small.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    let n = 10_000usize.min((lim.rlim_cur as usize).saturating_sub(512)) / 8 * 8;
    if n < 10_000 {
        println!(
            "descriptor limit {}: {n} sessions, not 10,000",
            lim.rlim_cur
        );
    }
    let server = Server::start(&["server.max_client_cnxns=0"]);
    let pid = server.pid().expect("pid");
    let idle_kib = rss_kib(pid);
    let started = Instant::now();
    // Eight openers at once: each session is a txn, group-committed with the others'.
    let per = n / 8;
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let addr = server.addr();
            std::thread::spawn(move || (0..per).map(|_| raw_session(&addr)).collect::<Vec<_>>())
        })
        .collect();
    let mut conns: Vec<TcpStream> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("openers"))
        .collect();
    let opened = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let held_kib = rss_kib(pid);
    let sessions = mntr(server.port, "zk_global_sessions").expect("mntr");
    let alive = mntr(server.port, "zk_num_alive_connections").expect("mntr");
    println!(
        "{n} idle sessions opened in {opened:?}; server RSS {idle_kib} KiB idle, {held_kib} KiB \
         holding them ({} B each); mntr: {sessions} sessions, {alive} connections",
        (held_kib.saturating_sub(idle_kib) << 10) / n as u64
    );
    assert!(
        sessions >= n as i64 && alive >= n as i64,
        "{sessions} {alive}"
    );
    assert!(
        held_kib < idle_kib + 256 * 1024,
        "server RSS grew from {idle_kib} to {held_kib} KiB for {n} idle sessions"
    );

    // A busy client beside them.
    let t = Instant::now();
    rt().block_on(async {
        let c = connect(&server.addr()).await;
        c.create("/busy", b"", OPEN).await.expect("create");
        for i in 0..200 {
            let p = format!("/busy/n{i}");
            c.create(&p, b"x", OPEN).await.expect("create");
            c.get_data(&p).await.expect("read");
        }
    });
    println!(
        "a busy client beside them: 200 writes and reads in {:?}",
        t.elapsed()
    );

    // All vanish at once, without closing their sessions: they expire together (10 s timeout).
    for c in &mut conns {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
    drop(conns);
    let gone = Instant::now();
    let deadline = gone + Duration::from_secs(60);
    loop {
        let left = mntr(server.port, "zk_global_sessions").unwrap_or(i64::MAX);
        if left <= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} sessions left 60 s after their clients went"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "{n} sessions expired {:?} after their clients went (timeout 10 s); RSS then {} KiB",
        gone.elapsed(),
        rss_kib(pid)
    );
    // The server still serves, and what the busy client wrote is there.
    rt().block_on(async {
        let c = connect(&server.addr()).await;
        let kids = c.list_children("/busy").await.expect("children");
        assert_eq!(kids.len(), 200);
    });
}

const EXISTS: i32 = 3;

/// Set `count` exists-watches on missing nodes `<prefix>n<i>` over `s`, pipelined, reading (and
/// dropping) the replies on a thread of its own. Returns when every reply is in.
fn set_watches(s: TcpStream, prefix: String, count: usize) -> std::thread::JoinHandle<TcpStream> {
    std::thread::spawn(move || {
        let mut reader = s.try_clone().unwrap();
        reader
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let replies = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let (mut bytes, mut frames, mut need) = (Vec::<u8>::new(), 0usize, None::<usize>);
            while frames < count {
                let n = reader.read(&mut buf).expect("replies");
                assert!(n > 0, "connection closed after {frames} replies");
                bytes.extend_from_slice(&buf[..n]);
                loop {
                    match need {
                        None if bytes.len() >= 4 => {
                            need =
                                Some(i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize);
                            bytes.drain(..4);
                        }
                        Some(k) if bytes.len() >= k => {
                            bytes.drain(..k);
                            need = None;
                            frames += 1;
                        }
                        _ => break,
                    }
                }
            }
        });
        let mut s = s;
        let mut batch = Vec::new();
        for i in 0..count {
            batch.extend(request(
                i as i32 + 1,
                EXISTS,
                &format!("{prefix}n{i}"),
                &[1],
            ));
            if batch.len() > 64 << 10 {
                s.write_all(&batch).expect("requests");
                batch.clear();
            }
        }
        s.write_all(&batch).expect("requests");
        replies.join().expect("reader");
        s
    })
}

fn total_watches(port: u16) -> u64 {
    common::four_letter(port, "wchs")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Total watches:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A million watches (issue 15): ten sessions set 100,000 exists-watches each. What they cost
/// the server per watch; that a client beside them is served; that they go when their
/// connections do. Then one path watched by 1,000 sessions at once: one change fires them all.
#[test]
fn a_million_watches_cost_a_bounded_amount_and_go_with_their_sessions() {
    let server = Server::start(&["server.max_client_cnxns=0"]);
    let pid = server.pid().expect("pid");
    let addr = server.addr();
    let idle = rss_kib(pid);
    let (sessions, per) = (10, 100_000);
    let started = Instant::now();
    let setters: Vec<_> = (0..sessions)
        .map(|k| set_watches(raw_session(&addr), format!("/w{k}/"), per))
        .collect();
    let conns: Vec<TcpStream> = setters
        .into_iter()
        .map(|h| h.join().expect("setter"))
        .collect();
    let took = started.elapsed();
    let watches = total_watches(server.port);
    let held = rss_kib(pid);
    println!(
        "{} watches set in {took:?}; server RSS {idle} KiB idle, {held} KiB holding them \
         ({} B per watch)",
        watches,
        (held.saturating_sub(idle) << 10) / watches.max(1)
    );
    assert_eq!(watches, (sessions * per) as u64);
    assert!(
        held < idle + 1024 * 1024,
        "{held} KiB for {watches} watches (idle {idle} KiB)"
    );
    // A client beside them is served.
    rt().block_on(async {
        let c = connect(&addr).await;
        c.create("/beside", b"", OPEN).await.expect("create");
        c.get_data("/beside").await.expect("read");
    });
    // The connections go, and their watches with them.
    for c in &conns {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(30);
    while total_watches(server.port) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} watches left after their connections closed",
            total_watches(server.port)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // RSS says little here: the allocator hands freed pages back lazily (MADV_FREE), and the
    // kernel takes them when it needs them.
    println!(
        "their connections closed: 0 watches (RSS {} KiB, freed pages given back lazily)",
        rss_kib(pid)
    );

    // One path, 1,000 watchers: one change fires them all.
    let watchers: Vec<TcpStream> = (0..1000).map(|_| raw_session(&addr)).collect();
    rt().block_on(async {
        let c = connect(&addr).await;
        c.create("/hot", b"0", OPEN).await.expect("create");
    });
    let mut watchers: Vec<TcpStream> = watchers
        .into_iter()
        .map(|s| set_watches(s, "/hot".into(), 0).join().unwrap())
        .collect();
    for (i, s) in watchers.iter_mut().enumerate() {
        s.write_all(&request(i as i32 + 1, GET_DATA, "/hot", &[1]))
            .unwrap();
    }
    // Each reads its getData reply, then waits for its event.
    let mut replies = 0;
    for s in watchers.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        replies += 1;
    }
    assert_eq!(replies, 1000);
    assert_eq!(total_watches(server.port), 1000);
    let fired = Instant::now();
    rt().block_on(async {
        let c = connect(&addr).await;
        c.set_data("/hot", b"1", None).await.expect("set");
    });
    for s in watchers.iter_mut() {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).expect("an event");
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        // A notification: xid -1.
        assert_eq!(i32::from_be_bytes(body[..4].try_into().unwrap()), -1);
    }
    println!(
        "one change of a path watched by 1,000 sessions: every event delivered {:?} after it",
        fired.elapsed()
    );
}
