//! The load itself: pipelined clients, the watch fan-out, setup and teardown. IO only; the
//! decisions are made by the pure functions of `proto`, `workload` and `stats`.

use super::conn::{connect, connect_any, read_frame, Conn, FrameReader};
use super::proto::{
    ancestors_and_self, child_path, error_name, is_data_change, parse_children_reply,
    parse_create_reply, parse_incoming, request_frame, Incoming, ProtoError, Req, CONNECTION_LOSS,
    OPERATION_TIMEOUT, PERSISTENT, PERSISTENT_SEQUENTIAL,
};
use super::stats::Stats;
use super::workload::{next_op, OpKind, Workload};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::{sleep_until, timeout_at, Instant};

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before reconnecting after a failure.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long a watch round may wait for arming or for notifications.
const ROUND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long setup and teardown requests may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests per pipelined batch during setup and teardown.
const ADMIN_BATCH: usize = 256;

const NO_NODE: i32 = -101;
const NODE_EXISTS: i32 = -110;

/// Everything a run needs, shared by its tasks.
pub struct Plan {
    pub workload: Workload,
    pub hosts: Vec<String>,
    pub clients: usize,
    pub outstanding: usize,
    pub value: Vec<u8>,
    pub session_timeout_ms: i32,
    pub prefix: String,
    pub measure_start: Instant,
    pub measure_end: Instant,
    /// After `measure_end`, replies to requests still in flight are awaited until this instant.
    pub drain_until: Instant,
}

impl Plan {
    pub fn client_node(&self, i: usize) -> String {
        child_path(&self.prefix, &format!("c{i}"))
    }
    pub fn watch_node(&self) -> String {
        child_path(&self.prefix, "watch")
    }
    /// The znodes created at setup (and removed at teardown).
    pub fn nodes(&self) -> Vec<String> {
        match self.workload {
            Workload::Watch => vec![self.watch_node()],
            _ => (0..self.clients).map(|i| self.client_node(i)).collect(),
        }
    }
    /// Whether an op completing at `t` counts in the figures.
    pub fn in_window(&self, t: Instant) -> bool {
        t >= self.measure_start && t < self.measure_end
    }
    /// Whether an error at `t` counts in the figures: everything after the warm-up, the
    /// drain of requests sent in the window included.
    pub fn error_counts(&self, t: Instant) -> bool {
        t >= self.measure_start
    }
}

/// Counters for the progress line.
#[derive(Default)]
pub struct Live {
    pub ops: AtomicU64,
    pub errors: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

fn count_error(stats: &mut Stats, live: &Live, plan: &Plan, name: &str, n: u64) {
    if n == 0 {
        return;
    }
    stats.error(name, plan.error_counts(Instant::now()), n);
    live.errors.fetch_add(n, Ordering::Relaxed);
}

async fn pause(plan: &Plan) {
    sleep_until((Instant::now() + RETRY_PAUSE).min(plan.measure_end)).await;
}

// ----- setup and teardown -------------------------------------------------------------------

fn describe(errors: &[ProtoError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Create the prefix (and its ancestors) and the run's znodes. Errors are fatal for the run.
pub async fn setup(plan: &Plan) -> Result<(), String> {
    let mut conn = connect_any(&plan.hosts, 0, plan.session_timeout_ms, CONNECT_TIMEOUT)
        .await
        .map_err(|e| {
            format!(
                "cannot connect to {}: {}",
                plan.hosts.join(","),
                describe(&e)
            )
        })?;
    let r = setup_nodes(&mut conn, plan).await;
    conn.close(Duration::from_secs(2)).await;
    r
}

async fn setup_nodes(conn: &mut Conn, plan: &Plan) -> Result<(), String> {
    let fail = |what: &str, e: ProtoError| {
        format!("setup failed while {what} on {}: {e}", conn_addr(plan))
    };
    for p in ancestors_and_self(&plan.prefix) {
        let req = Req::Create {
            path: &p,
            data: b"",
            flags: PERSISTENT,
        };
        let (err, _) = conn
            .call(&req, ADMIN_TIMEOUT)
            .await
            .map_err(|e| fail("creating the prefix", e))?;
        if err != 0 && err != NODE_EXISTS {
            return Err(format!("cannot create {p}: {}", error_name(err)));
        }
    }
    let nodes = plan.nodes();
    for chunk in nodes.chunks(ADMIN_BATCH) {
        let reqs: Vec<Req> = chunk
            .iter()
            .map(|p| Req::Create {
                path: p,
                data: &plan.value,
                flags: PERSISTENT,
            })
            .collect();
        let replies = conn
            .call_many(&reqs, ADMIN_TIMEOUT)
            .await
            .map_err(|e| fail("creating znodes", e))?;
        // Left over from an earlier run: give them this run's value.
        let mut existing = Vec::new();
        for (p, (err, _)) in chunk.iter().zip(&replies) {
            match *err {
                0 => {}
                NODE_EXISTS => existing.push(Req::SetData {
                    path: p,
                    data: &plan.value,
                    version: -1,
                }),
                e => return Err(format!("cannot create {p}: {}", error_name(e))),
            }
        }
        if !existing.is_empty() {
            let replies = conn
                .call_many(&existing, ADMIN_TIMEOUT)
                .await
                .map_err(|e| fail("setting data", e))?;
            if let Some((err, _)) = replies.iter().find(|(e, _)| *e != 0) {
                return Err(format!(
                    "cannot set the data of a znode under {}: {}",
                    plan.prefix,
                    error_name(*err)
                ));
            }
        }
    }
    Ok(())
}

fn conn_addr(plan: &Plan) -> String {
    plan.hosts.join(",")
}

/// Remove the run's znodes and the prefix, best effort.
pub async fn teardown(plan: &Plan) {
    let Ok(mut conn) = connect_any(&plan.hosts, 0, plan.session_timeout_ms, CONNECT_TIMEOUT).await
    else {
        return;
    };
    let _ = teardown_nodes(&mut conn, plan).await;
    conn.close(Duration::from_secs(1)).await;
}

async fn teardown_nodes(conn: &mut Conn, plan: &Plan) -> Result<(), ProtoError> {
    let nodes = plan.nodes();
    for chunk in nodes.chunks(ADMIN_BATCH) {
        let reqs: Vec<Req> = chunk.iter().map(|p| Req::GetChildren { path: p }).collect();
        let replies = conn.call_many(&reqs, ADMIN_TIMEOUT).await?;
        let mut children = Vec::new();
        for (p, (err, body)) in chunk.iter().zip(&replies) {
            if *err == 0 {
                for c in parse_children_reply(body)? {
                    children.push(child_path(p, &c));
                }
            }
        }
        for kids in children.chunks(ADMIN_BATCH) {
            let reqs: Vec<Req> = kids
                .iter()
                .map(|p| Req::Delete {
                    path: p,
                    version: -1,
                })
                .collect();
            conn.call_many(&reqs, ADMIN_TIMEOUT).await?;
        }
        let reqs: Vec<Req> = chunk
            .iter()
            .map(|p| Req::Delete {
                path: p,
                version: -1,
            })
            .collect();
        conn.call_many(&reqs, ADMIN_TIMEOUT).await?;
    }
    // Fails with NotEmpty if someone else keeps znodes there; that is fine.
    conn.call(
        &Req::Delete {
            path: &plan.prefix,
            version: -1,
        },
        ADMIN_TIMEOUT,
    )
    .await?;
    Ok(())
}

// ----- pipelined workloads (write, read, mixed, create-delete) --------------------------------

struct InFlight {
    xid: i32,
    kind: OpKind,
    sent: Instant,
}

enum ToReader {
    Sent(InFlight),
    /// The writer stopped: nothing follows.
    Done,
}

/// One client: a session that keeps `outstanding` requests in flight until the end of the
/// measured window, reconnecting (to the next host) after failures.
pub async fn pipelined_client(id: usize, plan: Arc<Plan>, live: Arc<Live>) -> Stats {
    let mut stats = Stats::default();
    let mut host = id % plan.hosts.len();
    let node = plan.client_node(id);
    let mut rng = StdRng::from_entropy();
    while Instant::now() < plan.measure_end {
        let limit = CONNECT_TIMEOUT.min(plan.measure_end.saturating_duration_since(Instant::now()));
        match connect(&plan.hosts[host], plan.session_timeout_ms, limit).await {
            Err(e) => {
                count_error(&mut stats, &live, &plan, &e.counter_name(), 1);
            }
            Ok(conn) => {
                match pipelined_session(conn, &node, &plan, &live, &mut stats, &mut rng).await {
                    Ok(()) => break,
                    Err((e, lost)) => {
                        // Every request lost with the connection is an error; a failure with nothing
                        // in flight still counts once.
                        let name = match e {
                            ProtoError::Timeout => error_name(OPERATION_TIMEOUT),
                            ProtoError::Io(_) | ProtoError::Closed => error_name(CONNECTION_LOSS),
                            ref other => other.counter_name(),
                        };
                        count_error(&mut stats, &live, &plan, &name, lost.max(1) as u64);
                        if matches!(e, ProtoError::Timeout) {
                            break;
                        }
                    }
                }
            }
        }
        host = (host + 1) % plan.hosts.len();
        pause(&plan).await;
    }
    stats
}

async fn pipelined_session(
    conn: Conn,
    node: &str,
    plan: &Arc<Plan>,
    live: &Live,
    stats: &mut Stats,
    rng: &mut StdRng,
) -> Result<(), (ProtoError, usize)> {
    let Conn {
        mut reader, writer, ..
    } = conn;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (del_tx, del_rx) = mpsc::unbounded_channel();
    let credits = Arc::new(Semaphore::new(plan.outstanding));
    let writer_task = tokio::spawn(write_loop(
        writer,
        plan.clone(),
        node.to_string(),
        credits.clone(),
        tx,
        del_rx,
        StdRng::from_rng(&mut *rng).unwrap_or_else(|_| StdRng::from_entropy()),
    ));
    let result = read_loop(&mut reader, plan, live, stats, &mut rx, &credits, del_tx).await;
    credits.close();
    if result.is_err() {
        writer_task.abort();
        return result;
    }
    // The writer has finished (it sent Done): close the session politely.
    if let Ok(Ok((mut writer, last_xid))) = writer_task.await {
        let xid = super::conn::next_xid(last_xid);
        if writer
            .write_all(&request_frame(xid, &Req::CloseSession))
            .await
            .is_ok()
        {
            let wait = async {
                while let Ok(f) = read_frame(&mut reader).await {
                    if matches!(parse_incoming(&f), Ok(Incoming::Reply { xid: x, .. }) if x == xid)
                    {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
        }
    }
    Ok(())
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    plan: Arc<Plan>,
    node: String,
    credits: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<ToReader>,
    mut del_rx: mpsc::UnboundedReceiver<String>,
    mut rng: StdRng,
) -> Result<(OwnedWriteHalf, i32), ProtoError> {
    let seq_path = child_path(&node, "s-");
    let mut xid = 0;
    let mut buf = Vec::with_capacity(plan.outstanding * (plan.value.len() + 64));
    let mut deletes: VecDeque<String> = VecDeque::new();
    loop {
        let permit = tokio::select! {
            p = credits.acquire() => match p {
                Ok(p) => p,
                Err(_) => return Err(ProtoError::Closed),
            },
            _ = sleep_until(plan.measure_end) => break,
        };
        permit.forget();
        if Instant::now() >= plan.measure_end {
            break;
        }
        let mut n = 1;
        while let Ok(p) = credits.try_acquire() {
            p.forget();
            n += 1;
        }
        while let Ok(p) = del_rx.try_recv() {
            deletes.push_back(p);
        }
        for _ in 0..n {
            xid = super::conn::next_xid(xid);
            let kind = next_op(plan.workload, rng.gen_range(0..100), !deletes.is_empty());
            let frame = match kind {
                OpKind::Read => request_frame(
                    xid,
                    &Req::GetData {
                        path: &node,
                        watch: false,
                    },
                ),
                OpKind::Create => request_frame(
                    xid,
                    &Req::Create {
                        path: &seq_path,
                        data: &plan.value,
                        flags: PERSISTENT_SEQUENTIAL,
                    },
                ),
                OpKind::Delete => {
                    let p = deletes.pop_front().unwrap_or_default();
                    request_frame(
                        xid,
                        &Req::Delete {
                            path: &p,
                            version: -1,
                        },
                    )
                }
                _ => request_frame(
                    xid,
                    &Req::SetData {
                        path: &node,
                        data: &plan.value,
                        version: -1,
                    },
                ),
            };
            buf.extend_from_slice(&frame);
            let sent = Instant::now();
            if tx
                .send(ToReader::Sent(InFlight { xid, kind, sent }))
                .is_err()
            {
                return Err(ProtoError::Closed);
            }
        }
        writer.write_all(&buf).await?;
        buf.clear();
    }
    let _ = tx.send(ToReader::Done);
    Ok((writer, xid))
}

fn take(
    msg: Option<ToReader>,
    inflight: &mut VecDeque<InFlight>,
    writer_done: &mut bool,
) -> Result<(), ProtoError> {
    match msg {
        Some(ToReader::Sent(f)) => inflight.push_back(f),
        Some(ToReader::Done) => *writer_done = true,
        // The writer failed: its error shows on the connection too.
        None => return Err(ProtoError::Closed),
    }
    Ok(())
}

async fn read_loop(
    reader: &mut FrameReader,
    plan: &Plan,
    live: &Live,
    stats: &mut Stats,
    rx: &mut mpsc::UnboundedReceiver<ToReader>,
    credits: &Semaphore,
    del_tx: mpsc::UnboundedSender<String>,
) -> Result<(), (ProtoError, usize)> {
    let mut inflight: VecDeque<InFlight> = VecDeque::new();
    let mut writer_done = false;
    let drain = sleep_until(plan.drain_until);
    tokio::pin!(drain);
    loop {
        if writer_done && inflight.is_empty() {
            return Ok(());
        }
        let lost = |inflight: &VecDeque<InFlight>, rx: &mpsc::UnboundedReceiver<ToReader>| {
            inflight.len() + rx.len()
        };
        tokio::select! {
            biased;
            m = rx.recv(), if !writer_done => {
                if let Err(e) = take(m, &mut inflight, &mut writer_done) {
                    return Err((e, lost(&inflight, rx)));
                }
            }
            f = read_frame(reader) => {
                let f = match f {
                    Ok(f) => f,
                    Err(e) => return Err((e, lost(&inflight, rx))),
                };
                let (xid, err, body) = match parse_incoming(&f) {
                    Ok(Incoming::Reply { xid, err, body, .. }) => (xid, err, body),
                    Ok(Incoming::Watch { .. }) => continue,
                    Err(e) => return Err((e, lost(&inflight, rx))),
                };
                // The writer records a request before sending it: pick up what it recorded.
                while !writer_done {
                    match rx.try_recv() {
                        Ok(m) => {
                            let _ = take(Some(m), &mut inflight, &mut writer_done);
                        }
                        Err(_) => break,
                    }
                }
                let Some(rec) = inflight.pop_front() else {
                    return Err((ProtoError::Unexpected(format!("reply with xid {xid} to no request")), 0));
                };
                if rec.xid != xid {
                    let e = ProtoError::XidMismatch { expected: rec.xid, got: xid };
                    return Err((e, inflight.len() + 1));
                }
                let now = Instant::now();
                let in_window = plan.in_window(now);
                if err == 0 {
                    if rec.kind == OpKind::Create {
                        match parse_create_reply(body) {
                            Ok(p) => {
                                let _ = del_tx.send(p);
                            }
                            Err(e) => return Err((e, inflight.len())),
                        }
                    }
                    if rec.kind.counts() {
                        live.ops.fetch_add(1, Ordering::Relaxed);
                        if in_window {
                            stats.record(rec.kind.name(), micros(now - rec.sent));
                        }
                    }
                } else {
                    stats.error(&error_name(err), plan.error_counts(now), 1);
                    live.errors.fetch_add(1, Ordering::Relaxed);
                }
                credits.add_permits(1);
            }
            _ = &mut drain => return Err((ProtoError::Timeout, lost(&inflight, rx))),
        }
    }
}

// ----- watch fan-out --------------------------------------------------------------------------

#[derive(Debug)]
enum WatchEvent {
    Armed {
        who: usize,
        round: u64,
    },
    Notified {
        who: usize,
        round: u64,
        at: Instant,
    },
    Failed {
        who: usize,
        round: u64,
        error: String,
    },
}

/// N sessions watch one znode; a writer changes it; each round measures the time from the
/// write reply until every armed session was notified.
pub async fn watch_run(plan: Arc<Plan>, live: Arc<Live>) -> Stats {
    let path = plan.watch_node();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let mut cmds = Vec::new();
    let mut watchers = Vec::new();
    for i in 0..plan.clients {
        let (ctx, crx) = mpsc::unbounded_channel();
        cmds.push(ctx);
        watchers.push(tokio::spawn(watcher(
            i,
            plan.clone(),
            path.clone(),
            crx,
            ev_tx.clone(),
        )));
    }
    drop(ev_tx);
    let mut stats = Stats::default();
    let mut writer: Option<Conn> = None;
    let mut writer_host = plan.clients % plan.hosts.len();
    let mut round = 0u64;
    while Instant::now() < plan.measure_end {
        if writer.is_none() {
            let limit =
                CONNECT_TIMEOUT.min(plan.measure_end.saturating_duration_since(Instant::now()));
            match connect(&plan.hosts[writer_host], plan.session_timeout_ms, limit).await {
                Ok(c) => writer = Some(c),
                Err(e) => {
                    count_error(&mut stats, &live, &plan, &e.counter_name(), 1);
                    writer_host = (writer_host + 1) % plan.hosts.len();
                    pause(&plan).await;
                    continue;
                }
            }
        }
        round += 1;
        for c in &cmds {
            let _ = c.send(round);
        }
        // Every watcher answers: armed or failed.
        let deadline = (Instant::now() + ROUND_TIMEOUT).min(plan.drain_until);
        let mut armed = vec![false; plan.clients];
        let mut answered = 0;
        while answered < plan.clients {
            match timeout_at(deadline, ev_rx.recv()).await {
                Ok(Some(WatchEvent::Armed { who, round: r })) if r == round => {
                    armed[who] = true;
                    answered += 1;
                }
                Ok(Some(WatchEvent::Failed {
                    round: r, error, ..
                })) if r == round => {
                    count_error(&mut stats, &live, &plan, &error, 1);
                    answered += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        count_error(
            &mut stats,
            &live,
            &plan,
            &error_name(OPERATION_TIMEOUT),
            (plan.clients - answered) as u64,
        );
        let expected = armed.iter().filter(|a| **a).count();
        if expected == 0 {
            pause(&plan).await;
            continue;
        }
        let sent = Instant::now();
        let w = writer.as_mut().expect("writer connected above");
        let req = Req::SetData {
            path: &path,
            data: &plan.value,
            version: -1,
        };
        let limit = ROUND_TIMEOUT.min(plan.drain_until.saturating_duration_since(sent));
        match w.call(&req, limit).await {
            Ok((0, _)) => {}
            Ok((err, _)) => {
                count_error(&mut stats, &live, &plan, &error_name(err), 1);
                continue;
            }
            Err(e) => {
                count_error(&mut stats, &live, &plan, &e.counter_name(), 1);
                writer = None;
                continue;
            }
        }
        let replied = Instant::now();
        let deadline = (replied + ROUND_TIMEOUT).min(plan.drain_until);
        let mut last: Option<Instant> = None;
        let mut got = 0;
        let mut waiting = expected;
        while got < waiting {
            match timeout_at(deadline, ev_rx.recv()).await {
                Ok(Some(WatchEvent::Notified { who, round: r, at }))
                    if r == round && armed[who] =>
                {
                    armed[who] = false;
                    got += 1;
                    last = Some(last.map_or(at, |l| l.max(at)));
                }
                Ok(Some(WatchEvent::Failed {
                    who,
                    round: r,
                    error,
                })) if r == round && armed[who] => {
                    armed[who] = false;
                    waiting -= 1;
                    count_error(&mut stats, &live, &plan, &error, 1);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let in_window = plan.in_window(replied);
        if got < waiting {
            count_error(
                &mut stats,
                &live,
                &plan,
                &error_name(OPERATION_TIMEOUT),
                (waiting - got) as u64,
            );
            continue;
        }
        live.ops.fetch_add(1, Ordering::Relaxed);
        if in_window && got > 0 {
            let last = last.expect("at least one notification");
            stats.record("notify", micros(last.saturating_duration_since(replied)));
            stats.record_op_only("write", micros(replied - sent));
            stats.record_op_only("fanout", micros(last.saturating_duration_since(sent)));
            stats.notifications += got as u64;
        }
    }
    // Watchers close their sessions when their command channel closes.
    drop(cmds);
    let stop = Instant::now() + Duration::from_secs(1);
    for w in watchers {
        let abort = w.abort_handle();
        if timeout_at(stop, w).await.is_err() {
            abort.abort();
        }
    }
    if let Some(w) = writer {
        w.close(Duration::from_millis(500)).await;
    }
    stats
}

/// Pend forever when there is no connection (for `select!`).
async fn next_frame(conn: &mut Option<Conn>) -> Result<Bytes, ProtoError> {
    match conn {
        Some(c) => read_frame(&mut c.reader).await,
        None => std::future::pending().await,
    }
}

async fn watcher(
    who: usize,
    plan: Arc<Plan>,
    path: String,
    mut cmds: mpsc::UnboundedReceiver<u64>,
    events: mpsc::UnboundedSender<WatchEvent>,
) {
    let mut host = who % plan.hosts.len();
    let mut conn: Option<Conn> = None;
    // Half the sessions watch with exists, half with getData.
    let use_exists = who.is_multiple_of(2);
    // (xid, round) of the watch request in flight, and the round whose notification is due.
    let mut arming: Option<(i32, u64)> = None;
    let mut armed: Option<u64> = None;
    let ping_every = Duration::from_millis((plan.session_timeout_ms / 3).max(100) as u64);
    let mut ping = tokio::time::interval(ping_every);
    let fail = |round: u64, error: String| {
        let _ = events.send(WatchEvent::Failed { who, round, error });
    };
    loop {
        tokio::select! {
            c = cmds.recv() => {
                let Some(round) = c else { break };
                if conn.is_none() {
                    match connect(&plan.hosts[host], plan.session_timeout_ms, CONNECT_TIMEOUT).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            host = (host + 1) % plan.hosts.len();
                            fail(round, e.counter_name());
                            continue;
                        }
                    }
                }
                let c = conn.as_mut().expect("connected above");
                let xid = c.next_xid();
                let req = if use_exists {
                    Req::Exists { path: &path, watch: true }
                } else {
                    Req::GetData { path: &path, watch: true }
                };
                if let Err(e) = c.writer.write_all(&request_frame(xid, &req)).await {
                    conn = None;
                    host = (host + 1) % plan.hosts.len();
                    fail(round, ProtoError::Io(e).counter_name());
                    continue;
                }
                arming = Some((xid, round));
            }
            f = next_frame(&mut conn) => {
                let at = Instant::now();
                let inc = match f {
                    Ok(f) => match parse_incoming(&f) {
                        Ok(Incoming::Reply { xid, err, .. }) => Ok((Some((xid, err)), false)),
                        Ok(inc) => Ok((None, is_data_change(&inc, &path))),
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                };
                match inc {
                    Err(e) => {
                        conn = None;
                        host = (host + 1) % plan.hosts.len();
                        if let Some(round) = arming.take().map(|(_, r)| r).or(armed.take()) {
                            fail(round, e.counter_name());
                        }
                    }
                    Ok((Some((xid, err)), _)) => {
                        if let Some((want, round)) = arming {
                            if xid == want {
                                arming = None;
                                if err == 0 || (use_exists && err == NO_NODE) {
                                    armed = Some(round);
                                    let _ = events.send(WatchEvent::Armed { who, round });
                                } else {
                                    fail(round, error_name(err));
                                }
                            }
                        }
                    }
                    Ok((None, true)) => {
                        if let Some(round) = armed.take() {
                            let _ = events.send(WatchEvent::Notified { who, round, at });
                        }
                    }
                    Ok((None, false)) => {}
                }
            }
            _ = ping.tick() => {
                if let Some(c) = conn.as_mut() {
                    if let Err(e) = c.writer.write_all(&request_frame(0, &Req::Ping)).await {
                        conn = None;
                        if let Some(round) = arming.take().map(|(_, r)| r).or(armed.take()) {
                            fail(round, ProtoError::Io(e).counter_name());
                        }
                    }
                }
            }
        }
    }
    if let Some(c) = conn {
        c.close(Duration::from_millis(500)).await;
    }
}
