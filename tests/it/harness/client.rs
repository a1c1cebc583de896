//! How requests reach gatehouse: a [`Client`] sends a [`Call`] over HTTPS to a
//! listening server (trusting the per-run test CA, or any other), or hands it to
//! the router of a service-tier server in-process. Both return the same [`Resp`].

use super::call::{Call, Resp};
use bytes::Bytes;
use gatehouse::server::state::AppState;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Version};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The address a service-tier request comes from: a loopback client, as the
/// listener would report it (only the address counts: rate limits, audit).
pub const SERVICE_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50_000);

/// The port a service-tier server's issuer names, as if it listened there. Port 1,
/// where nothing listens: a test that opens a socket to a service-tier server's
/// `client.addr` is refused at once (it belongs over TLS) instead of reaching
/// whatever serves the default 8443.
pub const SERVICE_PORT: u16 = 1;

/// What a service-tier [`Client`] reports as its `addr`: 127.0.0.1:[`SERVICE_PORT`].
pub const SERVICE_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), SERVICE_PORT);

/// A test certificate authority and a leaf for localhost/127.0.0.1 signed by it.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub ca_der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "gatehouse test CA");
        ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Self { dir, ca_der: ca.der().clone() }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// One CA for the whole test run (generating keys is the slow part).
pub fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(TestCa::new)
}

pub fn client_config(ca: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// Sends requests to one server, over HTTPS or into its router; cheap to clone
/// (for concurrent requests: clone, move into `tokio::spawn`, `.call(..)`).
#[derive(Clone)]
pub struct Client {
    /// The server's address: the bound one over TLS, [`SERVICE_ADDR`] in the
    /// service tier (its port is the one the issuer names either way).
    pub addr: SocketAddr,
    via: Via,
}

#[derive(Clone)]
enum Via {
    /// A fresh TCP connection and TLS handshake per request.
    Tls(Arc<rustls::ClientConfig>),
    /// `router::handle` on this state, in-process. Weak, as a connection is: the
    /// server's handle owns the state, so stopping it releases the store even
    /// while clients remain, and later calls fail as a refused connection would.
    Service(Weak<AppState>),
}

impl Client {
    /// HTTPS to `addr` over HTTP/1.1, trusting `ca`.
    pub fn new(addr: SocketAddr, ca: &CertificateDer<'static>) -> Self {
        Self::with_config(addr, client_config(ca, &[b"http/1.1"]))
    }

    /// HTTPS to `addr` with this TLS configuration (its ALPN list may offer h2).
    pub fn with_config(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Self {
        Self { addr, via: Via::Tls(cfg) }
    }

    /// Into the router of `state`: no socket, no TLS.
    pub fn service(state: &Arc<AppState>) -> Self {
        Self { addr: SERVICE_ADDR, via: Via::Service(Arc::downgrade(state)) }
    }

    /// Whether requests go into a router in-process (else over TLS).
    pub fn in_process(&self) -> bool {
        matches!(self.via, Via::Service(_))
    }

    /// Sends one request: on a fresh connection (HTTP/1.1, or h2 if ALPN picks
    /// it), or through the router.
    pub async fn send(&self, call: Call) -> Result<Resp, String> {
        match &self.via {
            Via::Tls(config) => send_tls(self.addr, config, call).await,
            Via::Service(state) => {
                let state = state.upgrade().ok_or("the service-tier server has stopped")?;
                send_service(&state, call).await
            }
        }
    }

    /// `send` that panics on transport errors (the common case in tests).
    pub async fn call(&self, call: Call) -> Resp {
        let what = format!("{} {}", call.method, call.path);
        tokio::time::timeout(Duration::from_secs(30), self.send(call))
            .await
            .unwrap_or_else(|_| panic!("{what}: timed out"))
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

/// `call` as the HTTPS client sends it: `https://localhost` + path, `Host` on
/// HTTP/1.1 (h2 carries `:authority` instead), then the call's headers.
fn request(call: Call, h2: bool) -> Result<Request<Full<Bytes>>, String> {
    let mut req = Request::builder().method(call.method).uri(format!("https://localhost{}", call.path));
    if !h2 {
        req = req.header("host", "localhost");
    }
    for (k, v) in &call.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.body(Full::new(Bytes::from(call.body))).map_err(|e| e.to_string())
}

async fn send_tls(addr: SocketAddr, cfg: &Arc<rustls::ClientConfig>, call: Call) -> Result<Resp, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).ok();
    let tls = TlsConnector::from(Arc::clone(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let req = request(call, h2)?;
    let io = hyper_util::rt::TokioIo::new(tls);
    let resp = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(|e| e.to_string())?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        send.send_request(req).await.map_err(|e| e.to_string())?
    };
    let version = resp.version();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Resp { status: parts.status.as_u16(), headers: parts.headers, body, version })
}

/// The router's answer to `call`, with the request as the listener would hand it
/// on from an HTTP/1.1 connection: the same request line and headers, plus the
/// `Content-Length` hyper's client adds to a body it knows the size of.
async fn send_service(state: &AppState, call: Call) -> Result<Resp, String> {
    let declared = call.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    let length = (!call.body.is_empty() && !declared).then_some(call.body.len());
    let mut req = request(call, false)?;
    *req.version_mut() = Version::HTTP_11;
    if let Some(n) = length {
        req.headers_mut().insert(hyper::header::CONTENT_LENGTH, n.into());
    }
    let resp = gatehouse::server::router::handle(state, SERVICE_PEER, req).await;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Resp { status: parts.status.as_u16(), headers: parts.headers, body, version: Version::HTTP_11 })
}
