//! TLS: the certificate in use and the rustls configuration (TLS 1.2 and 1.3, ring
//! provider, ALPN h2 then http/1.1).
//!
//! The certificate is either the operator's PEM files, served as they are and
//! re-read on SIGHUP, or generated: a local CA in the data directory signs a 90-day
//! certificate for this server ([`local_ca`]), checked at start, on SIGHUP and every
//! [`CHECK_EVERY`] while serving ([`keep_renewed`]), and renewed a month before it
//! expires without a restart. Either way [`CertStore`] is the rustls certificate
//! resolver: a swap serves new connections the new certificate; open ones are not
//! disturbed.

pub use crate::certs::{fingerprint, inspect, local_ca, CA_FILE, CA_KEY_FILE, CHAIN_FILE, KEY_FILE};

use crate::clock::Clock;
use crate::config::TlsSource;
use anyhow::Context;
use local_ca::Change;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the running server checks the generated certificate.
pub const CHECK_EVERY: Duration = Duration::from_secs(3_600);

/// What is being served, for the start-up banner and the logs.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// SHA-256 of the leaf certificate, colon-separated upper-case hex.
    pub fingerprint: String,
    /// Where the certificate lives.
    pub cert_path: PathBuf,
    /// True when it was generated or renewed just now.
    pub generated: bool,
    /// When the leaf expires (Unix seconds).
    pub not_after: i64,
    /// `sha256//BASE64` of the leaf's public key (curl's `--pinnedpubkey`).
    pub key_pin: String,
    /// The local CA, when the certificate is the generated one.
    pub ca: Option<CaInfo>,
}

/// The local CA that signed the generated certificate.
#[derive(Debug, Clone)]
pub struct CaInfo {
    /// `DATA_DIR/tls-ca.pem`.
    pub path: PathBuf,
    /// SHA-256 of the CA certificate: stable across renewals.
    pub fingerprint: String,
}

/// The generated certificate's inputs: where it lives, its names, and the clock
/// that says when it is due.
#[derive(Debug)]
struct Local {
    data_dir: PathBuf,
    hostnames: Vec<String>,
    clock: Clock,
}

impl Local {
    /// Repairs or renews the files ([`local_ca::ensure`]) and logs what changed.
    fn ensure(&self) -> anyhow::Result<Change> {
        let change = local_ca::ensure(&self.data_dir, &self.hostnames, self.clock.now_secs())?;
        match &change {
            Change::Unchanged => {}
            Change::Created => tracing::info!("generated a local CA and a TLS certificate it signed"),
            Change::NewLeaf(reason) => {
                tracing::info!(%reason, "issued a new TLS certificate from the local CA")
            }
            Change::NewCa(reason) => tracing::warn!(
                %reason,
                "made a new local CA: clients that trusted or pinned the old one must take the new tls-ca.pem"
            ),
        }
        Ok(change)
    }
}

/// The certificate in use, swappable while serving.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    cert_path: PathBuf,
    key_path: PathBuf,
    local: Option<Local>,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served())
    }
}

impl CertStore {
    fn served(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn serve(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }

    /// Whether the certificate is the generated one (renewed by [`keep_renewed`]).
    pub fn is_generated(&self) -> bool {
        self.local.is_some()
    }

    /// SIGHUP: renews the generated certificate if due, then re-reads the files.
    /// A file that is missing, not PEM, or whose key does not match is refused and
    /// the certificate in use is kept.
    pub fn reload(&self) -> anyhow::Result<CertInfo> {
        if let Some(local) = &self.local {
            local.ensure()?;
        }
        self.serve_from_disk()
    }

    /// The periodic check of the generated certificate: renews it when due, and
    /// serves what is on disk if that differs from what is served (a renewal, or a
    /// `gatehouse cert regenerate`). `Some` when it swapped.
    pub fn check(&self) -> anyhow::Result<Option<CertInfo>> {
        let Some(local) = &self.local else { return Ok(None) };
        local.ensure()?;
        if inspect::read_chain(&self.cert_path)?.first() == self.served().cert.first() {
            return Ok(None);
        }
        self.serve_from_disk().map(Some)
    }

    fn serve_from_disk(&self) -> anyhow::Result<CertInfo> {
        let (key, info) = read_pair(&self.cert_path, &self.key_path, self.local.as_ref())?;
        self.serve(key);
        Ok(info)
    }
}

/// Reads and checks a certificate chain and its private key.
fn read_pair(
    cert_path: &Path,
    key_path: &Path,
    local: Option<&Local>,
) -> anyhow::Result<(CertifiedKey, CertInfo)> {
    let mut certs = inspect::read_chain(cert_path).context("cannot load the TLS certificate")?;
    if local.is_some() {
        // The generated file holds the leaf then the CA (so that it works as a CA
        // file); only the leaf is sent. Clients have the CA already, and scanners
        // flag a chain that carries its own trust anchor.
        certs.truncate(1);
    }
    let leaf = inspect::summarize(&certs[0]).with_context(|| format!("{}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!("cannot read TLS private key {} (PKCS#8, PKCS#1 or SEC1 PEM)", key_path.display())
    })?;
    let certified = CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider())
        .context("the TLS certificate and key do not match or are unsupported")?;
    let ca = match local {
        Some(l) => {
            let path = l.data_dir.join(CA_FILE);
            let der = rustls::pki_types::CertificateDer::from_pem_file(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(CaInfo { fingerprint: fingerprint(&der), path })
        }
        None => None,
    };
    let info = CertInfo {
        fingerprint: leaf.fingerprint,
        cert_path: cert_path.to_path_buf(),
        generated: false,
        not_after: leaf.not_after,
        key_pin: leaf.key_pin,
        ca,
    };
    Ok((certified, info))
}

/// Everything TLS the server needs: the rustls configuration, what was loaded, and
/// the handle that reloads it.
pub type Loaded = (Arc<ServerConfig>, CertInfo, Arc<CertStore>);

/// Builds the rustls server configuration, generating or renewing the certificate
/// when needed. `clock` says when the generated certificate is due.
pub fn load(source: &TlsSource, data_dir: &Path, clock: &Clock) -> anyhow::Result<Option<Loaded>> {
    let (cert_path, key_path, local) = match source {
        TlsSource::None => return Ok(None),
        TlsSource::Files { cert, key } => (cert.clone(), key.clone(), None),
        TlsSource::SelfSigned { hostnames } => {
            let local = Local {
                data_dir: data_dir.to_path_buf(),
                hostnames: hostnames.clone(),
                clock: clock.clone(),
            };
            (data_dir.join(CHAIN_FILE), data_dir.join(KEY_FILE), Some(local))
        }
    };
    let generated = match &local {
        Some(l) => l.ensure()? != Change::Unchanged,
        None => false,
    };
    let (certified, mut info) = read_pair(&cert_path, &key_path, local.as_ref())?;
    info.generated = generated;
    let store = Arc::new(CertStore { current: RwLock::new(Arc::new(certified)), cert_path, key_path, local });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&store) as Arc<dyn ResolvesServerCert>);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some((Arc::new(cfg), info, store)))
}

/// Checks the generated certificate every `every` until `stop` flips (the check
/// at start is [`load`]'s). A failed check is logged and tried again next time:
/// the certificate is renewed a month before it expires, so there are hundreds of
/// chances.
pub async fn keep_renewed(
    store: Arc<CertStore>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let s = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || s.check()).await {
            Ok(Ok(Some(info))) => tracing::info!(
                fingerprint = %info.fingerprint,
                not_after = %inspect::rfc3339(info.not_after),
                "now serving the renewed TLS certificate"
            ),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "TLS certificate check failed; will retry")
            }
            Err(e) => tracing::warn!(error = %e, "TLS certificate check did not finish; will retry"),
        }
    }
}

#[cfg(test)]
mod tests;
