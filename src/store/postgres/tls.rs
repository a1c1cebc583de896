//! TLS to the database over our own rustls (ring provider; no OpenSSL).
//!
//! With rustls a TLS connection always verifies the server's certificate chain and
//! name: `sslmode=require` (or `prefer`, when the server offers TLS) is therefore
//! what libpq calls `verify-full`. The trusted roots are the operator's
//! `--database-ca` file, else the system bundle. SCRAM channel binding
//! (`tls-server-end-point`, RFC 5929) hashes the server's certificate with the hash
//! of its signature algorithm, as PostgreSQL does, so `channel_binding=require` works
//! for certificates signed with SHA-256 or SHA-384.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::{future::Future, io};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Where root certificates come from when the operator names none.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Makes a TLS connector per connection from one client configuration.
#[derive(Clone)]
pub struct MakeRustls(Arc<rustls::ClientConfig>);

impl MakeRustls {
    /// Trusts the certificates in `ca` (PEM), or the system bundle when `None`. A
    /// missing system bundle leaves no roots: TLS connections then fail, plain ones
    /// (`sslmode=disable`) still work.
    pub fn new(ca: Option<&Path>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let (path, required) = match ca {
            Some(p) => (p, true),
            None => (Path::new(SYSTEM_ROOTS), false),
        };
        match CertificateDer::pem_file_iter(path) {
            Ok(certs) => {
                for cert in certs {
                    let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
                    roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
            Err(e) if required => return Err(format!("{}: {e}", path.display())),
            Err(_) => {}
        }
        if required && roots.is_empty() {
            return Err(format!("{}: no certificates in it", path.display()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self(Arc::new(config)))
    }
}

/// One connection's TLS handshake.
pub struct RustlsConnect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

/// A TLS stream to the database.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> MakeTlsConnect<S> for MakeRustls {
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            name: ServerName::try_from(host)?.to_owned(),
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.0)),
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> TlsConnect<S> for RustlsConnect {
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move { self.connector.connect(self.name, stream).await.map(RustlsStream) })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, conn) = self.0.get_ref();
        let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) else {
            return ChannelBinding::none();
        };
        match end_point_hash(cert.as_ref()) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.hash(cert.as_ref()).as_ref().to_vec()),
            None => ChannelBinding::none(),
        }
    }
}

/// RFC 5929 §4.1: the certificate's signature hash, SHA-256 for MD5 and SHA-1.
/// Hashes come from rustls' provider (ring), so no other crate does crypto here.
fn end_point_hash(der: &[u8]) -> Option<&'static dyn rustls::crypto::hash::Hash> {
    const SHA256: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b], // sha256WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05], // sha1WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04], // md5WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],       // ecdsa-with-SHA256
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01],             // ecdsa-with-SHA1
    ];
    const SHA384: &[&[u8]] = &[
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c], // sha384WithRSAEncryption
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],       // ecdsa-with-SHA384
    ];
    use rustls::crypto::ring::cipher_suite::{TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384};
    let (_, cert) = der_tlv(der, 0x30)?;
    let (after_tbs, _) = der_tlv(cert, 0x30)?;
    let (_, alg) = der_tlv(after_tbs, 0x30)?;
    let (_, oid) = der_tlv(alg, 0x06)?;
    let suite = if SHA256.contains(&oid) {
        TLS13_AES_128_GCM_SHA256
    } else if SHA384.contains(&oid) {
        TLS13_AES_256_GCM_SHA384
    } else {
        return None; // SHA-512, Ed25519, RSA-PSS: no binding (the server then offers none either)
    };
    suite.tls13().map(|s| s.common.hash_provider)
}

/// One DER TLV with the expected tag: (what follows it, its contents).
fn der_tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = b.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    if t != tag {
        return None;
    }
    let (len, rest) = if l0 < 0x80 {
        (usize::from(l0), rest)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        (len_bytes.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)), rest)
    };
    (rest.len() >= len).then(|| (&rest[len..], &rest[..len]))
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_tlv(&[0x30, 0x02, 1, 2, 9], 0x30), Some((&[9u8][..], &[1u8, 2][..])));
        assert_eq!(der_tlv(&[0x30, 0x81, 0x01, 7], 0x30), Some((&[][..], &[7u8][..])));
        assert_eq!(der_tlv(&[0x30, 0x05, 1], 0x30), None, "length past the end");
        assert_eq!(der_tlv(&[0x31, 0x00], 0x30), None, "wrong tag");
        assert_eq!(der_tlv(&[0x30, 0x80], 0x30), None, "indefinite length");
    }

    #[test]
    fn a_named_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(MakeRustls::new(Some(&empty)).is_err());
        assert!(MakeRustls::new(Some(&dir.path().join("missing.pem"))).is_err());
        assert!(MakeRustls::new(None).is_ok(), "no system bundle is not an error");
    }
}
