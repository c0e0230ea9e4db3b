//! Conversions between the shell and `zookeeper_client`: permissions, ACLs, errors.

use zookeeper_client::{Acl, AuthId, Error, Permission};

use crate::cli::format::{
    error_message, AclEntry, PERM_ADMIN, PERM_CREATE, PERM_DELETE, PERM_READ, PERM_WRITE,
};
use crate::cli::parse::{validate_path, CliError};

pub(super) fn to_permission(perms: i32) -> Permission {
    [
        (PERM_READ, Permission::READ),
        (PERM_WRITE, Permission::WRITE),
        (PERM_CREATE, Permission::CREATE),
        (PERM_DELETE, Permission::DELETE),
        (PERM_ADMIN, Permission::ADMIN),
    ]
    .iter()
    .filter(|(bit, _)| perms & bit != 0)
    .fold(Permission::NONE, |acc, (_, p)| acc | *p)
}

pub(super) fn from_permission(p: Permission) -> i32 {
    [
        (PERM_READ, Permission::READ),
        (PERM_WRITE, Permission::WRITE),
        (PERM_CREATE, Permission::CREATE),
        (PERM_DELETE, Permission::DELETE),
        (PERM_ADMIN, Permission::ADMIN),
    ]
    .iter()
    .filter(|(_, perm)| p.has(*perm))
    .fold(0, |acc, (bit, _)| acc | bit)
}

pub(super) fn to_acls(entries: &[AclEntry]) -> Vec<Acl> {
    entries
        .iter()
        .map(|e| Acl::new(to_permission(e.perms), AuthId::new(&e.scheme, &e.id)))
        .collect()
}

pub(super) fn from_acls(acls: &[Acl]) -> Vec<AclEntry> {
    acls.iter()
        .map(|a| AclEntry::new(a.scheme(), a.id(), from_permission(a.permission())))
        .collect()
}

/// Java result code numbers, for `sync`'s `rc=` output.
pub(super) fn error_code(err: &Error) -> i32 {
    match err {
        Error::RuntimeInconsistent => -2,
        Error::ConnectionLoss | Error::NoHosts => -4,
        Error::MarshallingError => -5,
        Error::Unimplemented => -6,
        Error::Timeout => -7,
        Error::BadArguments(_) => -8,
        Error::NoNode => -101,
        Error::NoAuth => -102,
        Error::BadVersion => -103,
        Error::NoChildrenForEphemerals => -108,
        Error::NodeExists => -110,
        Error::NotEmpty => -111,
        Error::SessionExpired | Error::ClientClosed => -112,
        Error::InvalidAcl => -114,
        Error::AuthFailed => -115,
        Error::SessionMoved => -118,
        Error::NotReadOnly => -119,
        Error::NoWatcher => -121,
        Error::ReconfigDisabled => -123,
        Error::QuotaExceeded => -125,
        Error::Throttled => -127,
        Error::UnexpectedErrorCode(c) => *c,
        _ => -1,
    }
}

pub(super) fn keeper(err: Error, path: &str) -> CliError {
    CliError::Keeper(error_message(&err, path))
}

pub(super) fn check_path(path: &str, sequential: bool) -> Result<(), CliError> {
    validate_path(path, sequential).map_err(CliError::MalformedPath)
}
