//! TLS: the certificate (operator's PEM files, or a self-signed one generated on
//! first start and kept in the data directory) and the rustls configuration
//! (TLS 1.2 and 1.3, ring provider, ALPN h2 then http/1.1).

use crate::config::TlsSource;
use crate::crypto::secrets::sha256;
use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// File names of the generated certificate inside the data directory.
pub const SELF_SIGNED_CERT: &str = "tls-cert.pem";
/// Generated private key (0600).
pub const SELF_SIGNED_KEY: &str = "tls-key.pem";
/// The names the generated certificate was made for, one per line.
const SELF_SIGNED_NAMES: &str = "tls-names.txt";

/// What was loaded, for the start-up message.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// SHA-256 of the leaf certificate, colon-separated upper-case hex.
    pub fingerprint: String,
    /// Where the certificate lives.
    pub cert_path: std::path::PathBuf,
    /// True when it was generated just now.
    pub generated: bool,
}

/// The certificate in use, swappable while serving (SIGHUP after a renewal).
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.current.read() {
            Ok(c) => Some(Arc::clone(&c)),
            Err(p) => Some(Arc::clone(&p.into_inner())),
        }
    }
}

impl CertStore {
    /// Re-reads the certificate and key from disk. A file that is missing, not PEM,
    /// or whose key does not match is refused and the certificate in use is kept.
    /// New connections get the new certificate; open ones are not disturbed.
    pub fn reload(&self) -> anyhow::Result<CertInfo> {
        let (key, info) = read_pair(&self.cert_path, &self.key_path, false)?;
        match self.current.write() {
            Ok(mut c) => *c = Arc::new(key),
            Err(p) => *p.into_inner() = Arc::new(key),
        }
        Ok(info)
    }
}

/// Reads and checks a certificate chain and its private key.
fn read_pair(cert_path: &Path, key_path: &Path, generated: bool) -> anyhow::Result<(CertifiedKey, CertInfo)> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("cannot read TLS certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert_path.display()))?;
    let Some(leaf) = certs.first() else {
        bail!("{} contains no certificate", cert_path.display());
    };
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!("cannot read TLS private key {} (PKCS#8, PKCS#1 or SEC1 PEM)", key_path.display())
    })?;
    let certified = CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .context("the TLS certificate and key do not match or are unsupported")?;
    Ok((certified, CertInfo { fingerprint, cert_path: cert_path.to_path_buf(), generated }))
}

/// Everything TLS the server needs: the rustls configuration, what was loaded, and
/// the handle that reloads it.
pub type Loaded = (Arc<ServerConfig>, CertInfo, Arc<CertStore>);

/// Builds the rustls server configuration, generating a certificate when needed.
pub fn load(source: &TlsSource, data_dir: &Path) -> anyhow::Result<Option<Loaded>> {
    let (cert_path, key_path, generated) = match source {
        TlsSource::None => return Ok(None),
        TlsSource::Files { cert, key } => (cert.clone(), key.clone(), false),
        TlsSource::SelfSigned { hostnames } => {
            let generated = ensure_self_signed(data_dir, hostnames)?;
            (data_dir.join(SELF_SIGNED_CERT), data_dir.join(SELF_SIGNED_KEY), generated)
        }
    };
    let (certified, info) = read_pair(&cert_path, &key_path, generated)?;
    let store = Arc::new(CertStore { current: RwLock::new(Arc::new(certified)), cert_path, key_path });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some((Arc::new(cfg), info, store)))
}

/// SHA-256 fingerprint as `AB:CD:...`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    sha256(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn names_for(hostnames: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in hostnames {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    names
}

/// What `gatehouse cert show` prints.
#[derive(Debug, Clone)]
pub struct CertDetails {
    /// SHA-256 of the leaf.
    pub fingerprint: String,
    /// Subject alternative names.
    pub names: Vec<String>,
    /// Validity start (RFC 3339).
    pub not_before: String,
    /// Validity end (RFC 3339).
    pub not_after: String,
    /// Days until it expires (negative when expired).
    pub days_left: i64,
}

/// Reads a PEM certificate's names and validity.
pub fn details(cert_path: &Path, now_secs: i64) -> anyhow::Result<CertDetails> {
    let der = CertificateDer::from_pem_file(cert_path)
        .with_context(|| format!("cannot read a PEM certificate from {}", cert_path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| anyhow::anyhow!("{} is not a valid certificate: {e}", cert_path.display()))?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| ext.value.general_names.iter().map(general_name).collect())
        .unwrap_or_default();
    let validity = cert.validity();
    let (nb, na) = (validity.not_before.timestamp(), validity.not_after.timestamp());
    let rfc = |t: i64| crate::clock::rfc3339(t.saturating_mul(1_000_000));
    Ok(CertDetails {
        fingerprint: fingerprint(&der),
        names,
        not_before: rfc(nb),
        not_after: rfc(na),
        days_left: (na - now_secs).div_euclid(86_400),
    })
}

fn general_name(n: &x509_parser::extensions::GeneralName<'_>) -> String {
    use x509_parser::extensions::GeneralName;
    match n {
        GeneralName::DNSName(s) => (*s).to_owned(),
        GeneralName::IPAddress(b) => match b.len() {
            4 => <[u8; 4]>::try_from(*b).map(|a| std::net::IpAddr::from(a).to_string()).unwrap_or_default(),
            16 => <[u8; 16]>::try_from(*b).map(|a| std::net::IpAddr::from(a).to_string()).unwrap_or_default(),
            _ => format!("{b:?}"),
        },
        other => other.to_string(),
    }
}

/// Replaces the generated certificate with a new one for `hostnames`.
pub fn regenerate(data_dir: &Path, hostnames: &[String]) -> anyhow::Result<CertInfo> {
    let _ = fs::remove_file(data_dir.join(SELF_SIGNED_NAMES));
    ensure_self_signed(data_dir, hostnames)?;
    let (_, info) = read_pair(&data_dir.join(SELF_SIGNED_CERT), &data_dir.join(SELF_SIGNED_KEY), true)?;
    Ok(info)
}

/// Makes sure a self-signed certificate for `hostnames` exists. Returns true when it
/// was (re)generated: on first start, or when the requested names changed.
fn ensure_self_signed(data_dir: &Path, hostnames: &[String]) -> anyhow::Result<bool> {
    let names = names_for(hostnames);
    let cert_path = data_dir.join(SELF_SIGNED_CERT);
    let key_path = data_dir.join(SELF_SIGNED_KEY);
    let names_path = data_dir.join(SELF_SIGNED_NAMES);
    let recorded = fs::read_to_string(&names_path).unwrap_or_default();
    let want = names.join("\n");
    if cert_path.exists() && key_path.exists() && recorded.trim() == want {
        return Ok(false);
    }
    if cert_path.exists() {
        tracing::warn!(names = %want.replace('\n', ","), "the requested host names changed; generating a new self-signed certificate");
    }
    let key = rcgen::KeyPair::generate().context("generating the TLS key")?;
    let mut params = rcgen::CertificateParams::new(names.clone()).context("certificate names")?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "gatehouse self-signed");
    // Valid from last year for ten years (rcgen's default runs to the year 4096).
    let year = i32::try_from(1970 + crate::clock::Clock::system().now_secs() / 31_556_952).unwrap_or(2026);
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let cert = params.self_signed(&key).context("self-signing the certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(&names_path, want.as_bytes(), 0o644)?;
    Ok(true)
}

fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_file(path, data, 0o600)
}

/// Writes `data` to a temporary file and renames it into place, so a crash never
/// leaves half a key.
fn write_file(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_generated_once_and_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let source = TlsSource::SelfSigned { hostnames: vec!["auth.example.lan".into()] };
        let (_, first, _) = load(&source, dir.path()).unwrap().unwrap();
        assert!(first.generated);
        let (_, again, _) = load(&source, dir.path()).unwrap().unwrap();
        assert!(!again.generated);
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let mode = fs::metadata(dir.path().join(SELF_SIGNED_KEY)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let other = TlsSource::SelfSigned { hostnames: vec!["other.lan".into()] };
        let (_, changed, store) = load(&other, dir.path()).unwrap().unwrap();
        assert!(changed.generated);
        assert_ne!(changed.fingerprint, first.fingerprint);
        // A reload of unchanged files keeps the same certificate; a broken file is
        // refused and the one in use is kept.
        assert_eq!(store.reload().unwrap().fingerprint, changed.fingerprint);
        fs::write(dir.path().join(SELF_SIGNED_CERT), "garbage").unwrap();
        assert!(store.reload().is_err());
    }

    #[test]
    fn details_and_regeneration() {
        let dir = tempfile::tempdir().unwrap();
        let first = regenerate(dir.path(), &["auth.lan".into()]).unwrap();
        let d =
            details(&dir.path().join(SELF_SIGNED_CERT), crate::clock::Clock::system().now_secs()).unwrap();
        assert_eq!(d.names, ["localhost", "127.0.0.1", "::1", "auth.lan"]);
        assert_eq!(d.fingerprint, first.fingerprint);
        assert!((3000..=4100).contains(&d.days_left), "{}", d.days_left);
        let second = regenerate(dir.path(), &["auth.lan".into()]).unwrap();
        assert_ne!(second.fingerprint, first.fingerprint, "regenerate makes a new key");
    }

    #[test]
    fn missing_or_bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        fs::write(&bad, "not pem").unwrap();
        let source = TlsSource::Files { cert: bad.clone(), key: bad };
        let err = load(&source, dir.path()).unwrap_err().to_string();
        assert!(err.contains("bad.pem"), "{err}");
        let missing =
            TlsSource::Files { cert: dir.path().join("none.pem"), key: dir.path().join("none.key") };
        assert!(load(&missing, dir.path()).is_err());
    }
}
