//! Tests of the generated certificates (first start, renewal, upgrade, repair, name
//! constraints) and of the certificate store that serves them. Certificates are
//! checked the way clients check them: rustls's webpki verifier at a given time.

use super::inspect::{self, Summary};
use super::local_ca::{self, Change, CA_DAYS, LEAF_DAYS, RENEW_BEFORE_DAYS};
use super::*;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::fs;
use std::os::unix::fs::PermissionsExt;

const DAY: i64 = 86_400;
/// 2026-12-01T00:00:00Z.
const T: i64 = 1_796_083_200;

fn chain(dir: &Path) -> Vec<CertificateDer<'static>> {
    inspect::read_chain(&dir.join(CHAIN_FILE)).unwrap()
}

fn leaf(dir: &Path) -> Summary {
    inspect::summarize(&chain(dir)[0]).unwrap()
}

fn ca(dir: &Path) -> Summary {
    inspect::summarize(&inspect::read_chain(&dir.join(CA_FILE)).unwrap()[0]).unwrap()
}

/// What a client trusting the certificates in `trust` (a PEM file) decides about
/// the leaf `served` presents for `name` at `now`.
fn verify(trust: &Path, served: &CertificateDer<'static>, name: &str, now: i64) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for c in inspect::read_chain(trust).unwrap() {
        roots.add(c).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let at = UnixTime::since_unix_epoch(Duration::from_secs(now.unsigned_abs()));
    verifier.verify_server_cert(served, &[], &name, &[], at).map(|_| ())
}

fn mode(path: PathBuf) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn first_start_makes_a_ca_and_a_short_lived_leaf_that_clients_accept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(local_ca::ensure(d, &["Auth.LAN".into()], T).unwrap(), Change::Created);
    assert_eq!(mode(d.join(CA_KEY_FILE)), 0o600);
    assert_eq!(mode(d.join(KEY_FILE)), 0o600);
    let (leaf, ca) = (leaf(d), ca(d));
    // What Mozilla's intermediate profile and path validators look at.
    assert!(leaf.lifetime_days() <= 366 && leaf.lifetime_days() == LEAF_DAYS, "{}", leaf.lifetime_days());
    assert!(leaf.has_aki && !leaf.is_ca);
    assert_eq!(leaf.names, ["localhost", "127.0.0.1", "::1", "auth.lan"]);
    assert!(ca.is_ca && ca.lifetime_days() == CA_DAYS);
    assert_eq!(ca.permitted, ["localhost", "127.0.0.1/32", "::1/128", "auth.lan"]);
    // The file holds the leaf then the CA, so it works as a CA file.
    let c = chain(d);
    assert_eq!(c.len(), 2);
    assert!(inspect::signed_by(&c[0], &c[1]));
    for name in ["localhost", "127.0.0.1", "::1", "auth.lan"] {
        verify(&d.join(CA_FILE), &c[0], name, T).unwrap();
        verify(&d.join(CHAIN_FILE), &c[0], name, T).unwrap();
    }
    assert!(verify(&d.join(CA_FILE), &c[0], "other.lan", T).is_err());
    assert_eq!(local_ca::ensure(d, &["auth.lan".into()], T + DAY).unwrap(), Change::Unchanged);
}

#[test]
fn leaf_is_renewed_a_month_before_expiry_with_the_same_key_and_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    local_ca::ensure(d, &[], T).unwrap();
    let before = d.join("trusted-before.pem");
    fs::copy(d.join(CHAIN_FILE), &before).unwrap();
    let (old, old_ca) = (leaf(d), ca(d));
    let due = T + (LEAF_DAYS - RENEW_BEFORE_DAYS) * DAY;
    assert_eq!(local_ca::ensure(d, &[], due - 2 * 3_600).unwrap(), Change::Unchanged);
    let change = local_ca::ensure(d, &[], due).unwrap();
    assert!(matches!(&change, Change::NewLeaf(r) if r.starts_with("it expires")), "{change:?}");
    let new = leaf(d);
    assert_ne!(new.fingerprint, old.fingerprint);
    assert_eq!(new.key_pin, old.key_pin, "public-key pins survive a renewal");
    assert_eq!(ca(d).fingerprint, old_ca.fingerprint);
    assert!(new.not_after > old.not_after + (LEAF_DAYS - RENEW_BEFORE_DAYS - 1) * DAY);
    // A client that took tls-cert.pem before the renewal accepts the new leaf, also
    // after the old one has expired.
    verify(&before, &chain(d)[0], "localhost", old.not_after + DAY).unwrap();
    // Serial numbers differ even though the key is the same (RFC 5280 4.1.2.2).
    let serial =
        |c: &CertificateDer<'_>| x509_parser::parse_x509_certificate(c).unwrap().1.raw_serial().to_vec();
    assert_ne!(serial(&chain(d)[0]), serial(&inspect::read_chain(&before).unwrap()[0]));
}

#[test]
fn an_earlier_release_self_signed_certificate_is_upgraded_keeping_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // What releases before the local CA wrote: one self-signed certificate, ten years.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(local_ca::names_for(&[])).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "gatehouse self-signed");
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    fs::write(d.join(CHAIN_FILE), params.self_signed(&key).unwrap().pem()).unwrap();
    fs::write(d.join(KEY_FILE), key.serialize_pem()).unwrap();
    fs::write(d.join("tls-names.txt"), "localhost\n127.0.0.1\n::1").unwrap();
    let old_pin = leaf(d).key_pin;
    assert_eq!(leaf(d).lifetime_days(), 4_017);
    let change = local_ca::ensure(d, &[], T).unwrap();
    assert!(matches!(&change, Change::NewCa(r) if r.contains("earlier release")), "{change:?}");
    assert_eq!(leaf(d).key_pin, old_pin);
    assert_eq!(leaf(d).lifetime_days(), LEAF_DAYS);
    assert!(!d.join("tls-names.txt").exists());
    verify(&d.join(CHAIN_FILE), &chain(d)[0], "localhost", T).unwrap();
}

#[test]
fn names_the_ca_covers_reissue_the_leaf_and_others_need_a_new_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    local_ca::ensure(d, &["auth.lan".into(), "10.0.0.5".into()], T).unwrap();
    let first_ca = ca(d).fingerprint;
    // Dropping a name: the CA may still sign the rest.
    let change = local_ca::ensure(d, &["auth.lan".into()], T).unwrap();
    assert!(matches!(&change, Change::NewLeaf(r) if r.contains("host names changed")), "{change:?}");
    assert_eq!(ca(d).fingerprint, first_ca);
    assert_eq!(leaf(d).names, ["localhost", "127.0.0.1", "::1", "auth.lan"]);
    // A name outside the CA's constraints: a new CA.
    let change = local_ca::ensure(d, &["auth.lan".into(), "*.apps.lan".into()], T).unwrap();
    assert!(matches!(&change, Change::NewCa(r) if r.starts_with("apps.lan is outside")), "{change:?}");
    assert_ne!(ca(d).fingerprint, first_ca);
    verify(&d.join(CA_FILE), &chain(d)[0], "auth.lan", T).unwrap();
    verify(&d.join(CA_FILE), &chain(d)[0], "wiki.apps.lan", T).unwrap();
}

/// The CA key can only vouch for this server's names: a certificate it signs for
/// any other name is refused by clients that trust it (name constraints), so
/// trusting the CA does not let a stolen data directory impersonate other sites.
#[test]
fn a_certificate_the_ca_signs_for_another_site_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    local_ca::ensure(d, &[], T).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(&fs::read_to_string(d.join(CA_KEY_FILE)).unwrap()).unwrap();
    let ca_der = inspect::read_chain(&d.join(CA_FILE)).unwrap().remove(0);
    let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der, ca_key).unwrap();
    for (names, ask) in [
        (vec!["bank.example".to_string()], "bank.example"),
        (vec!["localhost".into(), "bank.example".into()], "localhost"),
        (vec!["192.168.1.1".into()], "192.168.1.1"),
    ] {
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.use_authority_key_identifier_extension = true;
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2027, 1, 1);
        let forged = params.signed_by(&rcgen::KeyPair::generate().unwrap(), &issuer).unwrap();
        let err = verify(&d.join(CA_FILE), forged.der(), ask, T).unwrap_err();
        assert!(format!("{err:?}").contains("NameConstraint"), "{ask}: {err:?}");
    }
}

#[test]
fn ca_is_replaced_before_it_would_outlive_a_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    local_ca::ensure(d, &[], T).unwrap();
    let first = ca(d);
    let late = first.not_after - LEAF_DAYS * DAY + 1;
    let change = local_ca::ensure(d, &[], late).unwrap();
    assert!(matches!(&change, Change::NewCa(r) if r.starts_with("the local CA expires")), "{change:?}");
    assert!(ca(d).not_after > first.not_after);
}

#[test]
fn damaged_or_mismatched_files_are_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    local_ca::ensure(d, &[], T).unwrap();
    let ca_fp = ca(d).fingerprint;
    fs::write(d.join(CHAIN_FILE), "garbage").unwrap();
    assert!(matches!(local_ca::ensure(d, &[], T).unwrap(), Change::NewLeaf(_)));
    fs::remove_file(d.join(KEY_FILE)).unwrap();
    let change = local_ca::ensure(d, &[], T).unwrap();
    assert!(matches!(&change, Change::NewLeaf(r) if r.contains(KEY_FILE)), "{change:?}");
    // The clock went back (a wrong clock at the last renewal).
    let change = local_ca::ensure(d, &[], T - DAY).unwrap();
    assert!(matches!(&change, Change::NewLeaf(r) if r.contains("clock went back")), "{change:?}");
    assert_eq!(ca(d).fingerprint, ca_fp);
    // A CA key that is not the CA certificate's: a new CA.
    fs::write(d.join(CA_KEY_FILE), rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    assert!(matches!(local_ca::ensure(d, &[], T).unwrap(), Change::NewCa(_)));
    assert_ne!(ca(d).fingerprint, ca_fp);
    verify(&d.join(CA_FILE), &chain(d)[0], "localhost", T).unwrap();
    assert_eq!(local_ca::ensure(d, &[], T).unwrap(), Change::Unchanged);
}

#[test]
fn regenerate_makes_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    local_ca::ensure(d, &[], T).unwrap();
    let (old_leaf, old_ca) = (leaf(d), ca(d));
    local_ca::regenerate(d, &[], T).unwrap();
    assert_ne!(leaf(d).key_pin, old_leaf.key_pin);
    assert_ne!(ca(d).key_pin, old_ca.key_pin);
    assert_eq!(local_ca::ensure(d, &[], T).unwrap(), Change::Unchanged);
}

#[test]
fn the_store_serves_the_leaf_and_swaps_in_a_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::pinned(T);
    let source = TlsSource::SelfSigned { hostnames: vec![] };
    let (_, first, store) = load(&source, dir.path(), &clock).unwrap().unwrap();
    assert!(first.generated && store.is_generated());
    assert_eq!(first.ca.as_ref().unwrap().fingerprint, ca(dir.path()).fingerprint);
    assert_eq!(store.served().cert, chain(dir.path())[..1], "only the leaf is sent");
    let (_, again, _) = load(&source, dir.path(), &clock).unwrap().unwrap();
    assert!(!again.generated);
    assert_eq!(again.fingerprint, first.fingerprint);
    assert!(store.check().unwrap().is_none(), "nothing due");
    clock.advance(Duration::from_secs(((LEAF_DAYS - RENEW_BEFORE_DAYS) * DAY).unsigned_abs()));
    let renewed = store.check().unwrap().expect("renewed and swapped");
    assert_ne!(renewed.fingerprint, first.fingerprint);
    assert_eq!(renewed.key_pin, first.key_pin);
    assert_eq!(inspect::fingerprint(&store.served().cert[0]), renewed.fingerprint);
    // `cert regenerate` beside the running server: the next check serves it.
    local_ca::regenerate(dir.path(), &[], clock.now_secs()).unwrap();
    let swapped = store.check().unwrap().expect("picked up");
    assert_eq!(swapped.fingerprint, leaf(dir.path()).fingerprint);
    // A file broken by hand is repaired on SIGHUP rather than refused.
    fs::write(dir.path().join(CHAIN_FILE), "garbage").unwrap();
    assert_eq!(store.reload().unwrap().fingerprint, leaf(dir.path()).fingerprint);
}

#[test]
fn operator_files_are_served_as_they_are_and_never_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    // An operator's certificate that the generator would consider long overdue.
    local_ca::ensure(files.path(), &[], T - 400 * DAY).unwrap();
    let (cert, key) = (files.path().join(CHAIN_FILE), files.path().join(KEY_FILE));
    let bytes = fs::read(&cert).unwrap();
    let source = TlsSource::Files { cert: cert.clone(), key: key.clone() };
    let (_, info, store) = load(&source, dir.path(), &Clock::pinned(T)).unwrap().unwrap();
    assert!(info.ca.is_none() && !store.is_generated());
    assert_eq!(store.served().cert.len(), 2, "the operator's chain is sent as it is");
    assert!(store.check().unwrap().is_none());
    store.reload().unwrap();
    assert_eq!(fs::read(&cert).unwrap(), bytes);
    assert!(!dir.path().join(CA_FILE).exists() && !dir.path().join(CHAIN_FILE).exists());
    // A broken file is refused on reload and the certificate in use is kept.
    fs::write(&cert, "garbage").unwrap();
    assert!(store.reload().is_err());
    assert_eq!(store.served().cert.len(), 2);
}

#[test]
fn missing_or_bad_operator_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    fs::write(&bad, "not pem").unwrap();
    let source = TlsSource::Files { cert: bad.clone(), key: bad };
    let err = format!("{:#}", load(&source, dir.path(), &Clock::system()).unwrap_err());
    assert!(err.contains("bad.pem"), "{err}");
    let missing = TlsSource::Files { cert: dir.path().join("none.pem"), key: dir.path().join("none.key") };
    assert!(load(&missing, dir.path(), &Clock::system()).is_err());
}
