//! `keeper log-dump` and `keeper snapshot-dump`: the records of a log segment and the tree of a
//! snapshot as text, like ZooKeeper's LogFormatter and SnapshotFormatter.

use super::{snapshot, txn_log};
use crate::datatree::{Txn, TxnOp};
use crate::fourlw::java_date;
use std::fmt::Write;
use std::path::Path;

fn describe(op: &TxnOp) -> String {
    match op {
        TxnOp::CreateSession { timeout } => format!("createSession {timeout}"),
        TxnOp::CloseSession => "closeSession".into(),
        TxnOp::Create {
            path,
            data,
            acl,
            ephemeral_owner,
            parent_cversion,
            ..
        } => {
            let acl: Vec<String> = acl
                .iter()
                .map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms))
                .collect();
            format!(
                "create '{path},#{},v{{{}}},owner 0x{ephemeral_owner:x},parentCVersion {parent_cversion}",
                hex(data.as_deref()),
                acl.join(",")
            )
        }
        TxnOp::Delete { path } => format!("delete '{path}"),
        TxnOp::SetData {
            path,
            data,
            version,
        } => format!("setData '{path},#{},{version}", hex(data.as_deref())),
        TxnOp::SetAcl { path, version, .. } => format!("setACL '{path},{version}"),
        TxnOp::Check { path, version } => format!("check '{path},{version}"),
        TxnOp::Error { err } => format!("error {err}"),
        TxnOp::Multi(ops) => {
            let parts: Vec<String> = ops.iter().map(describe).collect();
            format!("multi [{}]", parts.join("; "))
        }
    }
}

fn hex(d: Option<&[u8]>) -> String {
    d.map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_default()
}

pub fn format_txn(t: &Txn) -> String {
    format!(
        "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {}",
        java_date(t.time),
        t.session,
        t.cxid,
        t.zxid,
        describe(&t.op)
    )
}

pub fn log_dump(path: &Path) -> Result<String, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Keeper transaction log {} (format {})",
        path.display(),
        txn_log::FORMAT_VERSION
    );
    let mut count = 0;
    let end = txn_log::scan_segment(path, true, |t| {
        count += 1;
        let _ = writeln!(out, "{}", format_txn(&t));
    })
    .map_err(|e| e.to_string())?;
    if let Some(at) = end.torn_at {
        let _ = writeln!(out, "torn record at offset {at} (ignored)");
    }
    let _ = writeln!(out, "EOF reached after {count} txns.");
    Ok(out)
}

pub fn snapshot_dump(path: &Path) -> Result<String, String> {
    let s = snapshot::load(path)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Keeper snapshot {} at zxid 0x{:x}",
        path.display(),
        s.zxid
    );
    let _ = writeln!(out, "ZNode Details (count={}):", s.nodes.len());
    let mut eph: std::collections::BTreeMap<i64, usize> = Default::default();
    for n in &s.nodes {
        let st = &n.stat;
        let _ = writeln!(out, "----\n{}", n.path);
        let _ = writeln!(out, "  cZxid = 0x{:x}", st.czxid);
        let _ = writeln!(out, "  ctime = {}", java_date(st.ctime));
        let _ = writeln!(out, "  mZxid = 0x{:x}", st.mzxid);
        let _ = writeln!(out, "  mtime = {}", java_date(st.mtime));
        let _ = writeln!(out, "  pZxid = 0x{:x}", st.pzxid);
        let _ = writeln!(out, "  cversion = {}", st.cversion);
        let _ = writeln!(out, "  dataVersion = {}", st.version);
        let _ = writeln!(out, "  aclVersion = {}", st.aversion);
        let _ = writeln!(out, "  ephemeralOwner = 0x{:x}", st.ephemeral_owner);
        let _ = writeln!(
            out,
            "  dataLength = {}",
            n.data.as_ref().map_or(0, |d| d.len())
        );
        if st.ephemeral_owner != 0 {
            *eph.entry(st.ephemeral_owner).or_default() += 1;
        }
    }
    let _ = writeln!(out, "----\nSession Details (sid, timeout, ephemeralCount):");
    for (id, timeout) in &s.sessions {
        let _ = writeln!(
            out,
            "0x{id:x}, {timeout}, {}",
            eph.get(id).copied().unwrap_or(0)
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datatree::DataTree;
    use crate::storage::recovery::write_full_snapshot;
    use crate::storage::txn_log::LogWriter;

    #[test]
    fn dumps_read_back_what_was_written() {
        let d = tempfile::tempdir().unwrap();
        let mut w = LogWriter::new(d.path().to_path_buf(), 4096, false);
        let t = Txn {
            session: 0x10,
            cxid: 1,
            zxid: 1,
            time: 0,
            op: TxnOp::CreateSession { timeout: 4000 }.into(),
        };
        w.append(&[t], &mut Vec::new()).unwrap();
        let text = log_dump(&d.path().join("log.1")).unwrap();
        assert!(
            text.contains("session 0x10 cxid 0x1 zxid 0x1 createSession 4000"),
            "{text}"
        );
        assert!(text.contains("EOF reached after 1 txns."));
        let p = write_full_snapshot(d.path(), &DataTree::default()).unwrap();
        let text = snapshot_dump(&p).unwrap();
        assert!(text.contains("/zookeeper/quota"));
        assert!(snapshot_dump(&d.path().join("log.1")).is_err());
    }
}
