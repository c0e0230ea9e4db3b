//! Pure parsing for `keeper cli`: program flags, interactive line tokenizing, and
//! every zkCli command with its flags (mirroring Apache Commons CLI's `DefaultParser`,
//! which is what zkCli.sh 3.8 uses).

use std::fmt;

/// Default connect string when `-server` is not given.
pub const DEFAULT_SERVER: &str = "127.0.0.1:2181";
/// Default session timeout in milliseconds (zkCli's default).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Largest TTL accepted by ZooKeeper (`EphemeralType.TTL.maxValue()`).
pub const MAX_TTL: i64 = 0x00FF_FFFF_FFFF;

/// Program level options: everything before the optional one-shot command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliOptions {
    pub server: String,
    pub timeout_ms: u64,
    pub readonly: bool,
    pub wait_for_connection: bool,
    pub help: bool,
    /// One-shot command and its arguments (`args[0]` is the command name).
    pub command: Option<Vec<String>>,
}

impl Default for CliOptions {
    fn default() -> Self {
        CliOptions {
            server: DEFAULT_SERVER.to_string(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            readonly: false,
            wait_for_connection: false,
            help: false,
            command: None,
        }
    }
}

/// Parses the arguments after `keeper cli` like `ZooKeeperMain.MyCommandOptions.parseOptions`:
/// flags first, then the first argument not starting with `-` begins the command.
/// Unknown flags are ignored, as zkCli does.
pub fn parse_options(args: &[String]) -> Result<CliOptions, String> {
    let mut opts = CliOptions::default();
    let mut it = args.iter();
    while let Some(opt) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("Error: no argument found for option {name}"))
        };
        match opt.as_str() {
            "-server" => opts.server = value(opt)?,
            "-timeout" => {
                let v = value(opt)?;
                opts.timeout_ms = v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("Error: invalid timeout: {v}"))?;
            }
            "-r" => opts.readonly = true,
            "-waitforconnection" => opts.wait_for_connection = true,
            // Accepted for compatibility; keeper has no client configuration file.
            "-client-configuration" => {
                value(opt)?;
            }
            "-h" | "-help" | "--help" => opts.help = true,
            _ if !opt.starts_with('-') => {
                let mut cmd = vec![opt.clone()];
                cmd.extend(it.by_ref().cloned());
                opts.command = Some(cmd);
                break;
            }
            _ => {}
        }
    }
    Ok(opts)
}

/// Splits an interactive line into words the way zkCli does
/// (`\s*([^"']\S*|"[^"]*"|'[^']*')\s*` plus stripping the surrounding quotes).
/// A quote without its closing partner is skipped.
pub fn tokenize(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            match chars[i + 1..].iter().position(|&x| x == c) {
                Some(end) => {
                    out.push(chars[i + 1..i + 1 + end].iter().collect());
                    i += end + 2;
                }
                None => i += 1,
            }
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

/// Which local watches `removewatches` removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherType {
    Children,
    Data,
    Any,
}

/// `addWatch -m` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddWatchMode {
    Persistent,
    PersistentRecursive,
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Create {
        path: String,
        data: Option<String>,
        acl: Option<String>,
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl: Option<i64>,
    },
    Ls {
        path: String,
        stat: bool,
        watch: bool,
        recursive: bool,
    },
    Get {
        path: String,
        stat: bool,
        watch: bool,
    },
    Set {
        path: String,
        data: String,
        version: Option<i32>,
        stat: bool,
    },
    Stat {
        path: String,
        watch: bool,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    DeleteAll {
        path: String,
        batch: usize,
    },
    GetAcl {
        path: String,
        stat: bool,
    },
    SetAcl {
        path: String,
        acl: String,
        version: Option<i32>,
        stat: bool,
        recursive: bool,
    },
    AddAuth {
        scheme: String,
        auth: Option<String>,
    },
    Sync {
        path: String,
    },
    GetEphemerals {
        path: Option<String>,
    },
    GetAllChildrenNumber {
        path: String,
    },
    AddWatch {
        path: String,
        mode: AddWatchMode,
    },
    RemoveWatches {
        path: String,
        kind: WatcherType,
        local: bool,
    },
    WhoAmI,
    Version,
    Connect {
        host: Option<String>,
    },
    Close,
    Quit,
    Help,
    History,
    Redo {
        index: i64,
    },
    PrintWatches {
        on: Option<bool>,
    },
}

/// A command failure, carrying zkCli's message and exit code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// Bad flags or arguments; the message is printed as is.
    Parse(String),
    /// Semantically malformed command (`MalformedCommandException`).
    Malformed(String),
    /// Invalid znode path (`MalformedPathException`).
    MalformedPath(String),
    /// Unknown command name (printed after the usage text, exit code 127).
    NotFound(String),
    /// A failure reported by the server or the client library, already rendered.
    Keeper(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::NotFound(_) => 127,
            _ => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Parse(m) | CliError::Malformed(m) | CliError::MalformedPath(m) => {
                f.write_str(m)
            }
            CliError::Keeper(m) => f.write_str(m),
            CliError::NotFound(cmd) => write!(f, "Command not found: Command not found {cmd}"),
        }
    }
}

/// Command names and their option synopsis, as zkCli's usage prints them (plus `help`).
pub const USAGE: &[(&str, &str)] = &[
    (
        "addWatch",
        "[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE",
    ),
    ("addauth", "scheme auth"),
    ("close", ""),
    ("connect", "host:port"),
    ("create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "[-v version] path"),
    ("deleteall", "path [-b batch size]"),
    ("get", "[-s] [-w] path"),
    ("getAcl", "[-s] path"),
    ("getAllChildrenNumber", "path"),
    ("getEphemerals", "path"),
    ("help", ""),
    ("history", ""),
    ("ls", "[-s] [-w] [-R] path"),
    ("printwatches", "on|off"),
    ("quit", ""),
    ("redo", "cmdno"),
    ("removewatches", "path [-c|-d|-a] [-l]"),
    ("set", "[-s] [-v version] path data"),
    ("setAcl", "[-s] [-v version] [-R] path acl"),
    ("stat", "[-w] path"),
    ("sync", "path"),
    ("version", ""),
    ("whoami", ""),
];

/// The usage text zkCli prints for an unknown command.
pub fn usage_text() -> String {
    let mut s = String::from("ZooKeeper -server host:port -timeout ms -r cmd args\n");
    for (cmd, opts) in USAGE {
        s.push('\t');
        s.push_str(cmd);
        s.push(' ');
        s.push_str(opts);
        s.push('\n');
    }
    s
}

/// `"cmd options"` usage line of one command.
pub fn usage_of(cmd: &str) -> String {
    let opts = USAGE
        .iter()
        .find(|(c, _)| *c == cmd)
        .map(|(_, o)| *o)
        .unwrap_or("");
    format!("{cmd} {opts}")
}

/// Option table entry: single character name and whether it takes a value.
type OptSpec = (char, bool);

/// Result of a Commons-CLI style parse: options in order and the remaining arguments
/// (the command name included as `args[0]`).
#[derive(Debug, Default)]
struct Parsed {
    opts: Vec<(char, Option<String>)>,
    args: Vec<String>,
}

impl Parsed {
    fn has(&self, c: char) -> bool {
        self.opts.iter().any(|(o, _)| *o == c)
    }

    fn value(&self, c: char) -> Option<&str> {
        self.opts
            .iter()
            .find(|(o, _)| *o == c)
            .and_then(|(_, v)| v.as_deref())
    }
}

fn unrecognized(token: &str) -> CliError {
    CliError::Parse(format!(
        "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {token}"
    ))
}

fn missing_argument(c: char) -> CliError {
    CliError::Parse(format!(
        "org.apache.commons.cli.MissingArgumentException: Missing argument for option: {c}"
    ))
}

/// Mirrors `DefaultParser.parse(options, args)`: options may appear anywhere,
/// `--` ends option processing, `-` alone is an argument, `-v5` / `-v=5` attach a value,
/// `-se` concatenates flags, and any other `-token` is an unrecognized option.
fn parse_flags(tokens: &[String], specs: &[OptSpec]) -> Result<Parsed, CliError> {
    let spec = |c: char| specs.iter().find(|(n, _)| *n == c).copied();
    let is_option = |t: &str| -> bool {
        let Some(body) = t.strip_prefix('-') else {
            return false;
        };
        let name = body.split('=').next().unwrap_or("");
        name.chars().next().is_some_and(|c| spec(c).is_some())
    };
    let mut parsed = Parsed::default();
    let mut i = 0;
    let mut stop = false;
    while i < tokens.len() {
        let t = &tokens[i];
        i += 1;
        if stop || t == "-" || !t.starts_with('-') {
            parsed.args.push(t.clone());
            continue;
        }
        if t == "--" {
            stop = true;
            continue;
        }
        if t.starts_with("--") {
            return Err(unrecognized(t));
        }
        let body = &t[1..];
        let mut chars = body.chars();
        let first = chars.next().unwrap_or('-');
        let Some((_, has_arg)) = spec(first) else {
            return Err(unrecognized(t));
        };
        let rest = &body[first.len_utf8()..];
        if has_arg {
            let value = if let Some(v) = rest.strip_prefix('=') {
                v.to_string()
            } else if !rest.is_empty() {
                rest.to_string()
            } else if i < tokens.len() && !is_option(&tokens[i]) {
                i += 1;
                tokens[i - 1].clone()
            } else {
                return Err(missing_argument(first));
            };
            parsed.opts.push((first, Some(value)));
            continue;
        }
        // A flag; anything after it must be further concatenated options.
        parsed.opts.push((first, None));
        let rest_chars: Vec<char> = rest.chars().collect();
        let mut j = 0;
        while j < rest_chars.len() {
            let c = rest_chars[j];
            match spec(c) {
                None => return Err(unrecognized(t)),
                Some((_, false)) => parsed.opts.push((c, None)),
                Some((_, true)) => {
                    let tail: String = rest_chars[j + 1..].iter().collect();
                    let value = if !tail.is_empty() {
                        tail
                    } else if i < tokens.len() && !is_option(&tokens[i]) {
                        i += 1;
                        tokens[i - 1].clone()
                    } else {
                        return Err(missing_argument(c));
                    };
                    parsed.opts.push((c, Some(value)));
                    break;
                }
            }
            j += 1;
        }
    }
    Ok(parsed)
}

/// Java's `Integer.parseInt` failure as zkCli shows it (an unchecked exception's text).
fn parse_version(v: &str) -> Result<i32, CliError> {
    v.parse::<i32>().map_err(|_| {
        CliError::Malformed(format!(
            "java.lang.NumberFormatException: For input string: \"{v}\""
        ))
    })
}

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

/// `Integer.decode`: decimal, `0x`/`#` hex or leading-zero octal, optional sign.
fn parse_java_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(h) = body.strip_prefix('#') {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `PathUtils.validatePath`: the checks (and messages) the Java client applies before
/// sending a request. `sequential` allows a trailing `/` (the server appends the number).
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    let owned;
    let path = if sequential {
        owned = format!("{path}1");
        owned.as_str()
    } else {
        path
    };
    if path.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return Err("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err("Path must not end with / character".into());
    }
    let chars: Vec<u16> = path.encode_utf16().collect();
    let mut reason = None;
    let mut lastc = '/' as u16;
    let (slash, dot) = ('/' as u16, '.' as u16);
    for i in 1..chars.len() {
        let c = chars[i];
        let at_end = |j: usize| j + 1 == chars.len() || chars[j + 1] == slash;
        if c == 0 {
            reason = Some(format!("null character not allowed @{i}"));
        } else if c == slash && lastc == slash {
            reason = Some(format!("empty node name specified @{i}"));
        } else if c == dot && lastc == dot {
            if chars[i - 2] == slash && at_end(i) {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if c == dot {
            if chars[i - 1] == slash && at_end(i) {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if (c > 0 && c <= 0x1f)
            || (0x7f..=0x9f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || c >= 0xfff0
        {
            reason = Some(format!("invalid character @{i}"));
        }
        if reason.is_some() {
            break;
        }
        lastc = c;
    }
    match reason {
        Some(r) => Err(format!("Invalid path string \"{path}\" caused by {r}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn cmd(line: &str) -> Result<Command, CliError> {
        parse_command(&tokenize(line))
    }

    #[test]
    fn options_defaults_and_flags() {
        let o = parse_options(&[]).unwrap();
        assert_eq!(o.server, "127.0.0.1:2181");
        assert_eq!(o.timeout_ms, 30000);
        assert!(!o.readonly);
        assert_eq!(o.command, None);

        let o = parse_options(&s(&[
            "-server",
            "h:1,h:2/app",
            "-timeout",
            "5000",
            "-r",
            "ls",
            "-s",
            "/",
        ]))
        .unwrap();
        assert_eq!(o.server, "h:1,h:2/app");
        assert_eq!(o.timeout_ms, 5000);
        assert!(o.readonly);
        assert_eq!(o.command, Some(s(&["ls", "-s", "/"])));
    }

    #[test]
    fn options_errors_and_unknown_flags() {
        assert_eq!(
            parse_options(&s(&["-server"])).unwrap_err(),
            "Error: no argument found for option -server"
        );
        assert!(parse_options(&s(&["-timeout", "abc"])).is_err());
        let o = parse_options(&s(&[
            "-foo",
            "-waitforconnection",
            "-client-configuration",
            "x",
            "get",
            "/a",
        ]))
        .unwrap();
        assert!(o.wait_for_connection);
        assert_eq!(o.command, Some(s(&["get", "/a"])));
        assert!(parse_options(&s(&["--help"])).unwrap().help);
    }

    #[test]
    fn tokenizer_matches_zkcli() {
        assert_eq!(tokenize("  ls   -s /a  "), s(&["ls", "-s", "/a"]));
        assert_eq!(
            tokenize("set /a \"hello world\""),
            s(&["set", "/a", "hello world"])
        );
        assert_eq!(tokenize("set /a 'it is'"), s(&["set", "/a", "it is"]));
        assert_eq!(tokenize("set /a \"\""), s(&["set", "/a", ""]));
        assert_eq!(
            tokenize("set /a a\"b c\""),
            s(&["set", "/a", "a\"b", "c\""])
        );
        assert_eq!(tokenize("set /a \"unclosed"), s(&["set", "/a", "unclosed"]));
        assert_eq!(tokenize(""), Vec::<String>::new());
    }

    #[test]
    fn create_flags() {
        assert_eq!(
            cmd("create /a").unwrap(),
            Command::Create {
                path: "/a".into(),
                data: None,
                acl: None,
                ephemeral: false,
                sequential: false,
                container: false,
                ttl: None
            }
        );
        assert_eq!(
            cmd("create -s -e /a data world:anyone:r").unwrap(),
            Command::Create {
                path: "/a".into(),
                data: Some("data".into()),
                acl: Some("world:anyone:r".into()),
                ephemeral: true,
                sequential: true,
                container: false,
                ttl: None
            }
        );
        assert!(matches!(
            cmd("create -se /a").unwrap(),
            Command::Create {
                ephemeral: true,
                sequential: true,
                ..
            }
        ));
        assert!(matches!(
            cmd("create -c /a").unwrap(),
            Command::Create {
                container: true,
                ..
            }
        ));
        assert!(matches!(
            cmd("create -t 1000 /a").unwrap(),
            Command::Create {
                ttl: Some(1000),
                ..
            }
        ));
        assert!(matches!(
            cmd("create -t1000 -s /a").unwrap(),
            Command::Create {
                ttl: Some(1000),
                sequential: true,
                ..
            }
        ));
        assert!(matches!(
            cmd("create /a x -e").unwrap(),
            Command::Create {
                ephemeral: true,
                ..
            }
        ));
    }

    #[test]
    fn create_errors() {
        assert_eq!(
            cmd("create").unwrap_err(),
            CliError::Parse("create [-s] [-e] [-c] [-t ttl] path [data] [acl]".into())
        );
        assert_eq!(
            cmd("create -c -e /a").unwrap_err().to_string(),
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
        );
        assert_eq!(
            cmd("create -t x /a").unwrap_err().to_string(),
            "-t argument must be a long value"
        );
        assert_eq!(
            cmd("create -t 5 -e /a").unwrap_err().to_string(),
            "TTLs cannot be used with Ephemeral znodes"
        );
        assert_eq!(
            cmd("create -t 5 -c /a").unwrap_err().to_string(),
            "TTLs cannot be used with Container znodes"
        );
        assert_eq!(
            cmd("create -t 0 /a").unwrap_err().to_string(),
            "ttl must be positive and cannot be larger than: 1099511627775"
        );
        assert_eq!(
            cmd("create -x /a").unwrap_err().to_string(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x"
        );
        assert_eq!(
            cmd("create /a -t").unwrap_err().to_string(),
            "org.apache.commons.cli.MissingArgumentException: Missing argument for option: t"
        );
    }

    #[test]
    fn ls_get_stat_flags() {
        assert_eq!(
            cmd("ls -s -w -R /a").unwrap(),
            Command::Ls {
                path: "/a".into(),
                stat: true,
                watch: true,
                recursive: true
            }
        );
        assert_eq!(
            cmd("ls / -s").unwrap(),
            Command::Ls {
                path: "/".into(),
                stat: true,
                watch: false,
                recursive: false
            }
        );
        assert_eq!(
            cmd("ls /a true").unwrap(),
            Command::Ls {
                path: "/a".into(),
                stat: false,
                watch: true,
                recursive: false
            }
        );
        assert_eq!(
            cmd("ls").unwrap_err(),
            CliError::Malformed("ls [-s] [-w] [-R] path".into())
        );
        assert_eq!(
            cmd("get -s -w /a").unwrap(),
            Command::Get {
                path: "/a".into(),
                stat: true,
                watch: true
            }
        );
        assert_eq!(
            cmd("get /a").unwrap(),
            Command::Get {
                path: "/a".into(),
                stat: false,
                watch: false
            }
        );
        assert_eq!(
            cmd("get").unwrap_err(),
            CliError::Parse("get [-s] [-w] path".into())
        );
        assert_eq!(
            cmd("stat -w /a").unwrap(),
            Command::Stat {
                path: "/a".into(),
                watch: true
            }
        );
        assert_eq!(
            cmd("stat /a").unwrap(),
            Command::Stat {
                path: "/a".into(),
                watch: false
            }
        );
        assert_eq!(
            cmd("stat").unwrap_err(),
            CliError::Parse("stat [-w] path".into())
        );
    }

    #[test]
    fn set_delete_flags() {
        assert_eq!(
            cmd("set -s -v 3 /a data").unwrap(),
            Command::Set {
                path: "/a".into(),
                data: "data".into(),
                version: Some(3),
                stat: true
            }
        );
        assert_eq!(
            cmd("set /a \"two words\"").unwrap(),
            Command::Set {
                path: "/a".into(),
                data: "two words".into(),
                version: None,
                stat: false
            }
        );
        assert_eq!(
            cmd("set /a").unwrap_err(),
            CliError::Parse("set [-s] [-v version] path data".into())
        );
        assert_eq!(
            cmd("set /a -1").unwrap_err().to_string(),
            "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -1"
        );
        assert_eq!(
            cmd("set -v x /a d").unwrap_err().to_string(),
            "java.lang.NumberFormatException: For input string: \"x\""
        );
        assert_eq!(
            cmd("delete -v 2 /a").unwrap(),
            Command::Delete {
                path: "/a".into(),
                version: Some(2)
            }
        );
        assert_eq!(
            cmd("delete /a").unwrap(),
            Command::Delete {
                path: "/a".into(),
                version: None
            }
        );
        assert_eq!(
            cmd("delete").unwrap_err(),
            CliError::Parse("delete [-v version] path".into())
        );
        assert_eq!(
            cmd("deleteall /a").unwrap(),
            Command::DeleteAll {
                path: "/a".into(),
                batch: 1000
            }
        );
        assert_eq!(
            cmd("deleteall /a -b 10").unwrap(),
            Command::DeleteAll {
                path: "/a".into(),
                batch: 10
            }
        );
        assert_eq!(
            cmd("deleteall /a -b x").unwrap_err().to_string(),
            "-b argument must be an int value"
        );
        assert_eq!(
            cmd("deleteall").unwrap_err(),
            CliError::Parse("deleteall path [-b batch size]".into())
        );
    }

    #[test]
    fn acl_commands() {
        assert_eq!(
            cmd("getAcl -s /a").unwrap(),
            Command::GetAcl {
                path: "/a".into(),
                stat: true
            }
        );
        assert_eq!(
            cmd("getAcl").unwrap_err(),
            CliError::Parse("getAcl [-s] path".into())
        );
        assert_eq!(
            cmd("setAcl -s -v 1 -R /a world:anyone:r").unwrap(),
            Command::SetAcl {
                path: "/a".into(),
                acl: "world:anyone:r".into(),
                version: Some(1),
                stat: true,
                recursive: true
            }
        );
        assert_eq!(
            cmd("setAcl /a").unwrap_err(),
            CliError::Parse("setAcl [-s] [-v version] [-R] path acl".into())
        );
        assert_eq!(
            cmd("addauth digest u:p").unwrap(),
            Command::AddAuth {
                scheme: "digest".into(),
                auth: Some("u:p".into())
            }
        );
        assert_eq!(
            cmd("addauth foo").unwrap(),
            Command::AddAuth {
                scheme: "foo".into(),
                auth: None
            }
        );
        assert_eq!(
            cmd("addauth").unwrap_err(),
            CliError::Parse("addauth scheme auth".into())
        );
    }

    #[test]
    fn misc_commands() {
        assert_eq!(cmd("sync /a").unwrap(), Command::Sync { path: "/a".into() });
        assert_eq!(
            cmd("sync").unwrap_err(),
            CliError::Parse("sync path".into())
        );
        assert_eq!(
            cmd("getEphemerals").unwrap(),
            Command::GetEphemerals { path: None }
        );
        assert_eq!(
            cmd("getEphemerals /a").unwrap(),
            Command::GetEphemerals {
                path: Some("/a".into())
            }
        );
        assert_eq!(
            cmd("getAllChildrenNumber /a").unwrap(),
            Command::GetAllChildrenNumber { path: "/a".into() }
        );
        assert_eq!(
            cmd("getAllChildrenNumber").unwrap_err(),
            CliError::Malformed("getAllChildrenNumber path".into())
        );
        assert_eq!(cmd("whoami").unwrap(), Command::WhoAmI);
        assert_eq!(cmd("version").unwrap(), Command::Version);
        assert_eq!(
            cmd("connect h:1").unwrap(),
            Command::Connect {
                host: Some("h:1".into())
            }
        );
        assert_eq!(cmd("connect").unwrap(), Command::Connect { host: None });
        assert_eq!(cmd("close").unwrap(), Command::Close);
        assert_eq!(cmd("quit").unwrap(), Command::Quit);
        assert_eq!(cmd("help").unwrap(), Command::Help);
        assert_eq!(cmd("history").unwrap(), Command::History);
        assert_eq!(cmd("redo 3").unwrap(), Command::Redo { index: 3 });
        assert_eq!(cmd("redo 0x10").unwrap(), Command::Redo { index: 16 });
        assert_eq!(
            cmd("printwatches").unwrap(),
            Command::PrintWatches { on: None }
        );
        assert_eq!(
            cmd("printwatches on").unwrap(),
            Command::PrintWatches { on: Some(true) }
        );
        assert_eq!(
            cmd("printwatches off").unwrap(),
            Command::PrintWatches { on: Some(false) }
        );
        let e = cmd("foo /a").unwrap_err();
        assert_eq!(e.to_string(), "Command not found: Command not found foo");
        assert_eq!(e.exit_code(), 127);
        assert_eq!(
            parse_command(&[]).unwrap_err(),
            CliError::Malformed("No command entered".into())
        );
    }

    #[test]
    fn watch_commands() {
        assert_eq!(
            cmd("addWatch /a").unwrap(),
            Command::AddWatch {
                path: "/a".into(),
                mode: AddWatchMode::PersistentRecursive
            }
        );
        assert_eq!(
            cmd("addWatch -m persistent /a").unwrap(),
            Command::AddWatch {
                path: "/a".into(),
                mode: AddWatchMode::Persistent
            }
        );
        assert_eq!(
            cmd("addWatch -m PERSISTENT_RECURSIVE /a").unwrap(),
            Command::AddWatch {
                path: "/a".into(),
                mode: AddWatchMode::PersistentRecursive
            }
        );
        assert_eq!(
            cmd("addWatch -m persistentRecursive /a").unwrap(),
            Command::AddWatch {
                path: "/a".into(),
                mode: AddWatchMode::PersistentRecursive
            }
        );
        assert!(matches!(
            cmd("addWatch -m bogus /a"),
            Err(CliError::Parse(_))
        ));
        assert!(matches!(cmd("addWatch /a /b"), Err(CliError::Parse(_))));
        assert_eq!(
            cmd("removewatches /a").unwrap(),
            Command::RemoveWatches {
                path: "/a".into(),
                kind: WatcherType::Any,
                local: false
            }
        );
        assert_eq!(
            cmd("removewatches /a -c -l").unwrap(),
            Command::RemoveWatches {
                path: "/a".into(),
                kind: WatcherType::Children,
                local: true
            }
        );
        assert_eq!(
            cmd("removewatches -d /a").unwrap(),
            Command::RemoveWatches {
                path: "/a".into(),
                kind: WatcherType::Data,
                local: false
            }
        );
        assert_eq!(
            cmd("removewatches").unwrap_err(),
            CliError::Parse("removewatches path [-c|-d|-a] [-l]".into())
        );
    }

    #[test]
    fn option_parser_details() {
        let p = parse_flags(&s(&["x", "--", "-s", "-"]), &[('s', false)]).unwrap();
        assert!(!p.has('s'));
        assert_eq!(p.args, s(&["x", "-s", "-"]));
        let p = parse_flags(&s(&["x", "-v=7", "a"]), &[('v', true)]).unwrap();
        assert_eq!(p.value('v'), Some("7"));
        let p = parse_flags(&s(&["x", "-sv", "9"]), &[('s', false), ('v', true)]).unwrap();
        assert!(p.has('s'));
        assert_eq!(p.value('v'), Some("9"));
        assert!(parse_flags(&s(&["x", "-v", "-s"]), &[('s', false), ('v', true)]).is_err());
        assert!(parse_flags(&s(&["x", "--long"]), &[]).is_err());
    }

    #[test]
    fn path_validation() {
        assert!(validate_path("/", false).is_ok());
        assert!(validate_path("/a/b", false).is_ok());
        assert!(validate_path("/a/", true).is_ok());
        assert_eq!(
            validate_path("", false).unwrap_err(),
            "Path length must be > 0"
        );
        assert_eq!(
            validate_path("a", false).unwrap_err(),
            "Path must start with / character"
        );
        assert_eq!(
            validate_path("/a/", false).unwrap_err(),
            "Path must not end with / character"
        );
        assert_eq!(
            validate_path("/a//b", false).unwrap_err(),
            "Invalid path string \"/a//b\" caused by empty node name specified @3"
        );
        assert_eq!(
            validate_path("/a/./b", false).unwrap_err(),
            "Invalid path string \"/a/./b\" caused by relative paths not allowed @3"
        );
        assert_eq!(
            validate_path("/a/..", false).unwrap_err(),
            "Invalid path string \"/a/..\" caused by relative paths not allowed @4"
        );
        assert!(validate_path("/a/..b", false).is_ok());
        assert!(validate_path("/a.b", false).is_ok());
        assert_eq!(
            validate_path("/a\u{1}", false).unwrap_err(),
            "Invalid path string \"/a\u{1}\" caused by invalid character @2"
        );
    }

    #[test]
    fn java_int_decode() {
        assert_eq!(parse_java_int("10"), Some(10));
        assert_eq!(parse_java_int("-3"), Some(-3));
        assert_eq!(parse_java_int("0x1f"), Some(31));
        assert_eq!(parse_java_int("010"), Some(8));
        assert_eq!(parse_java_int("x"), None);
    }

    #[test]
    fn usage_lists_commands() {
        let u = usage_text();
        assert!(u.starts_with("ZooKeeper -server host:port"));
        assert!(u.contains("\tls [-s] [-w] [-R] path\n"));
        assert!(u.contains("\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"));
        assert_eq!(usage_of("sync"), "sync path");
    }
}
