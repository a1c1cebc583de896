//! The integration-test harness: a per-run test CA, a real HTTPS client (hyper over
//! rustls, trusting only that CA), and a `TestServer` that runs gatehouse on
//! 127.0.0.1:0 with real TLS — in-process for speed, or as the real binary.

use bytes::Bytes;
use clap::Parser;
use gatehouse::cli::{Cli, Command};
use gatehouse::clock::Clock;
use gatehouse::config::Config;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

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

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: hyper::Version,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }
    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or_default().to_owned()
    }
}

/// A request under construction.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn get(path: &str) -> Call {
    Call { method: Method::GET, path: path.into(), headers: vec![], body: vec![] }
}
pub fn delete(path: &str) -> Call {
    Call { method: Method::DELETE, ..get(path) }
}
pub fn post_json(path: &str, body: Value) -> Call {
    Call { method: Method::POST, ..get(path) }.json(body)
}
pub fn put_json(path: &str, body: Value) -> Call {
    Call { method: Method::PUT, ..get(path) }.json(body)
}
pub fn post_form(path: &str, pairs: &[(&str, &str)]) -> Call {
    let body = serde_urlencoded::to_string(pairs).unwrap();
    Call { method: Method::POST, ..get(path) }
        .header("content-type", "application/x-www-form-urlencoded")
        .raw(body.into_bytes())
}

impl Call {
    pub fn method(mut self, m: &str) -> Self {
        self.method = Method::from_bytes(m.as_bytes()).unwrap();
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn json(self, v: Value) -> Self {
        self.header("content-type", "application/json").raw(serde_json::to_vec(&v).unwrap())
    }
    pub fn raw(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

/// HTTPS client trusting one CA.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
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

impl Client {
    pub fn new(addr: SocketAddr, ca: &CertificateDer<'static>) -> Self {
        Self { addr, tls: Some(client_config(ca, &[b"http/1.1"])) }
    }

    pub fn with_config(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Self {
        Self { addr, tls: Some(cfg) }
    }

    /// Sends one request on a fresh connection (HTTP/1.1, or h2 if ALPN picks it).
    pub async fn send(&self, call: Call) -> Result<Resp, String> {
        let tcp = TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).ok();
        let cfg = self.tls.clone().ok_or("no TLS config")?;
        let tls = TlsConnector::from(cfg)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let mut req =
            Request::builder().method(call.method.clone()).uri(format!("https://localhost{}", call.path));
        if !h2 {
            req = req.header("host", "localhost");
        }
        for (k, v) in &call.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Full::new(Bytes::from(call.body.clone()))).map_err(|e| e.to_string())?;
        let io = hyper_util::rt::TokioIo::new(tls);
        let resp = if h2 {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            send.send_request(req).await.map_err(|e| e.to_string())?
        } else {
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            send.send_request(req).await.map_err(|e| e.to_string())?
        };
        let version = resp.version();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Resp { status: parts.status.as_u16(), headers: parts.headers, body, version })
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

/// Arguments every test server gets: loopback, port 0, the test CA's certificate,
/// and scrypt parameters cheap enough for tests.
pub fn base_args(data_dir: &Path) -> Vec<String> {
    let ca = ca();
    [
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        ca.cert().to_str().unwrap(),
        "--tls-key",
        ca.key().to_str().unwrap(),
        "--scrypt-log-n",
        "4",
        "--scrypt-p",
        "1",
        "--hash-memory-mib",
        "1",
        // Tests log in far more than 5 times a minute; rate-limit tests turn these on.
        "--login-rate-limit",
        "off",
        "--register-rate-limit",
        "off",
        "--api-rate-limit",
        "off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn config(data_dir: &Path, extra: &[&str]) -> Config {
    let mut argv = vec!["gatehouse".to_string(), "serve".to_string()];
    argv.extend(base_args(data_dir));
    argv.extend(extra.iter().map(|s| s.to_string()));
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Serve(a) => Config::from_args(&a).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// gatehouse running in this process, on a pinned clock the test can move.
pub struct TestServer {
    pub server: Option<gatehouse::server::Server>,
    pub client: Client,
    pub clock: Clock,
    pub dir: tempfile::TempDir,
}

/// 2026-01-01T00:00:00Z, a fixed start for pinned clocks.
pub const T0: i64 = 1_767_225_600;

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::pinned(T0);
        let cfg = config(&dir.path().join("data"), extra);
        let server = gatehouse::server::start(cfg, clock.clone()).await.unwrap();
        let client = Client::new(server.local_addr(), &ca().ca_der);
        Self { server: Some(server), client, clock, dir }
    }

    pub async fn call(&self, call: Call) -> Resp {
        self.client.call(call).await
    }

    /// Sends `call` and asserts the status and, when given, the whole JSON body.
    pub async fn check(&self, call: Call, status: u16, body: Option<Value>) -> Resp {
        let what = format!("{} {}", call.method, call.path);
        let r = self.call(call).await;
        assert_eq!(r.status, status, "{what}: {}", String::from_utf8_lossy(&r.body));
        if let Some(b) = body {
            assert_eq!(r.json(), b, "{what}");
        }
        r
    }

    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Registers `name` with a valid password; returns the UserResponse.
    pub async fn register(&self, name: &str) -> Value {
        let r = self
            .call(post_json(
                "/api/v1/users/register",
                serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}),
            ))
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Logs `name` in with the standard password; returns the TokenResponse.
    pub async fn login(&self, name: &str) -> Value {
        let r =
            self.call(post_form("/api/v1/auth/token", &[("username", name), ("password", PASSWORD)])).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Registers and logs in; returns the access token.
    pub async fn user_token(&self, name: &str) -> String {
        self.register(name).await;
        self.login(name).await["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a user with any role through the domain (as the operator CLI does).
    pub fn create(&self, name: &str, role: gatehouse::store::records::Role) -> Value {
        let auth = self.server.as_ref().unwrap().auth();
        let u = auth
            .create_user(
                &gatehouse::domain::Ctx::cli(),
                &gatehouse::domain::users::NewUser {
                    username: name.into(),
                    email: format!("{name}@example.com"),
                    password: PASSWORD.into(),
                    full_name: None,
                },
                role,
            )
            .unwrap();
        serde_json::json!({"id": u.id, "username": u.username})
    }

    /// Creates a user with `role` and logs in; returns (user id, access token).
    pub async fn as_role(&self, name: &str, role: gatehouse::store::records::Role) -> (u64, String) {
        let id = self.create(name, role)["id"].as_u64().unwrap();
        let token = self.login(name).await["access_token"].as_str().unwrap().to_owned();
        (id, token)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// The password every helper-made user has.
pub const PASSWORD: &str = "SecurePass123!";
