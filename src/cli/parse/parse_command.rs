//! [`parse_command`]: each zkCli command's flags and arguments into a [`Command`].

use super::flags::parse_flags;
use super::numbers::{parse_java_int, parse_version};
use super::{usage_of, AddWatchMode, CliError, Command, WatcherType};

/// Largest TTL accepted by ZooKeeper (`EphemeralType.TTL.maxValue()`).
pub const MAX_TTL: i64 = 0x00FF_FFFF_FFFF;

/// Parses one command (`args[0]` is its name) into a [`Command`].
pub fn parse_command(args: &[String]) -> Result<Command, CliError> {
    let Some(name) = args.first() else {
        return Err(CliError::Malformed("No command entered".into()));
    };
    let usage = || CliError::Parse(usage_of(name));
    let cmd = match name.as_str() {
        "create" => {
            let p = parse_flags(
                args,
                &[('e', false), ('s', false), ('c', false), ('t', true)],
            )?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            let (e, s, c) = (p.has('e'), p.has('s'), p.has('c'));
            if c && (e || s) {
                return Err(CliError::Malformed(
                    "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
                        .into(),
                ));
            }
            let ttl =
                match p.value('t') {
                    Some(v) => Some(v.parse::<i64>().map_err(|_| {
                        CliError::Malformed("-t argument must be a long value".into())
                    })?),
                    None => None,
                };
            if ttl.is_some() && e {
                return Err(CliError::Malformed(
                    "TTLs cannot be used with Ephemeral znodes".into(),
                ));
            }
            if ttl.is_some() && c {
                return Err(CliError::Malformed(
                    "TTLs cannot be used with Container znodes".into(),
                ));
            }
            if let Some(t) = ttl {
                if t <= 0 || t > MAX_TTL {
                    return Err(CliError::Malformed(format!(
                        "ttl must be positive and cannot be larger than: {MAX_TTL}"
                    )));
                }
            }
            Command::Create {
                path: p.args[1].clone(),
                data: p.args.get(2).cloned(),
                acl: p.args.get(3).cloned(),
                ephemeral: e,
                sequential: s,
                container: c,
                ttl,
            }
        }
        "ls" | "ls2" => {
            let p = parse_flags(
                args,
                &[('?', false), ('s', false), ('w', false), ('R', false)],
            )?;
            // `ls path watch` (deprecated) means `ls -w path`.
            let watch = p.has('w') || p.args.len() > 2;
            if p.args.len() < 2 {
                return Err(CliError::Malformed(usage_of("ls")));
            }
            Command::Ls {
                path: p.args[1].clone(),
                stat: p.has('s') || name == "ls2",
                watch,
                recursive: p.has('R'),
            }
        }
        "get" => {
            let p = parse_flags(args, &[('s', false), ('w', false)])?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            Command::Get {
                path: p.args[1].clone(),
                stat: p.has('s'),
                watch: p.has('w') || p.args.len() > 2,
            }
        }
        "set" => {
            let p = parse_flags(args, &[('s', false), ('v', true)])?;
            if p.args.len() < 3 {
                return Err(usage());
            }
            Command::Set {
                path: p.args[1].clone(),
                data: p.args[2].clone(),
                version: p.value('v').map(parse_version).transpose()?,
                stat: p.has('s'),
            }
        }
        "stat" => {
            let p = parse_flags(args, &[('w', false)])?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            Command::Stat {
                path: p.args[1].clone(),
                watch: p.has('w') || p.args.len() > 2,
            }
        }
        "delete" => {
            let p = parse_flags(args, &[('v', true)])?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            Command::Delete {
                path: p.args[1].clone(),
                version: p.value('v').map(parse_version).transpose()?,
            }
        }
        "deleteall" | "rmr" => {
            let p = parse_flags(args, &[('b', true)])?;
            if p.args.len() < 2 {
                return Err(CliError::Parse(usage_of("deleteall")));
            }
            let batch = match p.value('b') {
                Some(v) => v
                    .parse::<i32>()
                    .map_err(|_| CliError::Malformed("-b argument must be an int value".into()))?,
                None => 1000,
            };
            Command::DeleteAll {
                path: p.args[1].clone(),
                batch: batch.max(1) as usize,
            }
        }
        "getAcl" => {
            let p = parse_flags(args, &[('s', false)])?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            Command::GetAcl {
                path: p.args[1].clone(),
                stat: p.has('s'),
            }
        }
        "setAcl" => {
            let p = parse_flags(args, &[('s', false), ('v', true), ('R', false)])?;
            if p.args.len() < 3 {
                return Err(usage());
            }
            Command::SetAcl {
                path: p.args[1].clone(),
                acl: p.args[2].clone(),
                version: p.value('v').map(parse_version).transpose()?,
                stat: p.has('s'),
                recursive: p.has('R'),
            }
        }
        "addauth" => {
            let p = parse_flags(args, &[])?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            Command::AddAuth {
                scheme: p.args[1].clone(),
                auth: p.args.get(2).cloned(),
            }
        }
        "sync" => {
            let p = parse_flags(args, &[])?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            Command::Sync {
                path: p.args[1].clone(),
            }
        }
        "getEphemerals" => {
            let p = parse_flags(args, &[])?;
            Command::GetEphemerals {
                path: p.args.get(1).cloned(),
            }
        }
        "getAllChildrenNumber" => {
            let p = parse_flags(args, &[])?;
            if p.args.len() < 2 {
                return Err(CliError::Malformed(usage_of(name)));
            }
            Command::GetAllChildrenNumber {
                path: p.args[1].clone(),
            }
        }
        "addWatch" => {
            let p = parse_flags(args, &[('m', true)])?;
            if p.args.len() != 2 {
                return Err(usage());
            }
            let mode = match p.value('m') {
                None => AddWatchMode::PersistentRecursive,
                Some(m) => match m.to_ascii_uppercase().as_str() {
                    "PERSISTENT" => AddWatchMode::Persistent,
                    "PERSISTENT_RECURSIVE" | "PERSISTENTRECURSIVE" => {
                        AddWatchMode::PersistentRecursive
                    }
                    _ => return Err(usage()),
                },
            };
            Command::AddWatch {
                path: p.args[1].clone(),
                mode,
            }
        }
        "removewatches" => {
            let p = parse_flags(
                args,
                &[('c', false), ('d', false), ('a', false), ('l', false)],
            )?;
            if p.args.len() < 2 {
                return Err(usage());
            }
            let kind = if p.has('c') {
                WatcherType::Children
            } else if p.has('d') {
                WatcherType::Data
            } else {
                WatcherType::Any
            };
            Command::RemoveWatches {
                path: p.args[1].clone(),
                kind,
                local: p.has('l'),
            }
        }
        "whoami" => Command::WhoAmI,
        "version" => {
            if args.len() > 1 {
                return Err(usage());
            }
            Command::Version
        }
        "connect" => Command::Connect {
            host: args.get(1).cloned(),
        },
        "close" => Command::Close,
        "quit" | "exit" => Command::Quit,
        "help" => Command::Help,
        "history" => Command::History,
        "redo" => {
            let Some(n) = args.get(1) else {
                return Err(usage());
            };
            let index = parse_java_int(n)
                .ok_or_else(|| CliError::Malformed("Command index out of range".into()))?;
            Command::Redo { index }
        }
        "printwatches" => Command::PrintWatches {
            on: args.get(1).map(|v| v == "on"),
        },
        _ => return Err(CliError::NotFound(name.clone())),
    };
    Ok(cmd)
}
