//! Tab completion for the interactive shell, like zkCli's `JLineZNodeCompleter`:
//! command names for the first word, znode children for words starting with `/`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use zookeeper_client::Client;

use super::parse::USAGE;

/// The word ending at `pos` and where it starts.
fn current_word(line: &str, pos: usize) -> (usize, &str) {
    let head = &line[..pos];
    let start = head
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    (start, &head[start..])
}

/// Pure completion: returns the replacement start and candidates. `children` lists a
/// znode's children (empty on error).
pub fn complete(
    line: &str,
    pos: usize,
    children: impl Fn(&str) -> Vec<String>,
) -> (usize, Vec<String>) {
    let (start, word) = current_word(line, pos);
    if word.starts_with('/') {
        let slash = word.rfind('/').unwrap_or(0);
        let dir = if slash == 0 { "/" } else { &word[..slash] };
        let prefix = &word[slash + 1..];
        let mut names: Vec<String> = children(dir)
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect();
        names.sort();
        return (start + slash + 1, names);
    }
    if line[..start].trim().is_empty() {
        let mut cmds: Vec<String> = USAGE
            .iter()
            .map(|(c, _)| c.to_string())
            .filter(|c| c.starts_with(word))
            .collect();
        cmds.sort();
        return (start, cmds);
    }
    (pos, Vec::new())
}

/// rustyline helper doing completion against the shell's current session.
pub struct ShellHelper {
    client: Arc<Mutex<Option<Client>>>,
    runtime: tokio::runtime::Handle,
}

impl ShellHelper {
    pub fn new(client: Arc<Mutex<Option<Client>>>, runtime: tokio::runtime::Handle) -> Self {
        ShellHelper { client, runtime }
    }

    fn children(&self, dir: &str) -> Vec<String> {
        let Some(client) = self.client.lock().unwrap().clone() else {
            return Vec::new();
        };
        let dir = dir.to_string();
        let r = self.runtime.block_on(async move {
            tokio::time::timeout(Duration::from_secs(2), client.list_children(&dir)).await
        });
        match r {
            Ok(Ok(c)) => c,
            _ => Vec::new(),
        }
    }
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(complete(line, pos, |dir| self.children(dir)))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dir: &str) -> Vec<String> {
        match dir {
            "/" => vec!["zookeeper".into(), "app".into(), "apple".into()],
            "/app" => vec!["config".into(), "cache".into()],
            _ => vec![],
        }
    }

    #[test]
    fn completes_commands() {
        assert_eq!(
            complete("ge", 2, tree),
            (
                0,
                vec![
                    "get".into(),
                    "getAcl".into(),
                    "getAllChildrenNumber".into(),
                    "getEphemerals".into()
                ]
            )
        );
        assert_eq!(
            complete("  del", 5, tree),
            (2, vec!["delete".into(), "deleteall".into()])
        );
        assert_eq!(complete("get x", 5, tree), (5, vec![]));
    }

    #[test]
    fn completes_paths() {
        assert_eq!(
            complete("ls /ap", 6, tree),
            (4, vec!["app".into(), "apple".into()])
        );
        assert_eq!(
            complete("ls /app/c", 9, tree),
            (8, vec!["cache".into(), "config".into()])
        );
        assert_eq!(
            complete("ls /app/", 8, tree),
            (8, vec!["cache".into(), "config".into()])
        );
        assert_eq!(
            complete("get -s /z", 9, tree),
            (8, vec!["zookeeper".into()])
        );
        assert_eq!(complete("ls /nope/x", 10, tree), (9, vec![]));
    }
}
