//! The thin client layer of `keeper cli`: runs parsed [`Command`]s against a
//! `zookeeper_client::Client`, tracks the watches this shell set, and reports watch
//! and session events.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use zookeeper_client::{
    Acl, Acls, AuthId, Client, CreateMode, Error, EventType, OneshotWatcher, Permission,
    PersistentWatcher, SessionState, WatchedEvent,
};

use super::format::{
    error_message, event_type_name, format_acl, format_children, format_event, format_list,
    format_stat, keeper_error_message, keeper_state_name, parse_acl, watcher_block, AclEntry,
    PERM_ADMIN, PERM_CREATE, PERM_DELETE, PERM_READ, PERM_WRITE,
};
use super::parse::{usage_text, validate_path, AddWatchMode, CliError, Command, WatcherType};

/// Ordered stdout/stderr output of one command.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    pub chunks: Vec<(Stream, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Output {
    pub fn out(&mut self, s: impl Into<String>) {
        self.chunks.push((Stream::Out, s.into()));
    }

    /// Appends a line (newline added) to stdout.
    pub fn outln(&mut self, s: impl AsRef<str>) {
        self.out(format!("{}\n", s.as_ref()));
    }

    pub fn err(&mut self, s: impl Into<String>) {
        self.chunks.push((Stream::Err, s.into()));
    }

    /// Appends a line (newline added) to stderr.
    pub fn errln(&mut self, s: impl AsRef<str>) {
        self.chunks.push((Stream::Err, format!("{}\n", s.as_ref())));
    }

    /// Everything written to one stream, concatenated.
    pub fn text(&self, stream: Stream) -> String {
        self.chunks
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, t)| t.as_str())
            .collect()
    }

    /// Writes the chunks to the process's stdout/stderr, in order.
    pub fn emit(&mut self) {
        use std::io::Write;
        let stdout = std::io::stdout();
        let stderr = std::io::stderr();
        for (stream, text) in self.chunks.drain(..) {
            match stream {
                Stream::Out => {
                    let mut o = stdout.lock();
                    let _ = o.write_all(text.as_bytes());
                    let _ = o.flush();
                }
                Stream::Err => {
                    let _ = stdout.lock().flush();
                    let mut e = stderr.lock();
                    let _ = e.write_all(text.as_bytes());
                    let _ = e.flush();
                }
            }
        }
    }
}

/// Where watch and session events go (zkCli's default watcher): printed only in
/// interactive mode and while `printwatches` is on.
pub struct EventSink {
    enabled: AtomicBool,
    print_watches: AtomicBool,
    recent: Mutex<VecDeque<(i64, EventType, String)>>,
}

impl EventSink {
    pub fn new(enabled: bool) -> Self {
        EventSink {
            enabled: AtomicBool::new(enabled),
            print_watches: AtomicBool::new(true),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// Stops printing events for good (zkCli exits at end of input without reporting
    /// the session's close).
    pub fn silence(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    pub fn print_watches(&self) -> bool {
        self.print_watches.load(Ordering::SeqCst)
    }

    pub fn set_print_watches(&self, on: bool) {
        self.print_watches.store(on, Ordering::SeqCst);
    }

    fn emit(&self, event: String) {
        if !self.enabled.load(Ordering::SeqCst) || !self.print_watches() {
            return;
        }
        use std::io::Write;
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(watcher_block(&event).as_bytes());
        let _ = o.flush();
    }

    /// A node event. The same notification reaching several of our watchers (zkCli
    /// registers one default watcher, so prints it once) is printed once when the server
    /// supplies its zxid.
    pub fn node_event(&self, ev: &WatchedEvent) {
        if ev.zxid >= 0 {
            let key = (ev.zxid, ev.event_type, ev.path.clone());
            let mut recent = self.recent.lock().unwrap();
            if recent.contains(&key) {
                return;
            }
            recent.push_back(key);
            if recent.len() > 64 {
                recent.pop_front();
            }
        }
        self.emit(format_event(
            keeper_state_name(ev.session_state),
            event_type_name(ev.event_type),
            Some(&ev.path),
        ));
    }

    pub fn session_event(&self, state: SessionState) {
        self.emit(format_event(keeper_state_name(state), "None", None));
    }

    /// The `*WatchRemoved` events zkCli prints after `removewatches`.
    pub fn removed_event(&self, kind: WatchKind, path: &str) {
        let t = match kind {
            WatchKind::Data => "DataWatchRemoved",
            WatchKind::Child => "ChildWatchRemoved",
            WatchKind::Persistent | WatchKind::PersistentRecursive => "PersistentWatchRemoved",
        };
        self.emit(format_event("SyncConnected", t, Some(path)));
    }
}

/// Kinds of watches this shell sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatchKind {
    Data,
    Child,
    Persistent,
    PersistentRecursive,
}

impl WatchKind {
    /// Whether `removewatches` with this type removes a watch of `self`'s kind.
    pub fn removed_by(self, t: WatcherType) -> bool {
        match t {
            WatcherType::Any => true,
            WatcherType::Data => self == WatchKind::Data,
            WatcherType::Children => self == WatchKind::Child,
        }
    }
}

struct WatchEntry {
    id: u64,
    cancel: oneshot::Sender<()>,
}

/// The watches set through this shell, one per (path, kind) like zkCli's single default
/// watcher. Dropping an entry's sender ends its task, which drops (and so removes) the
/// client library's watcher.
#[derive(Default)]
struct WatchTable {
    entries: HashMap<(String, WatchKind), WatchEntry>,
}

static NEXT_WATCH_ID: AtomicU64 = AtomicU64::new(1);

/// Connection settings and state of the shell.
pub struct Shell {
    host: String,
    timeout: Duration,
    readonly: bool,
    client: Option<Client>,
    /// False after `close` until `connect`: commands print `Not connected`.
    want_connected: bool,
    events: Arc<EventSink>,
    watches: Arc<Mutex<WatchTable>>,
    /// The live client for tab completion; cleared before the session is closed so
    /// that this clone never keeps a session open.
    shared: Arc<Mutex<Option<Client>>>,
    /// Set while this shell closes the session, so that `disconnect` (not the state
    /// task) reports the `Closed` event, before the next prompt.
    closing: Arc<AtomicBool>,
}

fn to_permission(perms: i32) -> Permission {
    [
        (PERM_READ, Permission::READ),
        (PERM_WRITE, Permission::WRITE),
        (PERM_CREATE, Permission::CREATE),
        (PERM_DELETE, Permission::DELETE),
        (PERM_ADMIN, Permission::ADMIN),
    ]
    .iter()
    .filter(|(bit, _)| perms & bit != 0)
    .fold(Permission::NONE, |acc, (_, p)| acc | *p)
}

fn from_permission(p: Permission) -> i32 {
    [
        (PERM_READ, Permission::READ),
        (PERM_WRITE, Permission::WRITE),
        (PERM_CREATE, Permission::CREATE),
        (PERM_DELETE, Permission::DELETE),
        (PERM_ADMIN, Permission::ADMIN),
    ]
    .iter()
    .filter(|(_, perm)| p.has(*perm))
    .fold(0, |acc, (bit, _)| acc | bit)
}

fn to_acls(entries: &[AclEntry]) -> Vec<Acl> {
    entries
        .iter()
        .map(|e| Acl::new(to_permission(e.perms), AuthId::new(&e.scheme, &e.id)))
        .collect()
}

fn from_acls(acls: &[Acl]) -> Vec<AclEntry> {
    acls.iter()
        .map(|a| AclEntry::new(a.scheme(), a.id(), from_permission(a.permission())))
        .collect()
}

/// Java result code numbers, for `sync`'s `rc=` output.
fn error_code(err: &Error) -> i32 {
    match err {
        Error::RuntimeInconsistent => -2,
        Error::ConnectionLoss | Error::NoHosts => -4,
        Error::MarshallingError => -5,
        Error::Unimplemented => -6,
        Error::Timeout => -7,
        Error::BadArguments(_) => -8,
        Error::NoNode => -101,
        Error::NoAuth => -102,
        Error::BadVersion => -103,
        Error::NoChildrenForEphemerals => -108,
        Error::NodeExists => -110,
        Error::NotEmpty => -111,
        Error::SessionExpired | Error::ClientClosed => -112,
        Error::InvalidAcl => -114,
        Error::AuthFailed => -115,
        Error::SessionMoved => -118,
        Error::NotReadOnly => -119,
        Error::NoWatcher => -121,
        Error::ReconfigDisabled => -123,
        Error::QuotaExceeded => -125,
        Error::Throttled => -127,
        Error::UnexpectedErrorCode(c) => *c,
        _ => -1,
    }
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn keeper(err: Error, path: &str) -> CliError {
    CliError::Keeper(error_message(&err, path))
}

fn check_path(path: &str, sequential: bool) -> Result<(), CliError> {
    validate_path(path, sequential).map_err(CliError::MalformedPath)
}

/// What the REPL should do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

impl Shell {
    pub fn new(host: &str, timeout: Duration, readonly: bool, events: Arc<EventSink>) -> Self {
        Shell {
            host: host.to_string(),
            timeout,
            readonly,
            client: None,
            want_connected: true,
            events,
            watches: Arc::new(Mutex::new(WatchTable::default())),
            shared: Arc::new(Mutex::new(None)),
            closing: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Slot holding the current client (for tab completion).
    pub fn shared_client(&self) -> Arc<Mutex<Option<Client>>> {
        self.shared.clone()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn events(&self) -> &Arc<EventSink> {
        &self.events
    }

    /// Java `ZooKeeper.States` name for the prompt.
    pub fn state_name(&self) -> &'static str {
        match &self.client {
            Some(c) => super::format::zk_state_name(Some(c.state())),
            None if self.want_connected => "CONNECTING",
            None => "CLOSED",
        }
    }

    /// Opens a session to `self.host`, replacing any previous one.
    pub async fn connect(&mut self) -> Result<(), Error> {
        self.disconnect().await;
        self.want_connected = true;
        let client = Client::connector()
            .with_session_timeout(self.timeout)
            .with_readonly(self.readonly)
            .with_fail_eagerly()
            .connect(&self.host)
            .await?;
        let mut states = client.state_watcher();
        let events = self.events.clone();
        events.session_event(client.state());
        let closing = Arc::new(AtomicBool::new(false));
        self.closing = closing.clone();
        tokio::spawn(async move {
            loop {
                let state = states.changed().await;
                if !(state == SessionState::Closed && closing.load(Ordering::SeqCst)) {
                    events.session_event(state);
                }
                if state.is_terminated() {
                    break;
                }
            }
        });
        *self.shared.lock().unwrap() = Some(client.clone());
        self.client = Some(client);
        Ok(())
    }

    /// Closes the session (if any) and waits briefly for the server to acknowledge.
    pub async fn disconnect(&mut self) {
        self.watches.lock().unwrap().entries.clear();
        self.shared.lock().unwrap().take();
        if let Some(client) = self.client.take() {
            let mut states = client.state_watcher();
            let alive = !client.state().is_terminated();
            self.closing.store(true, Ordering::SeqCst);
            drop(client);
            if alive {
                let _ = tokio::time::timeout(Duration::from_secs(3), async {
                    while !states.changed().await.is_terminated() {}
                })
                .await;
                self.events.session_event(SessionState::Closed);
            }
        }
    }

    /// A live client, connecting first if needed. `Ok(None)` means zkCli's
    /// "Not connected" (closed by the user, expired or failed authentication).
    async fn client(&mut self, path: &str) -> Result<Option<Client>, CliError> {
        match &self.client {
            Some(c) if !c.state().is_terminated() => return Ok(Some(c.clone())),
            Some(_) => return Ok(None),
            None if !self.want_connected => return Ok(None),
            None => {}
        }
        match self.connect().await {
            Ok(()) => Ok(self.client.clone()),
            Err(Error::AuthFailed) => Err(keeper(Error::AuthFailed, path)),
            Err(_) => Err(CliError::Keeper(keeper_error_message(
                &Error::ConnectionLoss,
                path,
            ))),
        }
    }

    fn register(&self, path: &str, kind: WatchKind) -> Option<(u64, oneshot::Receiver<()>)> {
        let mut table = self.watches.lock().unwrap();
        let key = (path.to_string(), kind);
        if table.entries.contains_key(&key) {
            return None;
        }
        let id = NEXT_WATCH_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        table.entries.insert(key, WatchEntry { id, cancel: tx });
        Some((id, rx))
    }

    fn watch_oneshot(&self, path: &str, kind: WatchKind, watcher: OneshotWatcher) {
        let Some((id, cancel)) = self.register(path, kind) else {
            return; // already watching: zkCli's watcher set holds it once
        };
        let table = self.watches.clone();
        let events = self.events.clone();
        let key = (path.to_string(), kind);
        tokio::spawn(async move {
            tokio::select! {
                biased;
                ev = watcher.changed() => {
                    {
                        let mut t = table.lock().unwrap();
                        if t.entries.get(&key).is_some_and(|e| e.id == id) {
                            t.entries.remove(&key);
                        }
                    }
                    if ev.event_type != EventType::Session {
                        events.node_event(&ev);
                    }
                }
                _ = cancel => {}
            }
        });
    }

    fn watch_persistent(&self, path: &str, kind: WatchKind, mut watcher: PersistentWatcher) {
        let Some((_, mut cancel)) = self.register(path, kind) else {
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    ev = watcher.changed() => {
                        if ev.event_type == EventType::Session {
                            if ev.session_state.is_terminated() {
                                break;
                            }
                        } else {
                            events.node_event(&ev);
                        }
                    }
                    _ = &mut cancel => break,
                }
            }
        });
    }

    /// Runs one command. Errors carry zkCli's message; output is appended to `out`.
    pub async fn run(&mut self, cmd: Command, out: &mut Output) -> Result<Flow, CliError> {
        match cmd {
            Command::Help => {
                out.out(usage_text());
                return Ok(Flow::Continue);
            }
            Command::Version => {
                out.outln(format!(
                    "keeper CLI version: {} (ZooKeeper 3.8 compatible)",
                    env!("CARGO_PKG_VERSION")
                ));
                return Ok(Flow::Continue);
            }
            Command::PrintWatches { on } => {
                match on {
                    None => out.outln(format!(
                        "printwatches is {}",
                        if self.events.print_watches() {
                            "on"
                        } else {
                            "off"
                        }
                    )),
                    Some(on) => self.events.set_print_watches(on),
                }
                return Ok(Flow::Continue);
            }
            Command::Quit => {
                self.disconnect().await;
                return Ok(Flow::Quit);
            }
            Command::Close => {
                self.disconnect().await;
                self.want_connected = false;
                return Ok(Flow::Continue);
            }
            Command::Connect { host } => {
                if let Some(h) = host {
                    self.host = h;
                }
                if let Err(e) = self.connect().await {
                    return Err(CliError::Keeper(match e {
                        Error::AuthFailed => keeper_error_message(&e, ""),
                        _ => keeper_error_message(&Error::ConnectionLoss, ""),
                    }));
                }
                return Ok(Flow::Continue);
            }
            Command::History | Command::Redo { .. } => return Ok(Flow::Continue),
            _ => {}
        }
        let path = command_path(&cmd).unwrap_or_default();
        let Some(client) = self.client(&path).await? else {
            out.outln("Not connected");
            return Ok(Flow::Continue);
        };
        self.run_on(&client, cmd, out).await?;
        Ok(Flow::Continue)
    }

    async fn run_on(&self, zk: &Client, cmd: Command, out: &mut Output) -> Result<(), CliError> {
        match cmd {
            Command::Create {
                path,
                data,
                acl,
                ephemeral,
                sequential,
                container,
                ttl,
            } => {
                check_path(&path, sequential)?;
                let entries = match &acl {
                    Some(a) => {
                        let (entries, warnings) = parse_acl(a);
                        warnings.iter().for_each(|w| out.errln(w));
                        entries
                    }
                    None => vec![AclEntry::new("world", "anyone", super::format::PERM_ALL)],
                };
                let acls = to_acls(&entries);
                let mode = match (ephemeral, sequential, container) {
                    (true, true, _) => CreateMode::EphemeralSequential,
                    (true, false, _) => CreateMode::Ephemeral,
                    (false, true, _) => CreateMode::PersistentSequential,
                    (false, false, true) => CreateMode::Container,
                    _ => CreateMode::Persistent,
                };
                let mut options = mode.with_acls(Acls::new(&acls));
                if let Some(ttl) = ttl {
                    options = options.with_ttl(Duration::from_millis(ttl as u64));
                }
                let data = data.unwrap_or_default();
                match zk.create(&path, data.as_bytes(), &options).await {
                    Ok((_, seq)) => {
                        let created = if sequential {
                            format!("{path}{seq}")
                        } else {
                            path
                        };
                        out.errln(format!("Created {created}"));
                        Ok(())
                    }
                    Err(Error::InvalidAcl) => {
                        out.errln(keeper_error_message(&Error::InvalidAcl, &path));
                        Err(keeper(Error::InvalidAcl, &path))
                    }
                    Err(e) => Err(keeper(e, &path)),
                }
            }
            Command::Ls {
                path,
                stat,
                watch,
                recursive,
            } => {
                check_path(&path, false)?;
                if recursive {
                    self.visit_subtree(zk, &path, watch, &mut Visit::Print(out))
                        .await?;
                    return Ok(());
                }
                let (children, st) = match (stat, watch) {
                    (false, false) => (zk.list_children(&path).await, None),
                    (false, true) => match zk.list_and_watch_children(&path).await {
                        Ok((c, w)) => {
                            self.watch_oneshot(&path, WatchKind::Child, w);
                            (Ok(c), None)
                        }
                        Err(e) => (Err(e), None),
                    },
                    (true, false) => match zk.get_children(&path).await {
                        Ok((c, s)) => (Ok(c), Some(s)),
                        Err(e) => (Err(e), None),
                    },
                    (true, true) => match zk.get_and_watch_children(&path).await {
                        Ok((c, s, w)) => {
                            self.watch_oneshot(&path, WatchKind::Child, w);
                            (Ok(c), Some(s))
                        }
                        Err(e) => (Err(e), None),
                    },
                };
                let children = children.map_err(|e| keeper(e, &path))?;
                out.out(format_children(&children));
                if let Some(s) = st {
                    out.out(format_stat(&s));
                }
                Ok(())
            }
            Command::Get { path, stat, watch } => {
                check_path(&path, false)?;
                let (data, st) = if watch {
                    let (d, s, w) = zk
                        .get_and_watch_data(&path)
                        .await
                        .map_err(|e| keeper(e, &path))?;
                    self.watch_oneshot(&path, WatchKind::Data, w);
                    (d, s)
                } else {
                    zk.get_data(&path).await.map_err(|e| keeper(e, &path))?
                };
                out.outln(String::from_utf8_lossy(&data));
                if stat {
                    out.out(format_stat(&st));
                }
                Ok(())
            }
            Command::Set {
                path,
                data,
                version,
                stat,
            } => {
                check_path(&path, false)?;
                let st = zk
                    .set_data(&path, data.as_bytes(), version.filter(|v| *v != -1))
                    .await
                    .map_err(|e| keeper(e, &path))?;
                if stat {
                    out.out(format_stat(&st));
                }
                Ok(())
            }
            Command::Stat { path, watch } => {
                check_path(&path, false)?;
                let st = if watch {
                    let (s, w) = zk
                        .check_and_watch_stat(&path)
                        .await
                        .map_err(|e| keeper(e, &path))?;
                    self.watch_oneshot(&path, WatchKind::Data, w);
                    s
                } else {
                    zk.check_stat(&path).await.map_err(|e| keeper(e, &path))?
                };
                match st {
                    Some(s) => {
                        out.out(format_stat(&s));
                        Ok(())
                    }
                    None => Err(keeper(Error::NoNode, &path)),
                }
            }
            Command::Delete { path, version } => {
                check_path(&path, false)?;
                zk.delete(&path, version.filter(|v| *v != -1))
                    .await
                    .map_err(|e| keeper(e, &path))
            }
            Command::DeleteAll { path, batch } => {
                check_path(&path, false)?;
                let tree = list_subtree_bfs(zk, &path)
                    .await
                    .map_err(|e| keeper(e, &path))?;
                if !delete_in_batches(zk, &tree, batch).await {
                    out.errln("Failed to delete some node(s) in the subtree!");
                }
                Ok(())
            }
            Command::GetAcl { path, stat } => {
                check_path(&path, false)?;
                let (acl, st) = zk.get_acl(&path).await.map_err(|e| keeper(e, &path))?;
                out.out(format_acl(&from_acls(&acl)));
                if stat {
                    out.out(format_stat(&st));
                }
                Ok(())
            }
            Command::SetAcl {
                path,
                acl,
                version,
                stat,
                recursive,
            } => {
                check_path(&path, false)?;
                let (entries, warnings) = parse_acl(&acl);
                warnings.iter().for_each(|w| out.errln(w));
                let acls = to_acls(&entries);
                let version = version.filter(|v| *v != -1);
                if recursive {
                    let mut action = Visit::SetAcl {
                        acls: &acls,
                        version,
                        out,
                    };
                    self.visit_subtree(zk, &path, false, &mut action).await?;
                } else {
                    let st = zk
                        .set_acl(&path, &acls, version)
                        .await
                        .map_err(|e| keeper(e, &path))?;
                    if stat {
                        out.out(format_stat(&st));
                    }
                }
                Ok(())
            }
            Command::AddAuth { scheme, auth } => {
                // zkCli does not wait for the answer at all; waiting (bounded by the
                // session timeout) lets a rejected credential show up as an error.
                let auth = auth.unwrap_or_default();
                match tokio::time::timeout(self.timeout, zk.auth(&scheme, auth.as_bytes())).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(Error::AuthFailed)) => Err(CliError::Keeper(format!(
                        "Authentication is not valid : {scheme}"
                    ))),
                    Ok(Err(e)) => Err(CliError::Keeper(keeper_error_message(&e, ""))),
                    Err(_) => Err(CliError::Keeper(keeper_error_message(&Error::Timeout, ""))),
                }
            }
            Command::Sync { path } => {
                check_path(&path, false)?;
                match tokio::time::timeout(Duration::from_secs(30), zk.sync(&path)).await {
                    Ok(Ok(())) => out.outln("Sync is OK"),
                    Ok(Err(e)) => out.outln(format!("Sync has failed. rc={}", error_code(&e))),
                    Err(_) => {
                        return Err(CliError::Keeper(
                            "java.util.concurrent.TimeoutException".into(),
                        ))
                    }
                }
                Ok(())
            }
            Command::GetEphemerals { path } => {
                let path = path.unwrap_or_else(|| "/".to_string());
                check_path(&path, false)?;
                let list = zk
                    .list_ephemerals(&path)
                    .await
                    .map_err(|e| keeper(e, &path))?;
                out.out(format_list(&list));
                Ok(())
            }
            Command::GetAllChildrenNumber { path } => {
                check_path(&path, false)?;
                let n = zk
                    .count_descendants_number(&path)
                    .await
                    .map_err(|e| keeper(e, &path))?;
                out.outln(n.to_string());
                Ok(())
            }
            Command::AddWatch { path, mode } => {
                check_path(&path, false)?;
                let (m, kind) = match mode {
                    AddWatchMode::Persistent => (
                        zookeeper_client::AddWatchMode::Persistent,
                        WatchKind::Persistent,
                    ),
                    AddWatchMode::PersistentRecursive => (
                        zookeeper_client::AddWatchMode::PersistentRecursive,
                        WatchKind::PersistentRecursive,
                    ),
                };
                let w = zk.watch(&path, m).await.map_err(|e| keeper(e, &path))?;
                self.watch_persistent(&path, kind, w);
                Ok(())
            }
            Command::RemoveWatches { path, kind, .. } => {
                check_path(&path, false)?;
                let removed: Vec<WatchKind> = {
                    let mut table = self.watches.lock().unwrap();
                    let keys: Vec<(String, WatchKind)> = table
                        .entries
                        .keys()
                        .filter(|(p, k)| *p == path && k.removed_by(kind))
                        .cloned()
                        .collect();
                    keys.into_iter()
                        .map(|key| {
                            if let Some(e) = table.entries.remove(&key) {
                                let _ = e.cancel.send(());
                            }
                            key.1
                        })
                        .collect()
                };
                if removed.is_empty() {
                    return Err(keeper(Error::NoWatcher, &path));
                }
                let mut printed = Vec::new();
                for k in removed {
                    let k = match k {
                        WatchKind::PersistentRecursive => WatchKind::Persistent,
                        k => k,
                    };
                    if !printed.contains(&k) {
                        printed.push(k);
                        self.events.removed_event(k, &path);
                    }
                }
                Ok(())
            }
            Command::WhoAmI => {
                let users = zk
                    .list_auth_users()
                    .await
                    .map_err(|e| CliError::Keeper(keeper_error_message(&e, "")))?;
                out.outln("Auth scheme: User");
                for u in users {
                    out.outln(format!("{}: {}", u.scheme(), u.user()));
                }
                Ok(())
            }
            // Handled in `run`.
            Command::Help
            | Command::Version
            | Command::PrintWatches { .. }
            | Command::Quit
            | Command::Close
            | Command::Connect { .. }
            | Command::History
            | Command::Redo { .. } => Ok(()),
        }
    }

    /// `ZKUtil.visitSubTreeDFS`: the root (after a `getData` that must succeed), then each
    /// level's children sorted, all of them visited before descending into the first;
    /// nodes vanishing meanwhile are skipped. The action runs as each node is visited.
    async fn visit_subtree(
        &self,
        zk: &Client,
        path: &str,
        watch: bool,
        action: &mut Visit<'_>,
    ) -> Result<(), CliError> {
        if watch {
            let (_, _, w) = zk
                .get_and_watch_data(path)
                .await
                .map_err(|e| keeper(e, path))?;
            self.watch_oneshot(path, WatchKind::Data, w);
        } else {
            zk.get_data(path).await.map_err(|e| keeper(e, path))?;
        }
        action.visit(zk, path).await;
        // Explicit stack of levels still to descend into (each reversed, so `pop` yields
        // the next child in sorted order).
        let mut levels: Vec<Vec<String>> = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(node) = next.take() {
            let children = if watch {
                match zk.list_and_watch_children(&node).await {
                    Ok((c, w)) => {
                        self.watch_oneshot(&node, WatchKind::Child, w);
                        Ok(c)
                    }
                    Err(e) => Err(e),
                }
            } else {
                zk.list_children(&node).await
            };
            let mut children = match children {
                Ok(c) => c,
                Err(Error::NoNode) => Vec::new(),
                Err(e) => return Err(keeper(e, &node)),
            };
            children.sort();
            let paths: Vec<String> = children.iter().map(|c| child_path(&node, c)).collect();
            for p in &paths {
                action.visit(zk, p).await;
            }
            levels.push(paths.into_iter().rev().collect());
            while let Some(level) = levels.last_mut() {
                if let Some(p) = level.pop() {
                    next = Some(p);
                    break;
                }
                levels.pop();
            }
        }
        Ok(())
    }
}

/// What [`Shell::visit_subtree`] does at each node.
enum Visit<'a> {
    /// `ls -R`: print the path.
    Print(&'a mut Output),
    /// `setAcl -R`: set the ACL, printing (not failing on) errors.
    SetAcl {
        acls: &'a [Acl],
        version: Option<i32>,
        out: &'a mut Output,
    },
}

impl Visit<'_> {
    async fn visit(&mut self, zk: &Client, path: &str) {
        match self {
            Visit::Print(out) => out.outln(path),
            Visit::SetAcl { acls, version, out } => {
                if let Err(e) = zk.set_acl(path, acls, *version).await {
                    out.outln(keeper_error_message(&e, path));
                }
            }
        }
    }
}

/// The command's znode path (used in connection error messages).
pub fn command_path(cmd: &Command) -> Option<String> {
    match cmd {
        Command::Create { path, .. }
        | Command::Ls { path, .. }
        | Command::Get { path, .. }
        | Command::Set { path, .. }
        | Command::Stat { path, .. }
        | Command::Delete { path, .. }
        | Command::DeleteAll { path, .. }
        | Command::GetAcl { path, .. }
        | Command::SetAcl { path, .. }
        | Command::Sync { path }
        | Command::GetAllChildrenNumber { path }
        | Command::AddWatch { path, .. }
        | Command::RemoveWatches { path, .. } => Some(path.clone()),
        Command::GetEphemerals { path } => path.clone(),
        _ => None,
    }
}

/// `ZKUtil.listSubTreeBFS`.
async fn list_subtree_bfs(zk: &Client, root: &str) -> Result<Vec<String>, Error> {
    let mut tree = vec![root.to_string()];
    let mut i = 0;
    while i < tree.len() {
        let node = tree[i].clone();
        for c in zk.list_children(&node).await? {
            tree.push(child_path(&node, &c));
        }
        i += 1;
    }
    Ok(tree)
}

/// `ZKUtil.deleteInBatch`: leaves first, `batch` deletes per multi; stops at the first
/// failed batch and reports whether everything succeeded.
async fn delete_in_batches(zk: &Client, tree: &[String], batch: usize) -> bool {
    for chunk in tree.iter().rev().collect::<Vec<_>>().chunks(batch.max(1)) {
        let mut writer = zk.new_multi_writer();
        for p in chunk {
            if writer.add_delete(p, None).is_err() {
                return false;
            }
        }
        if writer.commit().await.is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_roundtrip() {
        for bits in 0..32 {
            assert_eq!(from_permission(to_permission(bits)), bits);
        }
        assert_eq!(to_permission(31), Permission::ALL);
    }

    #[test]
    fn acl_conversion() {
        let e = vec![AclEntry::new("digest", "u:h", PERM_READ | PERM_ADMIN)];
        let acls = to_acls(&e);
        assert_eq!(acls[0].scheme(), "digest");
        assert_eq!(acls[0].id(), "u:h");
        assert_eq!(from_acls(&acls), e);
    }

    #[test]
    fn paths_and_codes() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
        assert_eq!(error_code(&Error::NoNode), -101);
        assert_eq!(
            command_path(&Command::Sync { path: "/s".into() }),
            Some("/s".to_string())
        );
        assert_eq!(command_path(&Command::WhoAmI), None);
    }

    #[test]
    fn watch_kinds() {
        assert!(WatchKind::Data.removed_by(WatcherType::Data));
        assert!(!WatchKind::Data.removed_by(WatcherType::Children));
        assert!(WatchKind::Child.removed_by(WatcherType::Children));
        assert!(WatchKind::Persistent.removed_by(WatcherType::Any));
        assert!(!WatchKind::PersistentRecursive.removed_by(WatcherType::Data));
    }

    #[test]
    fn output_streams() {
        let mut o = Output::default();
        o.outln("a");
        o.errln("b");
        o.out("c");
        assert_eq!(o.text(Stream::Out), "a\nc");
        assert_eq!(o.text(Stream::Err), "b\n");
    }
}
