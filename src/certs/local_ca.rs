//! The generated certificates: a local certificate authority kept in the data
//! directory, and the short-lived certificate it signs for this server (the leaf),
//! which is what is served. Operator-provided `--tls-cert`/`--tls-key` never come
//! here: they are never touched or renewed.
//!
//! Files (the data directory is 0700):
//! - `tls-ca.pem`: the CA certificate (ECDSA P-256, ten years, name-constrained to
//!   this server's names). Clients trust it once, or pin its fingerprint.
//! - `tls-ca-key.pem` (0600): its key.
//! - `tls-cert.pem`: the leaf then the CA. The leaf is served; used as a CA file
//!   it holds the CA, so clients pointed at it keep working across renewals.
//! - `tls-key.pem` (0600): the leaf's key, kept across renewals (so public-key pins
//!   stay valid) and replaced only by [`regenerate`].
//! - `tls.lock`: serialises the server's checks and `gatehouse cert regenerate`.
//!
//! [`ensure`] looks at what is on disk and repairs or renews it: a missing or
//! unusable CA, one about to expire or not allowed to sign a requested name, makes
//! a new CA (clients must trust it again); otherwise a leaf that is missing, not
//! issued by the CA, for other names, or within [`RENEW_BEFORE_DAYS`] of expiry is
//! reissued. An earlier release's ten-year self-signed certificate is upgraded the
//! same way (its key is kept, so a public-key pin survives).

use super::inspect::{self, rfc3339, Summary};
use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, PublicKeyData, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The leaf (served) then the CA (so the file works as a CA file).
pub const CHAIN_FILE: &str = "tls-cert.pem";
/// The leaf's private key (0600).
pub const KEY_FILE: &str = "tls-key.pem";
/// The local CA's certificate.
pub const CA_FILE: &str = "tls-ca.pem";
/// The local CA's private key (0600).
pub const CA_KEY_FILE: &str = "tls-ca-key.pem";
const LOCK_FILE: &str = "tls.lock";
/// Written by releases before the local CA; the names now live in the leaf itself.
const OLD_NAMES_FILE: &str = "tls-names.txt";

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// The leaf's lifetime: Mozilla's recommended 90 days (its intermediate profile
/// allows at most 366).
pub const LEAF_DAYS: i64 = 90;
/// A leaf is renewed when less than a third of its life is left: a month of
/// hourly chances before a client could see an expired certificate.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// The CA's lifetime. It is replaced (and must be trusted again) once less than
/// one leaf lifetime is left.
pub const CA_DAYS: i64 = 3_650;
/// Why a data directory of an earlier release gets a CA.
const UPGRADE: &str = "an earlier release's self-signed certificate is replaced by a local CA and a 90-day \
     certificate for the same key";
/// Names every generated leaf carries, before the `--hostname`s.
const BUILTIN_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Everything was in order.
    Unchanged,
    /// First start: a CA and a leaf were made.
    Created,
    /// A new leaf from the existing CA (clients need do nothing), and why.
    NewLeaf(String),
    /// A new CA and leaf: clients must trust the new CA. And why.
    NewCa(String),
}

/// The names a leaf is made for: localhost, 127.0.0.1, ::1 and each `--hostname`
/// (DNS names lower-cased, addresses in canonical form, no duplicates).
pub fn names_for(hostnames: &[String]) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for h in hostnames {
        let h = h.parse::<IpAddr>().map_or_else(|_| h.to_ascii_lowercase(), |ip| ip.to_string());
        if !names.contains(&h) {
            names.push(h);
        }
    }
    names
}

/// Checks the generated certificates and repairs or renews them; see the module doc.
pub fn ensure(data_dir: &Path, hostnames: &[String], now: i64) -> anyhow::Result<Change> {
    let _lock = lock(data_dir)?;
    let _ = fs::remove_file(data_dir.join(OLD_NAMES_FILE));
    let names = names_for(hostnames);
    let usable = Ca::load(data_dir).and_then(|ca| match ca.problem(&names, now) {
        Some(reason) => bail!(reason),
        None => Ok(ca),
    });
    let ca = match usable {
        Ok(ca) => ca,
        Err(e) => {
            let change = match (data_dir.join(CA_FILE).exists(), data_dir.join(CHAIN_FILE).exists()) {
                (false, false) => Change::Created,
                (false, true) => Change::NewCa(UPGRADE.into()),
                (true, _) => Change::NewCa(format!("{e:#}")),
            };
            let ca = Ca::create(data_dir, &names, now)?;
            issue_leaf(data_dir, &ca, &names, now, true)?;
            return Ok(change);
        }
    };
    match leaf_problem(data_dir, &ca, &names, now) {
        None => Ok(Change::Unchanged),
        Some(reason) => {
            issue_leaf(data_dir, &ca, &names, now, true)?;
            Ok(Change::NewLeaf(reason))
        }
    }
}

/// Makes a new CA and a new leaf, both with new keys (`gatehouse cert regenerate`).
pub fn regenerate(data_dir: &Path, hostnames: &[String], now: i64) -> anyhow::Result<()> {
    let _lock = lock(data_dir)?;
    let _ = fs::remove_file(data_dir.join(OLD_NAMES_FILE));
    let names = names_for(hostnames);
    let ca = Ca::create(data_dir, &names, now)?;
    issue_leaf(data_dir, &ca, &names, now, false)
}

/// The local CA, loaded.
struct Ca {
    key: KeyPair,
    der: CertificateDer<'static>,
    pem: String,
    summary: Summary,
}

impl Ca {
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let key_path = dir.join(CA_KEY_FILE);
        let key_pem =
            fs::read_to_string(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{} is not a usable key", key_path.display()))?;
        let pem = fs::read_to_string(dir.join(CA_FILE)).with_context(|| format!("cannot read {CA_FILE}"))?;
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .with_context(|| format!("{CA_FILE} is not PEM"))?;
        if key.subject_public_key_info() != inspect::public_key_der(&der)? {
            bail!("{CA_KEY_FILE} is not the key of {CA_FILE}");
        }
        let summary = inspect::summarize(&der)?;
        if !summary.is_ca {
            bail!("{CA_FILE} is not a CA certificate");
        }
        Ok(Self { key, der, pem, summary })
    }

    /// Why this CA cannot go on signing leaves for `names`, if it cannot.
    fn problem(&self, names: &[String], now: i64) -> Option<String> {
        if self.summary.not_after - now < LEAF_DAYS * DAY {
            return Some(format!("the local CA expires {}", rfc3339(self.summary.not_after)));
        }
        // A CA without name constraints (one the operator put there) may sign anything.
        let permitted = &self.summary.permitted;
        let outside = names
            .iter()
            .map(|n| constraint_text(n))
            .find(|c| !permitted.is_empty() && !permitted.contains(c));
        outside
            .map(|c| format!("{c} is outside the names the local CA may sign for ({})", permitted.join(", ")))
    }

    fn create(dir: &Path, names: &[String], now: i64) -> anyhow::Result<Self> {
        let key = KeyPair::generate().context("generating the CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
        let id = crate::crypto::secrets::hex(&params.key_identifier(&key)[..4]).to_ascii_uppercase();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, format!("gatehouse local CA {id}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: names.iter().map(|n| subtree(n)).collect(),
            excluded_subtrees: vec![],
        });
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial()?);
        validity(&mut params, now - DAY, now - DAY + CA_DAYS * DAY);
        let cert = params.self_signed(&key).context("self-signing the CA certificate")?;
        write_file(&dir.join(CA_KEY_FILE), key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&dir.join(CA_FILE), cert.pem().as_bytes(), 0o644)?;
        let summary = inspect::summarize(cert.der())?;
        Ok(Self { key, der: cert.der().clone(), pem: cert.pem(), summary })
    }
}

/// Why the leaf on disk must be reissued, if it must.
fn leaf_problem(dir: &Path, ca: &Ca, names: &[String], now: i64) -> Option<String> {
    let chain = match inspect::read_chain(&dir.join(CHAIN_FILE)) {
        Ok(chain) => chain,
        Err(e) => return Some(format!("{e:#}")),
    };
    let leaf = &chain[0];
    if !inspect::signed_by(leaf, &ca.der) {
        return Some(format!("{CHAIN_FILE} was not issued by the local CA"));
    }
    if chain[1..] != [ca.der.clone()] {
        return Some(format!("{CHAIN_FILE} does not end with the local CA"));
    }
    let key = fs::read_to_string(dir.join(KEY_FILE)).ok().and_then(|pem| KeyPair::from_pem(&pem).ok());
    if key.map(|k| k.subject_public_key_info()) != inspect::public_key_der(leaf).ok() {
        return Some(format!("{KEY_FILE} is missing or not the certificate's key"));
    }
    let leaf = match inspect::summarize(leaf) {
        Ok(s) => s,
        Err(e) => return Some(format!("{e:#}")),
    };
    let (mut have, mut want) = (leaf.names.clone(), names.to_vec());
    have.sort();
    want.sort();
    if have != want {
        return Some(format!("the host names changed to {}", names.join(", ")));
    }
    if now < leaf.not_before {
        return Some(format!("it is not valid until {}: the clock went back", rfc3339(leaf.not_before)));
    }
    if leaf.not_after - now < RENEW_BEFORE_DAYS * DAY {
        return Some(format!("it expires {}", rfc3339(leaf.not_after)));
    }
    None
}

/// Signs a new leaf for `names` with `ca` and writes the key (if new) and the chain.
fn issue_leaf(dir: &Path, ca: &Ca, names: &[String], now: i64, keep_key: bool) -> anyhow::Result<()> {
    let kept = if keep_key { reusable_key(dir) } else { None };
    let (key, new_key) = match kept {
        Some(k) => (k, false),
        None => (KeyPair::generate().context("generating the TLS key")?, true),
    };
    let mut params = CertificateParams::new(names.to_vec()).context("certificate names")?;
    params.distinguished_name = DistinguishedName::new();
    let cn = names.get(BUILTIN_NAMES.len()).map_or("localhost", String::as_str);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(serial()?);
    // An hour of slack for clients whose clocks run a little behind.
    validity(&mut params, now - HOUR, now - HOUR + LEAF_DAYS * DAY);
    let issuer = Issuer::from_ca_cert_der(&ca.der, &ca.key).context("reading the local CA")?;
    let cert = params.signed_by(&key, &issuer).context("signing the TLS certificate")?;
    if new_key {
        write_file(&dir.join(KEY_FILE), key.serialize_pem().as_bytes(), 0o600)?;
    }
    let chain = format!("{}{}", cert.pem(), ca.pem);
    write_file(&dir.join(CHAIN_FILE), chain.as_bytes(), 0o644)
}

/// The leaf key on disk, if it is one gatehouse would have made (ECDSA P-256).
fn reusable_key(dir: &Path) -> Option<KeyPair> {
    let pem = fs::read_to_string(dir.join(KEY_FILE)).ok()?;
    KeyPair::from_pem(&pem).ok().filter(|k| k.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256)
}

/// A name as the CA's name constraints hold it: an address as a single-address
/// range, a wildcard as its parent domain.
fn subtree(name: &str) -> GeneralSubtree {
    match name.parse::<IpAddr>() {
        Ok(ip) => {
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(ip, if ip.is_ipv4() { 32 } else { 128 }))
        }
        Err(_) => GeneralSubtree::DnsName(name.trim_start_matches("*.").to_owned()),
    }
}

/// [`subtree`] as [`inspect::Summary::permitted`] prints it.
fn constraint_text(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(ip) => format!("{ip}/{}", if ip.is_ipv4() { 32 } else { 128 }),
        Err(_) => name.trim_start_matches("*.").to_owned(),
    }
}

/// 128 random bits, positive (RFC 5280 4.1.2.2): unique even when a key is reused.
fn serial() -> anyhow::Result<SerialNumber> {
    let mut b = crate::crypto::secrets::random_bytes::<16>()?;
    b[0] = (b[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&b))
}

/// Sets the validity period from Unix times (seconds).
fn validity(params: &mut CertificateParams, from: i64, until: i64) {
    let secs = |t: i64| std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + secs(from);
    params.not_after = epoch + secs(until);
}

/// Holds `tls.lock` until dropped.
fn lock(dir: &Path) -> anyhow::Result<fs::File> {
    let path = dir.join(LOCK_FILE);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.lock().with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(f)
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
