//! Unit tests of the shell's pure helpers.

use zookeeper_client::{Error, Permission};

use super::convert::{error_code, from_acls, from_permission, to_acls, to_permission};
use super::tree::child_path;
use super::*;
use crate::cli::format::{AclEntry, PERM_ADMIN, PERM_READ};
use crate::cli::parse::{Command, WatcherType};

#[test]
fn permissions_roundtrip() {
    for bits in 0..32 {
        assert_eq!(from_permission(to_permission(bits)), bits);
    }
    assert_eq!(to_permission(31), Permission::ALL);
}

#[test]
fn acl_conversion() {
    let e = vec![AclEntry::new("digest", "u:h", PERM_READ | PERM_ADMIN)];
    let acls = to_acls(&e);
    assert_eq!(acls[0].scheme(), "digest");
    assert_eq!(acls[0].id(), "u:h");
    assert_eq!(from_acls(&acls), e);
}

#[test]
fn paths_and_codes() {
    assert_eq!(child_path("/", "a"), "/a");
    assert_eq!(child_path("/a", "b"), "/a/b");
    assert_eq!(error_code(&Error::NoNode), -101);
    assert_eq!(
        command_path(&Command::Sync { path: "/s".into() }),
        Some("/s".to_string())
    );
    assert_eq!(command_path(&Command::WhoAmI), None);
}

#[test]
fn watch_kinds() {
    assert!(WatchKind::Data.removed_by(WatcherType::Data));
    assert!(!WatchKind::Data.removed_by(WatcherType::Children));
    assert!(WatchKind::Child.removed_by(WatcherType::Children));
    assert!(WatchKind::Persistent.removed_by(WatcherType::Any));
    assert!(!WatchKind::PersistentRecursive.removed_by(WatcherType::Data));
}

#[test]
fn output_streams() {
    let mut o = Output::default();
    o.outln("a");
    o.errln("b");
    o.out("c");
    assert_eq!(o.text(Stream::Out), "a\nc");
    assert_eq!(o.text(Stream::Err), "b\n");
}
