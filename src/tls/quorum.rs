//! Mutual TLS between the members (`sslQuorum`) on the quorum and election ports. Every
//! connection is TLS with certificates on both sides, chained to the quorum trust store; the
//! dialer checks that the server it reached is valid for the member's host, and the acceptor
//! reads the dialer's Hello and checks that its certificate is valid for the host of the
//! member it claims to be, so that one member cannot pose as another (nor a host without a
//! certificate join or vote).
//!
//! The peer protocol code stays as it is: a checked TLS connection is handed to it as a
//! loopback TCP connection whose other end a pump on the `keeper-tls` thread encrypts and
//! decrypts. The encryption and the pumping happen there, off the tree's thread; plain
//! ensembles do not go through any of this.

use super::{provider, trust_store, Reloading};
use crate::codec::peer::{encode_frame, PeerCodec, PeerMessage};
use crate::settings::{Member, TlsSettings};
use futures::StreamExt;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::FramedRead;

/// A peer that has not finished its handshake and its Hello by then is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The TLS of one member's peer connections.
pub struct QuorumTls {
    settings: TlsSettings,
    /// Member id -> host, as the configuration names it.
    hosts: HashMap<u64, String>,
    configs: Reloading<(TlsAcceptor, TlsConnector)>,
}

fn store(quorum: &str, client: &str) -> String {
    if quorum.is_empty() {
        client.to_string()
    } else {
        quorum.to_string()
    }
}

/// Chain checked, host name not: for `quorum_hostname_verification = false`.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn configs(s: &TlsSettings) -> Result<(TlsAcceptor, TlsConnector), String> {
    let key_store = store(&s.quorum_key_store, &s.key_store);
    let trust = store(&s.quorum_trust_store, &s.trust_store);
    let (chain, key) = super::key_store(&key_store, &s.key_store_password, "tls.quorum_key_store")?;
    let roots = Arc::new(trust_store(&trust)?);
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let server = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .map_err(|e| format!("the quorum trust store {trust}: {e}"))?,
        )
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| format!("the quorum key store {key_store}: {e}"))?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let builder = if s.quorum_hostname_verification {
        builder.with_root_certificates(roots)
    } else {
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| format!("the quorum trust store {trust}: {e}"))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(verifier)))
    };
    let client = builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the quorum key store {key_store}: {e}"))?;
    Ok((
        TlsAcceptor::from(Arc::new(server)),
        TlsConnector::from(Arc::new(client)),
    ))
}

impl QuorumTls {
    pub fn new(settings: &TlsSettings, members: &[Member]) -> Result<QuorumTls, String> {
        // The quorum's own stores, or the client port's: reloads watch the ones in use.
        let mut s = settings.clone();
        s.key_store = store(&s.quorum_key_store, &s.key_store);
        s.trust_store = store(&s.quorum_trust_store, &s.trust_store);
        let first = configs(&s)?;
        Ok(QuorumTls {
            configs: Reloading::new("quorum TLS", &s, first),
            settings: s,
            hosts: members.iter().map(|m| (m.id, m.host.clone())).collect(),
        })
    }

    fn current(&self) -> (TlsAcceptor, TlsConnector) {
        self.configs.get(configs)
    }

    /// TLS to member `to` over a connected `stream`: its certificate must be valid for the
    /// member's host. Returns the plain end that the peer code uses.
    pub async fn dial(self: &Arc<Self>, stream: TcpStream, to: &Member) -> io::Result<TcpStream> {
        let (_, connector) = self.current();
        let name = ServerName::try_from(to.host.clone())
            .map_err(|e| io::Error::other(format!("`{}` is not a host name: {e}", to.host)))?;
        let std = stream.into_std()?;
        let id = to.id;
        let local = on_tls_thread(async move {
            let stream = TcpStream::from_std(std)?;
            let tls = tokio::time::timeout(HANDSHAKE, connector.connect(name, stream))
                .await
                .map_err(|_| io::Error::other("no TLS handshake within 10 s"))?
                .map_err(|e| io::Error::other(format!("TLS with server {id}: {e}")))?;
            pump(tls, Vec::new()).await
        })
        .await?;
        TcpStream::from_std(local)
    }

    /// TLS from a peer that connected: its certificate must be valid for the host of the
    /// member its Hello names. Returns the plain end (its Hello still to read), or Err with
    /// why it was refused.
    pub async fn accept(self: &Arc<Self>, stream: TcpStream) -> io::Result<TcpStream> {
        let (acceptor, _) = self.current();
        let remote = stream.peer_addr()?;
        let me = self.clone();
        let std = stream.into_std()?;
        let local = on_tls_thread(async move {
            let stream = TcpStream::from_std(std)?;
            let checked = tokio::time::timeout(HANDSHAKE, async {
                let mut tls = acceptor
                    .accept(stream)
                    .await
                    .map_err(|e| io::Error::other(format!("TLS handshake: {e}")))?;
                let cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .cloned()
                    .ok_or_else(|| io::Error::other("no certificate"))?;
                // The Hello, read here to check the id it claims against the certificate.
                let mut frames = FramedRead::new(&mut tls, PeerCodec);
                let hello = frames
                    .next()
                    .await
                    .ok_or_else(|| io::Error::other("closed before its Hello"))?
                    .map_err(|e| io::Error::other(e.to_string()))?;
                let rest = frames.read_buffer().to_vec();
                let PeerMessage::Hello { sid, .. } = hello else {
                    return Err(io::Error::other("its first message is not a Hello"));
                };
                me.check(sid, &cert)?;
                let mut prefix = Vec::new();
                encode_frame(&hello, &mut prefix).map_err(|e| io::Error::other(e.to_string()))?;
                prefix.extend_from_slice(&rest);
                Ok::<_, io::Error>((tls, prefix))
            })
            .await
            .map_err(|_| io::Error::other("no TLS handshake and Hello within 10 s"))??;
            pump(checked.0, checked.1).await
        })
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("peer {remote}: {e}")))?;
        TcpStream::from_std(local)
    }

    /// The certificate of a peer that says it is server `sid` must name that member's host.
    fn check(&self, sid: u64, cert: &CertificateDer<'_>) -> io::Result<()> {
        let host = self.hosts.get(&sid).ok_or_else(|| {
            io::Error::other(format!("it claims server id {sid}, not in quorum.members"))
        })?;
        if !self.settings.quorum_hostname_verification {
            return Ok(());
        }
        let name = ServerName::try_from(host.as_str())
            .map_err(|e| io::Error::other(format!("`{host}`: {e}")))?;
        let ee = webpki::EndEntityCert::try_from(cert)
            .map_err(|e| io::Error::other(format!("its certificate: {e}")))?;
        ee.verify_is_valid_for_subject_name(&name).map_err(|_| {
            io::Error::other(format!(
                "it claims to be server {sid}, but its certificate is not valid for {host}, \
                 that member's host"
            ))
        })
    }
}

/// The `keeper-tls` thread: TLS handshakes and the pumps of peer connections.
fn tls_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("keeper-tls")
            .enable_all()
            .build()
            .expect("the keeper-tls runtime")
    })
}

async fn on_tls_thread<T: Send + 'static>(
    f: impl std::future::Future<Output = io::Result<T>> + Send + 'static,
) -> io::Result<T> {
    tls_runtime()
        .spawn(f)
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

/// A loopback connection whose other end carries `tls` both ways (after writing `prefix`, bytes
/// already read from it, towards the plain end). Returns the plain end.
async fn pump<S>(tls: S, prefix: Vec<u8>) -> io::Result<std::net::TcpStream>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let at = listener.local_addr()?;
    let (plain, inner) = tokio::join!(TcpStream::connect(at), listener.accept());
    let (plain, (mut inner, from)) = (plain?, inner?);
    // Only our own connection may be the inner end.
    if from != plain.local_addr()? {
        return Err(io::Error::other(
            "a stranger took the TLS pump's loopback connection",
        ));
    }
    let _ = plain.set_nodelay(true);
    let _ = inner.set_nodelay(true);
    tokio::spawn(async move {
        let mut tls = tls;
        if inner.write_all(&prefix).await.is_ok() {
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
        }
        let _ = tls.shutdown().await;
    });
    plain.into_std()
}

/// This process's quorum TLS, when `tls.quorum` is on (one server per process: set once at
/// start; the peer code asks for it where it dials and accepts).
static QUORUM: OnceLock<Arc<QuorumTls>> = OnceLock::new();

pub fn install(t: QuorumTls) {
    let _ = QUORUM.set(Arc::new(t));
}

pub fn get() -> Option<&'static Arc<QuorumTls>> {
    QUORUM.get()
}
