//! `keeper cli`: a zkCli.sh-compatible command line client.
//!
//! ```text
//! keeper cli [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [cmd args...]
//! ```
//!
//! With a command it runs it once, prints the result and exits (0 on success, 1 on a
//! failed command, 127 for an unknown command). Without one it is interactive
//! (rustyline line editing, history in `~/.keeper_cli_history`, zkCli's prompt
//! `[zk: host:port(CONNECTED) N] `, watch events printed as they arrive).
//!
//! Layout: [`parse`] (flags, tokenizing, commands) and [`format`] (stat, dates, ACLs,
//! events, errors) are pure; [`shell`] is the thin layer over `zookeeper-client`.
//!
//! Files:
//! - `mod.rs`      [`main`], [`Session`]: one-shot and interactive modes, history, `redo`
//! - `parse/`      flags, tokenizing, commands (one file per concern, mapped in its doc)
//! - `format.rs`   stat, dates, ACLs, child lists, events, error messages
//! - `shell/`      the client layer (one file per concern, mapped in its doc)
//! - `complete.rs` tab completion of command names and znode paths

pub mod complete;
pub mod format;
pub mod parse;
pub mod shell;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parse::{parse_command, parse_options, tokenize, usage_text, CliError, CliOptions, Command};
use shell::{EventSink, Flow, Output, Shell};

/// Entry point of `keeper cli`; `args` are the arguments after `cli`.
/// Returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let opts = match parse_options(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return 2;
        }
    };
    if opts.help {
        print!("{}", usage_text());
        return 0;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start runtime: {e}");
            return 1;
        }
    };
    let code = match opts.command.clone() {
        Some(cmd) => runtime.block_on(one_shot(&opts, cmd)),
        None => interactive(&opts, &runtime),
    };
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

fn new_shell(opts: &CliOptions, interactive: bool) -> Shell {
    Shell::new(
        &opts.server,
        Duration::from_millis(opts.timeout_ms.max(1)),
        opts.readonly,
        Arc::new(EventSink::new(interactive)),
    )
}

/// Runs a single command line (`keeper cli -server h:p ls /`).
async fn one_shot(opts: &CliOptions, args: Vec<String>) -> i32 {
    let mut session = Session::new(new_shell(opts, false));
    let code = session.execute_args(args).await;
    session.shell.disconnect().await;
    code
}

/// The interactive shell state shared by both modes: the command history and the
/// last command's exit code (zkCli exits with it on `quit` / end of input).
pub struct Session {
    pub shell: Shell,
    history: BTreeMap<i64, String>,
    count: i64,
    exit_code: i32,
    quit: bool,
    /// Keep command output instead of printing it (unit tests).
    quiet: bool,
    last_output: Output,
}

impl Session {
    pub fn new(shell: Shell) -> Self {
        Session {
            shell,
            history: BTreeMap::new(),
            count: 0,
            exit_code: 0,
            quit: false,
            quiet: false,
            last_output: Output::default(),
        }
    }

    /// zkCli's prompt: `[zk: host(STATE) N] `.
    pub fn prompt(&self) -> String {
        format!(
            "[zk: {}({}) {}] ",
            self.shell.host(),
            self.shell.state_name(),
            self.count
        )
    }

    /// Executes an interactive line; blank lines are ignored.
    pub async fn execute_line(&mut self, line: &str) -> i32 {
        let args = tokenize(line);
        if args.is_empty() {
            return self.exit_code;
        }
        self.history.insert(self.count, line.to_string());
        let code = self.execute_args(args).await;
        self.count += 1;
        code
    }

    /// `history`: the last ten commands and this one.
    fn history_text(&self) -> String {
        let mut s = String::new();
        for i in (self.count - 10).max(0)..=self.count {
            if let Some(line) = self.history.get(&i) {
                s.push_str(&format!("{i} - {line}\n"));
            }
        }
        s
    }

    async fn execute_args(&mut self, args: Vec<String>) -> i32 {
        let mut out = Output::default();
        let result = self.dispatch(args, &mut out, 0).await;
        self.exit_code = match result {
            Ok(Flow::Continue) => 0,
            Ok(Flow::Quit) => {
                self.quit = true;
                self.exit_code
            }
            Err(e) => {
                if let CliError::NotFound(_) = e {
                    out.err(usage_text());
                }
                out.errln(e.to_string());
                e.exit_code()
            }
        };
        if self.quiet {
            self.last_output = out;
        } else {
            out.emit();
        }
        self.exit_code
    }

    async fn dispatch(
        &mut self,
        args: Vec<String>,
        out: &mut Output,
        depth: u8,
    ) -> Result<Flow, CliError> {
        let cmd = parse_command(&args)?;
        match cmd {
            Command::History => {
                out.out(self.history_text());
                Ok(Flow::Continue)
            }
            Command::Redo { index } => {
                if depth > 0 || index < 0 || index >= self.count {
                    return Err(CliError::Malformed("Command index out of range".into()));
                }
                let line = self.history.get(&index).cloned().unwrap_or_default();
                let args = tokenize(&line);
                if args.first().map(String::as_str) == Some("redo") {
                    return Err(CliError::Malformed("No redoing redos".into()));
                }
                self.history.insert(self.count, line);
                Box::pin(self.dispatch(args, out, depth + 1)).await
            }
            cmd => self.shell.run(cmd, out).await,
        }
    }
}

fn history_file() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| std::path::PathBuf::from(h).join(".keeper_cli_history"))
}

/// The interactive loop: rustyline on this thread, the client on the runtime.
fn interactive(opts: &CliOptions, runtime: &tokio::runtime::Runtime) -> i32 {
    use rustyline::error::ReadlineError;
    use rustyline::history::FileHistory;
    use rustyline::{CompletionType, Config, Editor};

    println!("Connecting to {}", opts.server);
    let mut session = Session::new(new_shell(opts, true));
    let config = Config::builder()
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<complete::ShellHelper, FileHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot start line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(complete::ShellHelper::new(
        session.shell.shared_client(),
        runtime.handle().clone(),
    )));
    // Watch events are printed straight to stdout (as zkCli does) rather than through
    // rustyline's external printer: with rustyline 14 that printer stalls pasted input.
    // History is kept for terminal sessions only (not for piped scripts).
    let history = history_file().filter(|_| {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    });
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!("Welcome to ZooKeeper!");
    println!("JLine support is enabled");
    {
        let shell = &mut session.shell;
        if let Err(e) = runtime.block_on(shell.connect()) {
            eprintln!(
                "Unable to connect to {}: {}",
                shell.host(),
                format::keeper_error_message(
                    match e {
                        zookeeper_client::Error::AuthFailed => &e,
                        _ => &zookeeper_client::Error::ConnectionLoss,
                    },
                    ""
                )
            );
        }
    }
    loop {
        let prompt = session.prompt();
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(h) = &history {
                        let _ = editor.append_history(h);
                    }
                }
                runtime.block_on(session.execute_line(&line));
                if session.quit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if !session.quit {
        session.shell.events().silence();
        runtime.block_on(session.shell.disconnect());
    }
    session.exit_code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline_session() -> Session {
        let opts = CliOptions {
            server: "127.0.0.1:1".into(),
            ..CliOptions::default()
        };
        let mut s = Session::new(new_shell(&opts, false));
        s.quiet = true;
        s
    }

    #[test]
    fn prompt_and_history() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut s = offline_session();
        assert_eq!(s.prompt(), "[zk: 127.0.0.1:1(CONNECTING) 0] ");
        rt.block_on(async {
            assert_eq!(s.execute_line("   ").await, 0);
            assert_eq!(s.count, 0);
            assert_eq!(s.execute_line("printwatches off").await, 0);
            assert_eq!(s.execute_line("bogus").await, 127);
            assert!(s.last_output.text(shell::Stream::Err).ends_with(
                "\tsync path\n\tversion \n\twhoami \nCommand not found: Command not found bogus\n"
            ));
            assert_eq!(s.execute_line("ls").await, 1);
            assert_eq!(
                s.last_output.text(shell::Stream::Err),
                "ls [-s] [-w] [-R] path\n"
            );
            assert_eq!(s.execute_line("redo 9").await, 1);
            assert_eq!(s.execute_line("redo 0").await, 0);
        });
        assert!(!s.shell.events().print_watches());
        assert_eq!(s.count, 5);
        assert_eq!(
            s.history_text(),
            "0 - printwatches off\n1 - bogus\n2 - ls\n3 - redo 9\n4 - printwatches off\n"
        );
        assert_eq!(s.prompt(), "[zk: 127.0.0.1:1(CONNECTING) 5] ");
    }

    #[test]
    fn offline_commands_fail_with_connection_loss() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut s = offline_session();
        let mut out = Output::default();
        let r = rt.block_on(s.dispatch(tokenize("ls /"), &mut out, 0));
        assert_eq!(
            r.unwrap_err(),
            CliError::Keeper("KeeperErrorCode = ConnectionLoss for /".into())
        );
        // `close` then any command: zkCli's "Not connected".
        let mut out = Output::default();
        rt.block_on(s.dispatch(tokenize("close"), &mut out, 0))
            .unwrap();
        rt.block_on(s.dispatch(tokenize("get /a"), &mut out, 0))
            .unwrap();
        assert_eq!(out.text(shell::Stream::Out), "Not connected\n");
        assert_eq!(s.prompt(), "[zk: 127.0.0.1:1(CLOSED) 0] ");
    }
}
