//! The generated certificate as clients and TLS scanners see it: what the server
//! presents with no `--tls-cert` (a short-lived leaf with an Authority Key
//! Identifier, as Mozilla's intermediate profile and path validators want), and its
//! renewal while serving: a client that took `tls-cert.pem` before keeps
//! connecting, new connections get the new leaf, open ones are left alone.

use crate::harness::{base_args, get, Client};
use clap::Parser;
use gatehouse::cli::{Cli, Command};
use gatehouse::clock::Clock;
use gatehouse::config::Config;
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The harness's server arguments without `--tls-cert`/`--tls-key`: the default,
/// generated certificate.
fn generated_tls_config(data: &Path) -> Config {
    let mut argv = vec!["gatehouse".to_string(), "serve".to_string()];
    for pair in base_args(data).chunks(2) {
        if pair[0] != "--tls-cert" && pair[0] != "--tls-key" {
            argv.extend(pair.iter().cloned());
        }
    }
    match Cli::try_parse_from(argv).unwrap().command {
        Command::Serve(a) => Config::from_args(&a).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn pem_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path).unwrap().map(|c| c.unwrap()).collect()
}

/// The time a client checks certificates against: the server's pinned clock.
#[derive(Debug)]
struct ClockTime(Clock);

impl rustls::time_provider::TimeProvider for ClockTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(Duration::from_secs(self.0.now_secs().unsigned_abs())))
    }
}

/// A client that trusts every certificate in `trust` (as `curl --cacert` would)
/// and checks validity at `clock`'s time.
fn client_config(trust: &[CertificateDer<'static>], clock: &Clock) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in trust {
        roots.add(c.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_details(provider, Arc::new(ClockTime(clock.clone())))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

/// An HTTP/1.1 connection kept open, and the certificate the server presented on it.
async fn connect(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
) -> (hyper::client::conn::http1::SendRequest<Empty<bytes::Bytes>>, CertificateDer<'static>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(cfg).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    (send, presented)
}

async fn health(send: &mut hyper::client::conn::http1::SendRequest<Empty<bytes::Bytes>>) -> u16 {
    let req = hyper::Request::get("/health").header("host", "localhost").body(Empty::new()).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(15), send.send_request(req)).await.unwrap().unwrap();
    let status = resp.status().as_u16();
    resp.into_body().collect().await.unwrap();
    status
}

#[tokio::test]
async fn generated_certificate_is_short_lived_and_names_its_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = gatehouse::app::start(generated_tls_config(&data), Clock::system()).await.unwrap();
    let file = pem_certs(&data.join("tls-cert.pem"));
    let (_, leaf) = x509_parser::parse_x509_certificate(file[0].as_ref()).unwrap();
    let v = leaf.validity();
    let days = (v.not_after.timestamp() - v.not_before.timestamp()) / 86_400;
    assert!(days <= 366, "Mozilla's intermediate profile allows 366 days; the certificate has {days}");
    assert!(
        leaf.iter_extensions()
            .any(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER),
        "no Authority Key Identifier"
    );
    assert!(leaf.extended_key_usage().unwrap().is_some_and(|e| e.value.server_auth), "no serverAuth EKU");
    // A client given tls-cert.pem as its CA file connects, and is shown its first certificate.
    let (mut send, presented) = connect(server.local_addr(), client_config(&file, &Clock::system())).await;
    assert_eq!(presented, file[0]);
    assert_eq!(health(&mut send).await, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn renewal_is_served_without_a_restart_and_clients_keep_trusting_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let clock = Clock::pinned(Clock::system().now_secs());
    let server = gatehouse::app::start(generated_tls_config(&data), clock.clone()).await.unwrap();
    let trusted_before = pem_certs(&data.join("tls-cert.pem"));
    let ca_only = pem_certs(&data.join("tls-ca.pem"));
    let (mut open, first) = connect(server.local_addr(), client_config(&trusted_before, &clock)).await;
    assert_eq!(health(&mut open).await, 200);
    assert!(server.check_tls().await.unwrap().is_none(), "nothing is due on the first day");

    // Sixty days on, a third of the 90-day life is left: the hourly check renews.
    clock.advance(Duration::from_secs(60 * 86_400));
    let renewed = server.check_tls().await.unwrap().expect("renewed");
    assert!(server.check_tls().await.unwrap().is_none(), "renewed once");
    for trust in [&trusted_before, &ca_only] {
        let (mut send, presented) = connect(server.local_addr(), client_config(trust, &clock)).await;
        assert_ne!(presented, first, "new connections get the new certificate");
        assert_eq!(gatehouse::server::tls::fingerprint(&presented), renewed.fingerprint);
        assert_eq!(health(&mut send).await, 200);
    }
    // The connection opened before the renewal goes on working.
    assert_eq!(health(&mut open).await, 200);

    // Past the old certificate's end, the client that took tls-cert.pem before still connects.
    clock.advance(Duration::from_secs(31 * 86_400));
    let later = Client::with_config(server.local_addr(), client_config(&trusted_before, &clock));
    assert_eq!(later.call(get("/health")).await.status, 200);
    server.shutdown().await;
}
