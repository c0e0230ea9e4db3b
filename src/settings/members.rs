//! Ensemble members: [`Member`], parsed from a `quorum.members` entry
//! (`host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`), and this
//! server's own entry applied to its client port, client address and peer type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::keys::{check_peer_type, MEMBER_EXPECT};
use super::{Settings, SettingsError, DEFAULT_LAYER, DEFAULT_TOML_LAYER};

/// One ensemble member, parsed from a `quorum.members` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    /// Host name or IP address, without IPv6 brackets.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    /// `(clientHost, clientPort)` from the `;[clientHost:]clientPort` part;
    /// the host is `0.0.0.0` when only a port is given.
    pub client: Option<(String, u16)>,
}

impl Member {
    /// `host:quorum_port` (IPv6 hosts in brackets).
    pub fn quorum_addr(&self) -> String {
        join_host_port(&self.host, self.quorum_port)
    }

    /// `host:election_port` (IPv6 hosts in brackets).
    pub fn election_addr(&self) -> String {
        join_host_port(&self.host, self.election_port)
    }

    /// Where this member listens for `port` (its quorum or election port): the entry's address,
    /// or every address of the host with `quorum.listen_on_all_ips` (the wildcard of the
    /// entry's family).
    pub fn listen_addr(&self, port: u16, all_ips: bool) -> String {
        match (all_ips, self.host.contains(':')) {
            (false, _) => join_host_port(&self.host, port),
            (true, false) => format!("0.0.0.0:{port}"),
            (true, true) => format!("[::]:{port}"),
        }
    }

    /// `clientHost:clientPort`, when the entry has a client part.
    pub fn client_addr(&self) -> Option<String> {
        self.client.as_ref().map(|(h, p)| join_host_port(h, *p))
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits `host:rest` where host may be a bracketed IPv6 address.
fn split_host(s: &str) -> Option<(&str, &str)> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        Some((host, rest.strip_prefix(':')?))
    } else {
        s.split_once(':')
    }
}

fn parse_port(s: &str, what: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("{what} `{}` is not an integer 1..=65535", s.trim())),
    }
}

/// Parses `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.
pub(super) fn parse_member(id: u64, raw: &str) -> Result<Member, String> {
    parse_member_inner(id, raw.trim()).map_err(|why| format!("expected {MEMBER_EXPECT} ({why})"))
}

fn parse_member_inner(id: u64, s: &str) -> Result<Member, String> {
    let (addr, client) = match s.split_once(';') {
        Some((a, c)) => (a.trim(), Some(c.trim())),
        None => (s, None),
    };
    if addr.contains('|') {
        return Err("multiple addresses separated by `|` are not supported".to_string());
    }
    let (host, rest) = split_host(addr).ok_or("missing `:quorumPort:electionPort`")?;
    if host.trim().is_empty() {
        return Err("empty host".to_string());
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let (quorum_port, election_port, observer) = match parts.as_slice() {
        [q, e] => (q, e, false),
        [q, e, t] => match t.trim() {
            "participant" => (q, e, false),
            "observer" => (q, e, true),
            other => return Err(format!("unknown server type `{other}`")),
        },
        [_] => return Err("missing election port".to_string()),
        _ => return Err("too many `:`-separated fields".to_string()),
    };
    let quorum_port = parse_port(quorum_port, "quorum port")?;
    let election_port = parse_port(election_port, "election port")?;
    let client = match client {
        None => None,
        Some("") => return Err("empty client part after `;`".to_string()),
        Some(c) => {
            // `port`, `host:port` or `[v6]:port`.
            let (chost, cport) = if c.contains(':') {
                let (h, p) = if c.starts_with('[') {
                    split_host(c).ok_or("malformed client address")?
                } else {
                    c.rsplit_once(':').ok_or("malformed client address")?
                };
                if h.trim().is_empty() {
                    return Err("empty client host".to_string());
                }
                (h.trim().to_string(), p)
            } else {
                ("0.0.0.0".to_string(), c)
            };
            Some((chost, parse_port(cport, "client port")?))
        }
    };
    Ok(Member {
        id,
        host: host.trim().to_string(),
        quorum_port,
        election_port,
        observer,
        client,
    })
}

fn is_default_layer(origin: Option<&String>) -> bool {
    origin.is_none_or(|o| o == DEFAULT_LAYER || o == DEFAULT_TOML_LAYER)
}

fn is_wildcard(addr: &str) -> bool {
    matches!(addr, "0.0.0.0" | "::" | "[::]")
}

/// Applies this server's `quorum.members` entry, as ZooKeeper does: its
/// `;[clientHost:]clientPort` part gives the client port (and address) unless
/// they are set explicitly (a different explicit port is an error), and its
/// type wins over `quorum.peer_type` (with a warning).
pub(super) fn apply_member_entry(
    settings: &mut Settings,
    origins: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), SettingsError> {
    let id = settings.server.id;
    let Some(raw) = settings.quorum.members.get(&id) else {
        return Ok(());
    };
    // A bad entry is reported by validate().
    let Ok(member) = parse_member(id, raw) else {
        return Ok(());
    };
    let member_key = format!("quorum.members.{id}");
    let member_layer = origins
        .get(&member_key)
        .cloned()
        .unwrap_or_else(|| DEFAULT_LAYER.to_string());
    let derived = format!("{member_layer} ({member_key})");

    if let Some((host, port)) = &member.client {
        if is_default_layer(origins.get("client.port")) {
            settings.client.port = *port;
            origins.insert("client.port".to_string(), derived.clone());
        } else if settings.client.port != *port {
            return Err(SettingsError::InvalidValue {
                key: "client.port".to_string(),
                value: settings.client.port.to_string(),
                layer: origins["client.port"].clone(),
                reason: format!(
                    "this server's entry {member_key} (from {member_layer}) has client port {port}"
                ),
            });
        }
        if !is_wildcard(host) && *host != settings.client.address {
            if is_default_layer(origins.get("client.address"))
                || is_wildcard(&settings.client.address)
            {
                settings.client.address = host.clone();
                origins.insert("client.address".to_string(), derived.clone());
            } else {
                return Err(SettingsError::InvalidValue {
                    key: "client.address".to_string(),
                    value: settings.client.address.clone(),
                    layer: origins["client.address"].clone(),
                    reason: format!(
                        "this server's entry {member_key} (from {member_layer}) has client address {host}"
                    ),
                });
            }
        }
    }

    let member_type = if member.observer {
        "observer"
    } else {
        "participant"
    };
    if check_peer_type(&settings.quorum.peer_type) && settings.quorum.peer_type != member_type {
        let peer_type_layer = origins
            .get("quorum.peer_type")
            .map(String::as_str)
            .unwrap_or(DEFAULT_LAYER);
        // Only a peer_type someone set can disagree; the default just follows the entry.
        let set_by_user = peer_type_layer != DEFAULT_LAYER && peer_type_layer != DEFAULT_TOML_LAYER;
        if set_by_user {
            warnings.push(format!(
            "quorum.peer_type `{}` (from {}) does not match the type `{member_type}` of this server's entry \
             {member_key} (from {member_layer}); using `{member_type}`",
            settings.quorum.peer_type, peer_type_layer,
        ));
        }
        settings.quorum.peer_type = member_type.to_string();
        origins.insert("quorum.peer_type".to_string(), derived);
    }
    Ok(())
}
