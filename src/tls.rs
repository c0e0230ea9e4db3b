//! TLS of the secure client port (ZooKeeper's `secureClientPort` with `ssl.*` PEM stores):
//! the server's rustls configuration from the settings, its reload when the files change, and
//! a client certificate's identity in the `x509` ACL scheme (its subject as RFC 2253 names it,
//! as ZooKeeper's `X509AuthenticationProvider` does with Java's `X500Principal.getName()`).
//!
//! The crypto provider is named explicitly (ring), so that the server does not depend on a
//! process-wide default.

use crate::settings::TlsSettings;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio_rustls::TlsAcceptor;

/// Checked at most this often for changed files (on a new connection, not on a timer).
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A TLS client's identity, from its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X509Peer {
    /// The subject, as in `x509` ACLs: `CN=app,OU=Ops,O=Example`.
    pub dn: String,
    /// The subject is `tls.x509_super_user`.
    pub is_super: bool,
}

/// ring: small and with no C toolchain beyond cc (aws-lc would add megabytes of resident
/// text to every server). rustls deprecates it for lacking post-quantum key exchange, which
/// ZooKeeper's Java clients do not offer either.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub mod quorum;

/// The certificate chain and private key of a PEM key store. Errors name the file and `key`.
fn key_store(
    path: &str,
    password: &str,
    key: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let store = Path::new(path);
    let text = std::fs::read(store)
        .map_err(|e| format!("cannot read the key store {} ({key}): {e}", store.display()))?;
    if contains(&text, b"ENCRYPTED") {
        return Err(format!(
            "the private key in {} is encrypted{}; Keeper reads unencrypted PEM keys (decrypt \
             it with `openssl pkey -in KEY -out PLAIN`, and keep the file readable by the \
             server's user only)",
            store.display(),
            if password.is_empty() {
                ""
            } else {
                " (tls.key_store_password, ssl.keyStore.password)"
            }
        ));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad PEM in the key store {}: {e}", store.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "no CERTIFICATE in the key store {} ({key}): it must hold the server's \
             certificate chain and its private key",
            store.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        format!(
            "no private key in the key store {} ({key}): it must hold the server's \
             private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) and its \
             certificate chain ({e})",
            store.display()
        )
    })?;
    Ok((chain, private))
}

/// The server's TLS configuration from the settings. Errors name the file and the setting.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, String> {
    let store = Path::new(&s.key_store);
    let (chain, key) = key_store(
        &s.key_store,
        &s.key_store_password,
        "tls.key_store, ssl.keyStore.location",
    )?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS protocol versions: {e}"))?;
    let auth = s.client_auth.to_ascii_lowercase();
    let builder = if auth == "none" {
        builder.with_no_client_auth()
    } else {
        let roots = trust_store(&s.trust_store)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
        let verifier = if auth == "want" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("the trust store {}: {e}", s.trust_store))?,
        )
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "the key store {} (tls.key_store): its key and certificate do not go together: {e}",
            store.display()
        )
    })?;
    Ok(Arc::new(config))
}

fn trust_store(path: &str) -> Result<RootCertStore, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read the trust store {path} (tls.trust_store, ssl.trustStore.location): {e}"
        )
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&text) {
        let cert = cert.map_err(|e| format!("bad PEM in the trust store {path}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate in the trust store {path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "no CERTIFICATE in the trust store {path} (tls.trust_store): it must hold the CA \
             certificates that client certificates chain to"
        ));
    }
    Ok(roots)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A TLS configuration that follows its files (`tls.cert_reload`): looked at, at most once a
/// second, when a connection comes; a file that fails to load keeps the last good
/// configuration and is logged once per change.
struct Reloading<T> {
    /// Whose files: "TLS" (the client port) or "quorum TLS".
    what: &'static str,
    settings: TlsSettings,
    /// The configuration, the files' (mtime, size) it was made from, when they were looked at.
    state: Mutex<(T, Stamps, Instant)>,
}

/// The key and trust stores' modification times and sizes.
type Stamps = Vec<Option<(SystemTime, u64)>>;

impl<T: Clone> Reloading<T> {
    fn new(what: &'static str, settings: &TlsSettings, value: T) -> Self {
        Reloading {
            what,
            state: Mutex::new((value, stamps(settings), Instant::now())),
            settings: settings.clone(),
        }
    }

    /// The configuration for a new connection; `load` makes it again from the files.
    fn get(&self, load: impl FnOnce(&TlsSettings) -> Result<T, String>) -> T {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.settings.cert_reload && st.2.elapsed() >= RELOAD_CHECK {
            st.2 = Instant::now();
            let now = stamps(&self.settings);
            if now != st.1 {
                st.1 = now;
                match load(&self.settings) {
                    Ok(value) => {
                        tracing::info!(
                            "{} key / trust store changed: new connections use {} and {}",
                            self.what,
                            self.settings.key_store,
                            self.settings.trust_store
                        );
                        st.0 = value;
                    }
                    Err(e) => tracing::warn!(
                        "{} key / trust store changed but cannot be loaded, the previous one \
                         stays in use: {e}",
                        self.what
                    ),
                }
            }
        }
        st.0.clone()
    }
}

/// What the secure client port accepts with: the configuration, reloaded when its files
/// change.
pub struct ClientTls {
    settings: TlsSettings,
    acceptor: Reloading<TlsAcceptor>,
}

impl ClientTls {
    pub fn new(settings: &TlsSettings) -> Result<ClientTls, String> {
        let config = server_config(settings)?;
        Ok(ClientTls {
            acceptor: Reloading::new("TLS", settings, TlsAcceptor::from(config)),
            settings: settings.clone(),
        })
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .get(|s| server_config(s).map(TlsAcceptor::from))
    }

    /// The identity of a client by its certificate, if it gave one.
    pub fn peer(&self, conn: &rustls::ServerConnection) -> Option<X509Peer> {
        let cert = conn.peer_certificates()?.first()?;
        let dn = subject_dn(cert)?;
        let is_super =
            !self.settings.x509_super_user.is_empty() && dn == self.settings.x509_super_user;
        Some(X509Peer { dn, is_super })
    }
}

fn stamps(s: &TlsSettings) -> Stamps {
    [&s.key_store, &s.trust_store]
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// A certificate's subject as RFC 2253 writes it (Java's `X500Principal.getName()`): the
/// relative names last to first, separated by commas, multi-valued ones joined by `+`, the
/// usual attributes by their short names, others as a dotted OID with the value's DER in hex.
pub fn subject_dn(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let rdns: Vec<String> = cert
        .subject()
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let value = atv.attr_value();
                    match (short_name(&oid), string_value(value.tag().0, value.data)) {
                        (Some(name), Some(text)) => format!("{name}={}", escape(&text)),
                        (name, _) => format!(
                            "{}=#{}",
                            name.map(str::to_string).unwrap_or(oid),
                            hex_der(value.tag().0, value.data)
                        ),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Some(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// The text of a directory string (UTF8, Printable, IA5, Numeric, Teletex as Latin-1, BMP as
/// UTF-16, Universal as UTF-32).
fn string_value(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        12 | 18 | 19 | 22 => String::from_utf8(data.to_vec()).ok(),
        20 => Some(data.iter().map(|&b| b as char).collect()),
        30 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        28 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

fn hex_der(tag: u32, data: &[u8]) -> String {
    let mut der = vec![tag.min(30) as u8];
    let n = data.len();
    if n < 128 {
        der.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|&b| b == 0)
            .collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(data);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 2253 section 2.4: `, + " \ < > ;` always, `#` and a space at the start, a space at
/// the end.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `keeper certs`: a cluster CA, and certificates signed by it for servers (named by host
/// name or address, usable by the server and as a client of its peers) and for clients (named
/// by their common name), each in one PEM file with its private key, as `tls.key_store` takes
/// it. An existing CA in the directory is used again, so that a new host joins the same trust.
pub mod make {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    };
    use std::path::{Path, PathBuf};

    pub const CA_CERT: &str = "ca.pem";
    pub const CA_KEY: &str = "ca-key.pem";

    /// What was written.
    #[derive(Debug)]
    pub struct Written {
        pub ca: PathBuf,
        pub ca_reused: bool,
        pub files: Vec<PathBuf>,
    }

    fn params(cn: &str, org: &str, days: u32) -> CertificateParams {
        let mut p = CertificateParams::default();
        // Written in this order, read (RFC 2253, as x509 ACLs name it) last to first:
        // `CN=<name>,O=<org>`. (The default name holds a CN of its own.)
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, org);
        p.distinguished_name.push(DnType::CommonName, cn);
        let now = time::OffsetDateTime::now_utc();
        // An hour back: clocks of the hosts differ a little.
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(days.into());
        p
    }

    fn write_private(path: &Path, text: &str) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn err(e: rcgen::Error) -> String {
        format!("cannot make the certificate: {e}")
    }

    /// Make (or reuse) the CA in `dir`, then one file per server and per client.
    pub fn certs(
        dir: &Path,
        servers: &[String],
        clients: &[String],
        org: &str,
        days: u32,
    ) -> Result<Written, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (ca_cert, ca_key) = (dir.join(CA_CERT), dir.join(CA_KEY));
        let ca_reused = ca_cert.exists() && ca_key.exists();
        let issuer: Issuer<'static, KeyPair> = if ca_reused {
            let key_pem = std::fs::read_to_string(&ca_key)
                .map_err(|e| format!("cannot read {}: {e}", ca_key.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .map_err(|e| format!("{}: not a private key: {e}", ca_key.display()))?;
            let cert_pem = std::fs::read_to_string(&ca_cert)
                .map_err(|e| format!("cannot read {}: {e}", ca_cert.display()))?;
            Issuer::from_ca_cert_pem(&cert_pem, key)
                .map_err(|e| format!("{}: not a CA certificate: {e}", ca_cert.display()))?
        } else {
            let mut p = params(&format!("{org} CA"), org, days.max(3650));
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate().map_err(err)?;
            let ca = CertifiedIssuer::self_signed(p, key).map_err(err)?;
            std::fs::write(&ca_cert, ca.pem())
                .map_err(|e| format!("cannot write {}: {e}", ca_cert.display()))?;
            let key_pem = ca.key().serialize_pem();
            write_private(&ca_key, &key_pem)?;
            let key = KeyPair::from_pem(&key_pem).map_err(err)?;
            Issuer::from_ca_cert_pem(&ca.pem(), key).map_err(err)?
        };
        let mut files = Vec::new();
        let mut one = |name: &str, file: String, server: bool| -> Result<(), String> {
            let mut p = params(name, org, days);
            p.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            if server {
                p.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::ClientAuth,
                ];
                p.subject_alt_names = vec![match name.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(
                        name.to_string()
                            .try_into()
                            .map_err(|e| format!("`{name}` is not a host name: {e}"))?,
                    ),
                }];
            } else {
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            let key = KeyPair::generate().map_err(err)?;
            let cert = p.signed_by(&key, &issuer).map_err(err)?;
            let path = dir.join(file);
            write_private(&path, &format!("{}{}", key.serialize_pem(), cert.pem()))?;
            files.push(path);
            Ok(())
        };
        for s in servers {
            one(s, format!("server-{s}.pem"), true)?;
        }
        for c in clients {
            one(c, format!("client-{c}.pem"), false)?;
        }
        Ok(Written {
            ca: ca_cert,
            ca_reused,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert_with(dn: &[(DnType, &str)]) -> Vec<u8> {
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        for (t, v) in dn {
            p.distinguished_name.push(t.clone(), *v);
        }
        let key = KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subjects_are_named_as_rfc_2253_and_java_name_them() {
        // Written C, O, OU, CN: read most specific first.
        let der = cert_with(&[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "Example"),
            (DnType::OrganizationalUnitName, "Ops"),
            (DnType::CommonName, "app"),
        ]);
        assert_eq!(subject_dn(&der).unwrap(), "CN=app,OU=Ops,O=Example,C=DE");
        // Special characters are escaped; an unknown attribute is its OID and DER in hex.
        let der = cert_with(&[
            (DnType::CommonName, "a,b+c \"d\" <e>;f\\"),
            (DnType::CustomDnType(vec![2, 5, 4, 5]), "42"),
        ]);
        assert_eq!(
            subject_dn(&der).unwrap(),
            "2.5.4.5=#0c023432,CN=a\\,b\\+c \\\"d\\\" \\<e\\>\\;f\\\\"
        );
        assert_eq!(escape(" #x "), "\\ #x\\ ");
        assert_eq!(escape("#x"), "\\#x");
        assert!(subject_dn(b"not a certificate").is_none());
    }

    #[test]
    fn made_certificates_chain_to_their_ca_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let w = make::certs(
            dir.path(),
            &["127.0.0.1".into(), "zk1.example.com".into()],
            &["app".into()],
            "Example",
            30,
        )
        .unwrap();
        assert!(!w.ca_reused);
        assert_eq!(w.files.len(), 3);
        let server = dir.path().join("server-zk1.example.com.pem");
        let settings = TlsSettings {
            key_store: server.display().to_string(),
            trust_store: w.ca.display().to_string(),
            ..TlsSettings::default()
        };
        server_config(&settings).expect("loads");
        let client = std::fs::read(dir.path().join("client-app.pem")).unwrap();
        let der = CertificateDer::pem_slice_iter(&client)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(subject_dn(&der).unwrap(), "CN=app,O=Example");
        // The private files are the owner's only.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&server).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        // Again: the same CA signs the new ones.
        let again = make::certs(dir.path(), &["10.0.0.4".into()], &[], "Example", 30).unwrap();
        assert!(again.ca_reused);
        let ca_before = std::fs::read(&w.ca).unwrap();
        assert_eq!(std::fs::read(&again.ca).unwrap(), ca_before);
        // An encrypted key is refused with a way out.
        let enc = dir.path().join("enc.pem");
        std::fs::write(
            &enc,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = server_config(&TlsSettings {
            key_store: enc.display().to_string(),
            key_store_password: "pw".into(),
            client_auth: "none".into(),
            ..TlsSettings::default()
        })
        .unwrap_err();
        assert!(
            err.contains("encrypted") && err.contains("openssl"),
            "{err}"
        );
    }
}
