//! ACL schemes (world, auth, digest, ip, super) and permission checks.

use crate::codec::jute::{perms, Acl, Id};
use crate::error::Code;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// `user:password` -> `user:base64(sha1(user:password))`.
pub fn digest(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Who a connection is: its ids (ip always, digest after addauth) and whether it is super.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInfo {
    pub ids: Vec<Id>,
    pub is_super: bool,
}

impl AuthInfo {
    pub fn for_ip(ip: &str) -> Self {
        AuthInfo {
            ids: vec![Id::new("ip", ip)],
            is_super: false,
        }
    }

    /// Handle an AuthPacket. Unknown schemes fail (the server then closes the connection).
    pub fn add(&mut self, scheme: &str, auth: &[u8], super_digest: &str) -> Result<(), Code> {
        match scheme {
            "digest" => {
                let text = String::from_utf8_lossy(auth);
                let id = digest(&text);
                if !super_digest.is_empty() && id == super_digest {
                    self.is_super = true;
                    self.push(Id::new("super", ""));
                }
                self.push(Id::new("digest", &id));
                Ok(())
            }
            "ip" => Ok(()),
            _ => Err(Code::AuthFailed),
        }
    }

    /// A client certificate's subject (TLS), as ZooKeeper's X509 provider adds it.
    pub fn add_x509(&mut self, dn: &str, is_super: bool) {
        if is_super {
            self.is_super = true;
            self.push(Id::new("super", dn));
        }
        self.push(Id::new("x509", dn));
    }

    fn push(&mut self, id: Id) {
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
    }
}

fn ip_matches(acl_id: &str, addr: &str) -> bool {
    let (net, bits) = match acl_id.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (acl_id, None),
    };
    let (Ok(net), Ok(addr)) = (net.parse::<IpAddr>(), addr.parse::<IpAddr>()) else {
        return false;
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            (u32::from(n) & mask) == (u32::from(a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            (u128::from(n) & mask) == (u128::from(a) & mask)
        }
        _ => false,
    }
}

fn valid_dn(id: &str) -> bool {
    // Every comma-separated name (a backslash escapes the next character) is `type=value`.
    let mut names = vec![String::new()];
    let mut escaped = false;
    for c in id.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                names.push(String::new());
                continue;
            }
            _ => {}
        }
        names.last_mut().expect("one").push(c);
    }
    !id.is_empty()
        && !escaped
        && names
            .iter()
            .all(|n| n.split_once('=').is_some_and(|(t, _)| !t.trim().is_empty()))
}

fn valid_ip_id(id: &str) -> bool {
    let (net, bits) = match id.split_once('/') {
        Some((n, b)) => (n, Some(b)),
        None => (id, None),
    };
    let Ok(addr) = net.parse::<IpAddr>() else {
        return false;
    };
    match bits {
        None => true,
        Some(b) => match b.parse::<u32>() {
            Ok(n) => n <= if addr.is_ipv4() { 32 } else { 128 },
            Err(_) => false,
        },
    }
}

/// Whether the caller holds `perm` on a node with `acl`.
pub fn check(acl: &[Acl], perm: i32, auth: &AuthInfo) -> bool {
    if auth.is_super || acl.is_empty() {
        return true;
    }
    acl.iter().any(|a| {
        (a.perms & perm) != 0
            && ((a.id.scheme == "world" && a.id.id == "anyone")
                || auth.ids.iter().any(|id| {
                    id.scheme == a.id.scheme
                        && match a.id.scheme.as_str() {
                            "ip" => ip_matches(&a.id.id, &id.id),
                            _ => a.id.id == id.id,
                        }
                }))
    })
}

/// Validate an ACL list for create/setACL: drop duplicates, expand `auth`, refuse invalid ids.
pub fn fixup(acl: &[Acl], auth: &AuthInfo) -> Result<Vec<Acl>, Code> {
    if acl.is_empty() {
        return Err(Code::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    let mut push = |a: Acl| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for a in acl {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => push(a.clone()),
            "auth" => {
                let mut any = false;
                for id in auth
                    .ids
                    .iter()
                    .filter(|id| id.scheme != "ip" && id.scheme != "super")
                {
                    any = true;
                    push(Acl {
                        perms: a.perms,
                        id: id.clone(),
                    });
                }
                if !any {
                    return Err(Code::InvalidAcl);
                }
            }
            "digest" if a.id.id.matches(':').count() == 1 => push(a.clone()),
            "ip" if valid_ip_id(&a.id.id) => push(a.clone()),
            // A certificate subject (X500Principal would parse it): attribute=value pairs.
            "x509" if valid_dn(&a.id.id) => push(a.clone()),
            _ => return Err(Code::InvalidAcl),
        }
    }
    Ok(out)
}

fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The order in which ZooKeeper lists a connection's ids (a hash set of jute `Id`s, 16 buckets
/// while small): clients see whoAmI in this order.
pub fn java_set_order(ids: &[Id]) -> Vec<&Id> {
    let bucket = |id: &Id| {
        let h = 37i32
            .wrapping_mul(
                37i32
                    .wrapping_mul(17)
                    .wrapping_add(java_string_hash(&id.scheme)),
            )
            .wrapping_add(java_string_hash(&id.id));
        let spread = (h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff;
        let mut n = 16;
        while ids.len() * 4 > n * 3 {
            n *= 2;
        }
        (spread as usize) & (n - 1)
    };
    let mut v: Vec<(usize, usize, &Id)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (bucket(id), i, id))
        .collect();
    v.sort_by_key(|(b, i, _)| (*b, *i));
    v.into_iter().map(|(_, _, id)| id).collect()
}

/// getACL without ADMIN shows digest ids as `user:x`.
pub fn mask_digests(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id::new("digest", &format!("{user}:x")),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

pub fn read_unsafe() -> Vec<Acl> {
    vec![Acl::new(perms::READ, "world", "anyone")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_zookeeper() {
        // Known pair from ZooKeeper's documentation and tooling.
        assert_eq!(digest("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    }

    #[test]
    fn x509_ids_from_certificates() {
        let mut auth = AuthInfo::for_ip("10.1.2.3");
        auth.add_x509("CN=app,O=Example", false);
        let acl = [Acl::new(perms::ALL, "x509", "CN=app,O=Example")];
        assert!(check(&acl, perms::READ, &auth));
        assert!(!check(
            &[Acl::new(perms::ALL, "x509", "CN=other,O=Example")],
            perms::READ,
            &auth
        ));
        assert!(!auth.is_super);
        // `auth` expands to the certificate's id (not the address).
        assert_eq!(
            fixup(&[Acl::new(perms::ALL, "auth", "")], &auth).unwrap(),
            acl.to_vec()
        );
        // Valid subjects, escapes included; not subjects.
        for ok in ["CN=a", "CN=a\\,b,O=c", "CN=x+OU=y,O=z", "2.5.4.5=#0c023432"] {
            assert!(fixup(&[Acl::new(1, "x509", ok)], &auth).is_ok(), "{ok}");
        }
        for bad in ["", "nobody", "CN=a,", "CN=a\\", "=x"] {
            assert_eq!(
                fixup(&[Acl::new(1, "x509", bad)], &auth),
                Err(Code::InvalidAcl),
                "{bad}"
            );
        }
        // The super user's certificate passes every ACL.
        let mut admin = AuthInfo::for_ip("10.1.2.4");
        admin.add_x509("CN=admin", true);
        assert!(admin.is_super && check(&acl, perms::ALL, &admin));
    }

    #[test]
    fn checks() {
        let auth = AuthInfo::for_ip("10.1.2.3");
        assert!(check(&Acl::world_all(), perms::READ, &auth));
        assert!(check(
            &[Acl::new(perms::READ, "ip", "10.1.0.0/16")],
            perms::READ,
            &auth
        ));
        assert!(!check(
            &[Acl::new(perms::READ, "ip", "10.2.0.0/16")],
            perms::READ,
            &auth
        ));
        assert!(!check(
            &[Acl::new(perms::WRITE, "world", "anyone")],
            perms::READ,
            &auth
        ));
        let mut a = auth.clone();
        a.add("digest", b"u:p", "").unwrap();
        assert!(check(
            &[Acl::new(perms::ALL, "digest", &digest("u:p"))],
            perms::DELETE,
            &a
        ));
        assert!(a.add("kerberos", b"x", "").is_err());
        let mut s = AuthInfo::default();
        s.add(
            "digest",
            b"super:test",
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU=",
        )
        .unwrap();
        assert!(check(
            &[Acl::new(perms::READ, "digest", "x:y")],
            perms::ADMIN,
            &s
        ));
    }

    #[test]
    fn whoami_order_follows_java_hash_set() {
        // Seen from ZooKeeper 3.8: the digest id comes before the ip id.
        let ids = [Id::new("ip", "127.0.0.1"), Id::new("digest", "golden:abc")];
        let order = java_set_order(&ids);
        assert_eq!(order[0].scheme, "digest");
    }

    #[test]
    fn fixup_rules() {
        let none = AuthInfo::for_ip("127.0.0.1");
        assert_eq!(fixup(&[], &none), Err(Code::InvalidAcl));
        assert_eq!(
            fixup(&[Acl::new(31, "auth", "")], &none),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&[Acl::new(31, "world", "bob")], &none),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&[Acl::new(31, "digest", "nocolon")], &none),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&[Acl::new(31, "ip", "300.1.1.1")], &none),
            Err(Code::InvalidAcl)
        );
        assert_eq!(
            fixup(&[Acl::new(31, "foo", "bar")], &none),
            Err(Code::InvalidAcl)
        );
        let two = [
            Acl::new(31, "world", "anyone"),
            Acl::new(31, "world", "anyone"),
        ];
        assert_eq!(fixup(&two, &none).unwrap().len(), 1);
        let mut a = none.clone();
        a.add("digest", b"u:p", "").unwrap();
        let f = fixup(&[Acl::new(5, "auth", "")], &a).unwrap();
        assert_eq!(f, vec![Acl::new(5, "digest", &digest("u:p"))]);
        assert_eq!(mask_digests(&f)[0].id.id, "u:x");
    }
}
