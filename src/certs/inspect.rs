//! Reading certificates: what `gatehouse cert show`, the start-up banner and the
//! renewal decisions need to know about one (names, validity, fingerprints, key
//! identifiers, name constraints), and whether one was signed by another.
//!
//! Only reads; it never decides what to do about what it finds.

use crate::crypto::secrets::sha256;
use anyhow::{anyhow, Context};
use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::net::IpAddr;
use std::path::Path;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};

/// One certificate, summarised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// SHA-256 of the DER, `AB:CD:...`.
    pub fingerprint: String,
    /// The subject, as text.
    pub subject: String,
    /// Subject alternative names (DNS names and IP addresses, as text).
    pub names: Vec<String>,
    /// Validity start and end, Unix seconds.
    pub not_before: i64,
    /// See `not_before`.
    pub not_after: i64,
    /// `sha256//BASE64` of the public key (SubjectPublicKeyInfo), as curl's
    /// `--pinnedpubkey` and HPKP-style pins spell it.
    pub key_pin: String,
    /// Whether it is a CA (basicConstraints cA).
    pub is_ca: bool,
    /// Whether it carries an Authority Key Identifier.
    pub has_aki: bool,
    /// Permitted name constraints: DNS names, and IP ranges as `ADDR/PREFIX`.
    pub permitted: Vec<String>,
}

impl Summary {
    /// Whole days from `now` until it expires (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// Its lifetime in whole days, as TLS scanners count it.
    pub fn lifetime_days(&self) -> i64 {
        (self.not_after - self.not_before).div_euclid(86_400)
    }
}

/// SHA-256 fingerprint as `AB:CD:...`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    sha256(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// RFC 3339 (UTC) for a Unix time in seconds.
pub fn rfc3339(secs: i64) -> String {
    crate::clock::rfc3339(secs.saturating_mul(1_000_000))
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> anyhow::Result<X509Certificate<'a>> {
    x509_parser::parse_x509_certificate(der.as_ref())
        .map(|(_, c)| c)
        .map_err(|e| anyhow!("not a valid X.509 certificate: {e}"))
}

/// Summarises one DER certificate.
pub fn summarize(der: &CertificateDer<'_>) -> anyhow::Result<Summary> {
    let cert = parse(der)?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|ext| ext.value.general_names.iter().map(general_name).collect())
        .unwrap_or_default();
    let permitted = cert
        .name_constraints()
        .ok()
        .flatten()
        .and_then(|ext| ext.value.permitted_subtrees.as_ref())
        .map(|subtrees| subtrees.iter().map(|s| constraint(&s.base)).collect())
        .unwrap_or_default();
    let has_aki = cert
        .iter_extensions()
        .any(|e| matches!(e.parsed_extension(), ParsedExtension::AuthorityKeyIdentifier(_)));
    let validity = cert.validity();
    let spki_digest = sha256(cert.public_key().raw);
    Ok(Summary {
        fingerprint: fingerprint(der),
        subject: cert.subject().to_string(),
        names,
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        key_pin: format!("sha256//{}", base64::engine::general_purpose::STANDARD.encode(spki_digest)),
        is_ca: cert.is_ca(),
        has_aki,
        permitted,
    })
}

/// Every certificate in a PEM file, in order.
pub fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} contains no certificate", path.display());
    }
    Ok(certs)
}

/// Whether `cert`'s signature verifies with `issuer`'s public key and names it as
/// issuer. Says nothing about validity dates or names.
pub fn signed_by(cert: &CertificateDer<'_>, issuer: &CertificateDer<'_>) -> bool {
    let (Ok(cert), Ok(issuer)) = (parse(cert), parse(issuer)) else {
        return false;
    };
    cert.issuer() == issuer.subject() && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// The SubjectPublicKeyInfo (DER) of a certificate.
pub fn public_key_der(der: &CertificateDer<'_>) -> anyhow::Result<Vec<u8>> {
    Ok(parse(der)?.public_key().raw.to_vec())
}

fn general_name(n: &GeneralName<'_>) -> String {
    match n {
        GeneralName::DNSName(s) => (*s).to_owned(),
        GeneralName::IPAddress(b) => ip(b).map_or_else(|| format!("{b:?}"), |a| a.to_string()),
        other => other.to_string(),
    }
}

/// A name constraint's base: a DNS name, or `ADDR/PREFIX` for an IP range (address
/// then mask, RFC 5280 4.2.1.10).
fn constraint(n: &GeneralName<'_>) -> String {
    match n {
        GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
            let (addr, mask) = b.split_at(b.len() / 2);
            let prefix: u32 = mask.iter().map(|m| m.count_ones()).sum();
            ip(addr).map_or_else(|| format!("{b:?}"), |a| format!("{a}/{prefix}"))
        }
        other => general_name(other),
    }
}

fn ip(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}
