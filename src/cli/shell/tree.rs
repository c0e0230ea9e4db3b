//! Subtree walks: `ls -R` / `setAcl -R` visits, `deleteall`'s listing and batches.

use zookeeper_client::{Acl, Client, Error};

use super::convert::keeper;
use super::{Output, Shell, WatchKind};
use crate::cli::format::keeper_error_message;
use crate::cli::parse::CliError;

pub(super) fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

impl Shell {
    /// `ZKUtil.visitSubTreeDFS`: the root (after a `getData` that must succeed), then each
    /// level's children sorted, all of them visited before descending into the first;
    /// nodes vanishing meanwhile are skipped. The action runs as each node is visited.
    pub(super) async fn visit_subtree(
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
pub(super) enum Visit<'a> {
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

/// `ZKUtil.listSubTreeBFS`.
pub(super) async fn list_subtree_bfs(zk: &Client, root: &str) -> Result<Vec<String>, Error> {
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
pub(super) async fn delete_in_batches(zk: &Client, tree: &[String], batch: usize) -> bool {
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
