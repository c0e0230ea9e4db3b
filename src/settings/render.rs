//! `keeper config`: every key with its effective value and the layer it came from.

use super::keys::{section_of, Typed, SPECS};
use super::layers::Loaded;
use super::{DEFAULT_LAYER, SECTIONS};

/// Every key with its effective value and layer, TOML-looking, for
/// `keeper config`.
pub fn render_effective(loaded: &Loaded) -> String {
    let s = &loaded.settings;
    let origin = |k: &str| {
        loaded
            .origins
            .get(k)
            .map(String::as_str)
            .unwrap_or(DEFAULT_LAYER)
            .to_string()
    };
    let mut out = String::from(
        "# Effective keeper configuration: `key = value   # layer it came from`\n\
         # (layers, lowest first: default < config/default.toml < --config file < KEEPER_* env < --set)\n",
    );
    for section in SECTIONS {
        let mut rows: Vec<(String, String)> = Vec::new();
        for spec in SPECS.iter().filter(|sp| section_of(sp.key) == *section) {
            let value = (spec.get)(s);
            let field = &spec.key[section.len() + 1..];
            let mut note = origin(spec.key);
            match spec.key {
                "server.min_session_timeout" if s.server.min_session_timeout == 0 => {
                    note.push_str(&format!(" (effective {})", s.min_session_timeout_ms()))
                }
                "server.max_session_timeout" if s.server.max_session_timeout == 0 => {
                    note.push_str(&format!(" (effective {})", s.max_session_timeout_ms()))
                }
                "storage.data_log_dir" if s.storage.data_log_dir.is_empty() => {
                    note.push_str(&format!(" (effective {:?})", s.data_log_dir()))
                }
                // `auto` depends on the machine: say what it comes to on this one.
                "client.io_threads" if s.client.io_threads.parse::<usize>().is_err() => note
                    .push_str(&format!(
                        " (effective {} on this machine)",
                        s.client_io_threads()
                    )),
                "quorum.io_threads" if s.quorum.io_threads.parse::<usize>().is_err() => note
                    .push_str(&format!(
                        " (effective {} on this machine)",
                        s.quorum_io_threads()
                    )),
                _ => {}
            }
            rows.push((format!("{field} = {}", value.render()), note));
        }
        out.push_str(&format!("\n[{section}]\n"));
        push_rows(&mut out, &rows);
        if *section == "quorum" {
            out.push_str("\n[quorum.members]\n");
            if s.quorum.members.is_empty() {
                out.push_str("# (none: standalone)\n");
            }
            let rows: Vec<(String, String)> = s
                .quorum
                .members
                .iter()
                .map(|(id, m)| {
                    (
                        format!("{id} = {}", Typed::Str(m.clone()).render()),
                        origin(&format!("quorum.members.{id}")),
                    )
                })
                .collect();
            push_rows(&mut out, &rows);
        }
    }
    out
}

fn push_rows(out: &mut String, rows: &[(String, String)]) {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).min(60);
    for (line, note) in rows {
        out.push_str(&format!("{line:<width$}   # {note}\n"));
    }
}
