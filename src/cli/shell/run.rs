//! [`Shell::run`]: executing one parsed command.

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, Error};

use super::convert::{check_path, error_code, from_acls, keeper, to_acls};
use super::tree::{delete_in_batches, list_subtree_bfs, Visit};
use super::{Output, Shell, WatchKind};
use crate::cli::format::{
    format_acl, format_children, format_list, format_stat, keeper_error_message, parse_acl,
    AclEntry,
};
use crate::cli::parse::{usage_text, AddWatchMode, CliError, Command};

/// What the REPL should do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

impl Shell {
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
                    Some(a) => acl_or_refuse(a, out)?,
                    None => vec![AclEntry::new(
                        "world",
                        "anyone",
                        crate::cli::format::PERM_ALL,
                    )],
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
                let entries = acl_or_refuse(&acl, out)?;
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

/// The entries of an ACL argument, or (after printing what is wrong with it) a refusal: an
/// ACL applied in part, or one that grants nothing, can lock a node for good.
fn acl_or_refuse(acl: &str, out: &mut Output) -> Result<Vec<AclEntry>, CliError> {
    let (entries, warnings) = parse_acl(acl);
    if warnings.is_empty() && !entries.is_empty() {
        return Ok(entries);
    }
    warnings.iter().for_each(|w| out.errln(w));
    Err(CliError::Malformed(format!(
        "ACL '{acl}' not applied, nothing changed: each entry is scheme:id:perms with \
         perms made of the letters cdrwa"
    )))
}
