//! Program level flags of `keeper cli` (`-server`, `-timeout`, `-r`, ...).

/// Default connect string when `-server` is not given.
pub const DEFAULT_SERVER: &str = "127.0.0.1:2181";
/// Default session timeout in milliseconds (zkCli's default).
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

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
    while let Some(arg) = it.next() {
        // Every other keeper subcommand takes `--flag`: accept `--server` as `-server`, and
        // `--server=HOST` as `--server HOST`.
        let (opt, inline) = match arg.strip_prefix("--") {
            Some(long) if !long.is_empty() && long != "help" => match long.split_once('=') {
                Some((name, v)) => (format!("-{name}"), Some(v.to_string())),
                None => (format!("-{long}"), None),
            },
            _ => (arg.clone(), None),
        };
        let opt = &opt;
        let mut value = |name: &str| match inline.clone() {
            Some(v) => Ok(v),
            None => it
                .next()
                .cloned()
                .ok_or_else(|| format!("Error: no argument found for option {name}")),
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
                let mut cmd = vec![arg.clone()];
                cmd.extend(it.by_ref().cloned());
                opts.command = Some(cmd);
                break;
            }
            _ => {}
        }
    }
    Ok(opts)
}
