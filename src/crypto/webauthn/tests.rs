//! Parsing and verification against bytes made here by hand (a small CBOR writer
//! and ring's signers), so the parser is not tested against itself.

use super::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};

/// Just enough CBOR to write what authenticators write (canonical heads).
enum C {
    U(u64),
    N(i64),
    B(Vec<u8>),
    T(&'static str),
    M(Vec<(C, C)>),
}

fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn enc(c: &C, out: &mut Vec<u8>) {
    match c {
        C::U(n) => head(0, *n, out),
        C::N(n) => head(1, (-1 - n) as u64, out),
        C::B(b) => {
            head(2, b.len() as u64, out);
            out.extend(b);
        }
        C::T(s) => {
            head(3, s.len() as u64, out);
            out.extend(s.as_bytes());
        }
        C::M(pairs) => {
            head(5, pairs.len() as u64, out);
            for (k, v) in pairs {
                enc(k, out);
                enc(v, out);
            }
        }
    }
}

fn cbor(c: C) -> Vec<u8> {
    let mut out = Vec::new();
    enc(&c, &mut out);
    out
}

/// A software authenticator's key: signs, and says its COSE_Key.
enum Signer {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rs(RsaKeyPair),
}

impl Signer {
    fn new(alg: CoseAlg) -> Self {
        let rng = SystemRandom::new();
        match alg {
            CoseAlg::Es256 => {
                let a = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
                let pk8 = EcdsaKeyPair::generate_pkcs8(a, &rng).unwrap();
                Signer::Es(EcdsaKeyPair::from_pkcs8(a, pk8.as_ref(), &rng).unwrap())
            }
            CoseAlg::EdDsa => {
                let pk8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                Signer::Ed(Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap())
            }
            CoseAlg::Rs256 => {
                let pk8 = super::super::rsa_keygen::generate_pkcs8().unwrap();
                Signer::Rs(RsaKeyPair::from_pkcs8(&pk8).unwrap())
            }
        }
    }

    fn cose(&self) -> Vec<u8> {
        match self {
            Signer::Es(k) => {
                let p = k.public_key().as_ref();
                cbor(C::M(vec![
                    (C::U(1), C::U(2)),
                    (C::U(3), C::N(-7)),
                    (C::N(-1), C::U(1)),
                    (C::N(-2), C::B(p[1..33].to_vec())),
                    (C::N(-3), C::B(p[33..65].to_vec())),
                ]))
            }
            Signer::Ed(k) => cbor(C::M(vec![
                (C::U(1), C::U(1)),
                (C::U(3), C::N(-8)),
                (C::N(-1), C::U(6)),
                (C::N(-2), C::B(k.public_key().as_ref().to_vec())),
            ])),
            Signer::Rs(k) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                cbor(C::M(vec![
                    (C::U(1), C::U(3)),
                    (C::U(3), C::N(-257)),
                    (C::N(-1), C::B(c.n)),
                    (C::N(-2), C::B(c.e)),
                ]))
            }
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Es(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Signer::Rs(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
                sig
            }
        }
    }
}

fn auth_data(flags: u8, count: u32, attested: Option<(&[u8], &[u8])>, ext: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = super::super::secrets::sha256(b"example.com").to_vec();
    out.push(flags);
    out.extend(count.to_be_bytes());
    if let Some((id, key)) = attested {
        out.extend([0u8; 16]);
        out.extend((id.len() as u16).to_be_bytes());
        out.extend(id);
        out.extend(key);
    }
    if let Some(e) = ext {
        out.extend(e);
    }
    out
}

fn attestation(auth: &[u8]) -> Vec<u8> {
    cbor(C::M(vec![
        (C::T("fmt"), C::T("none")),
        (C::T("attStmt"), C::M(vec![])),
        (C::T("authData"), C::B(auth.to_vec())),
    ]))
}

#[test]
fn registration_data_of_every_algorithm_parses_and_its_key_verifies() {
    for alg in ALGORITHMS {
        let s = Signer::new(alg);
        let cose = s.cose();
        let ext = cbor(C::M(vec![(C::T("credProtect"), C::U(2))]));
        let auth = auth_data(FLAG_UP | FLAG_UV | FLAG_AT | FLAG_ED, 0, Some((b"cred-1", &cose)), Some(ext));
        let obj = attestation(&auth);
        let inner = parse_attestation_object(&obj).unwrap();
        let parsed = parse_auth_data(inner).unwrap();
        assert_eq!(parsed.rp_id_hash, super::super::secrets::sha256(b"example.com"));
        assert!(parsed.has(FLAG_UP) && parsed.has(FLAG_UV) && !parsed.has(FLAG_BE));
        let a = parsed.attested.unwrap();
        assert_eq!((a.credential_id, a.public_key, a.alg), (&b"cred-1"[..], &cose[..], alg));
        assert_eq!(key_algorithm(a.public_key).unwrap(), alg);
        // An assertion made with it.
        let client = br#"{"type":"webauthn.get","challenge":"AAAA","origin":"https://example.com"}"#;
        let assertion = auth_data(FLAG_UP, 7, None, None);
        let mut msg = assertion.clone();
        msg.extend(super::super::secrets::sha256(client));
        let sig = s.sign(&msg);
        assert_eq!(verify(&cose, &assertion, client, &sig), Ok(()), "{alg:?}");
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(verify(&cose, &assertion, client, &bad), Err(WebAuthnError::BadSignature), "{alg:?}");
        let other = br#"{"type":"webauthn.get","challenge":"AAAB","origin":"https://example.com"}"#;
        assert_eq!(verify(&cose, &assertion, other, &sig), Err(WebAuthnError::BadSignature), "{alg:?}");
        assert_eq!(parse_auth_data(&assertion).unwrap().sign_count, 7);
    }
}

#[test]
fn malformed_authenticator_data_is_refused() {
    let s = Signer::new(CoseAlg::EdDsa);
    let cose = s.cose();
    let good = auth_data(FLAG_UP | FLAG_AT, 0, Some((b"id", &cose)), None);
    assert!(parse_auth_data(&good).is_ok());
    assert!(parse_auth_data(&good[..36]).is_err(), "short head");
    assert!(parse_auth_data(&good[..good.len() - 1]).is_err(), "truncated key");
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(parse_auth_data(&trailing).is_err(), "trailing byte");
    assert!(
        parse_auth_data(&auth_data(FLAG_UP, 0, None, Some(vec![0xa0]))).is_err(),
        "extensions without ED"
    );
    assert!(parse_auth_data(&auth_data(FLAG_UP | FLAG_ED, 0, None, Some(vec![0x80]))).is_err(), "not a map");
    assert!(parse_auth_data(&auth_data(FLAG_UP | FLAG_AT, 0, Some((b"", &cose)), None)).is_err(), "empty id");
    let long = vec![1u8; MAX_CREDENTIAL_ID + 1];
    assert!(parse_auth_data(&auth_data(FLAG_UP | FLAG_AT, 0, Some((&long, &cose)), None)).is_err());
}

#[test]
fn unsupported_and_inconsistent_keys_are_refused() {
    let x = || C::B(vec![1; 32]);
    let cases = [
        // ES384 (-35) is not offered.
        (
            vec![
                (C::U(1), C::U(2)),
                (C::U(3), C::N(-35)),
                (C::N(-1), C::U(2)),
                (C::N(-2), x()),
                (C::N(-3), x()),
            ],
            "ES384",
        ),
        // ES256 on the wrong curve, EdDSA on X25519, an EC2 key claiming EdDSA.
        (
            vec![
                (C::U(1), C::U(2)),
                (C::U(3), C::N(-7)),
                (C::N(-1), C::U(8)),
                (C::N(-2), x()),
                (C::N(-3), x()),
            ],
            "curve",
        ),
        (vec![(C::U(1), C::U(1)), (C::U(3), C::N(-8)), (C::N(-1), C::U(4)), (C::N(-2), x())], "X25519"),
        (vec![(C::U(1), C::U(2)), (C::U(3), C::N(-8)), (C::N(-1), C::U(6)), (C::N(-2), x())], "kty"),
        // Short coordinates, a missing y, no alg, a repeated member, a tiny RSA key.
        (
            vec![
                (C::U(1), C::U(2)),
                (C::U(3), C::N(-7)),
                (C::N(-1), C::U(1)),
                (C::N(-2), C::B(vec![1; 31])),
                (C::N(-3), x()),
            ],
            "short",
        ),
        (vec![(C::U(1), C::U(2)), (C::U(3), C::N(-7)), (C::N(-1), C::U(1)), (C::N(-2), x())], "no y"),
        (vec![(C::U(1), C::U(1)), (C::N(-1), C::U(6)), (C::N(-2), x())], "no alg"),
        (
            vec![
                (C::U(1), C::U(1)),
                (C::U(3), C::N(-8)),
                (C::N(-1), C::U(6)),
                (C::N(-2), x()),
                (C::N(-2), x()),
            ],
            "twice",
        ),
        (
            vec![
                (C::U(1), C::U(3)),
                (C::U(3), C::N(-257)),
                (C::N(-1), C::B(vec![0xff; 128])),
                (C::N(-2), C::B(vec![1, 0, 1])),
            ],
            "RSA-1024",
        ),
    ];
    for (members, what) in cases {
        let key = cbor(C::M(members));
        assert!(key_algorithm(&key).is_err(), "{what}");
        assert!(verify(&key, b"a", b"b", b"c").is_err(), "{what}");
    }
    // Indefinite-length maps are not CTAP2's canonical form.
    assert!(key_algorithm(&[0xbf, 0x01, 0x01, 0xff]).is_err());
}

#[test]
fn attestation_objects_must_be_exact() {
    let auth = auth_data(FLAG_UP, 0, None, None);
    let good = attestation(&auth);
    assert_eq!(parse_attestation_object(&good).unwrap(), &auth[..]);
    // Another format's statement is skipped, not trusted.
    let packed = cbor(C::M(vec![
        (C::T("fmt"), C::T("packed")),
        (C::T("attStmt"), C::M(vec![(C::T("alg"), C::N(-7)), (C::T("sig"), C::B(vec![1, 2]))])),
        (C::T("authData"), C::B(auth.clone())),
    ]));
    assert_eq!(parse_attestation_object(&packed).unwrap(), &auth[..]);
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(parse_attestation_object(&trailing).is_err());
    assert!(parse_attestation_object(&good[..good.len() - 1]).is_err());
    let missing = cbor(C::M(vec![(C::T("fmt"), C::T("none")), (C::T("authData"), C::B(auth.clone()))]));
    assert!(parse_attestation_object(&missing).is_err());
    let twice = cbor(C::M(vec![
        (C::T("fmt"), C::T("none")),
        (C::T("attStmt"), C::M(vec![])),
        (C::T("authData"), C::B(auth.clone())),
        (C::T("authData"), C::B(auth)),
    ]));
    assert!(parse_attestation_object(&twice).is_err());
    assert!(parse_attestation_object(b"").is_err());
}

#[test]
fn client_data_is_read_strictly() {
    let c = parse_client_data(br#"{"type":"webauthn.create","challenge":"AQID","origin":"https://a.example","crossOrigin":false,"other":1}"#).unwrap();
    assert_eq!(
        c,
        ClientData {
            kind: "webauthn.create".into(),
            challenge: vec![1, 2, 3],
            origin: "https://a.example".into(),
            cross_origin: false
        }
    );
    let cross =
        br#"{"type":"webauthn.get","challenge":"AQID","origin":"https://a.example","crossOrigin":true}"#;
    assert!(parse_client_data(cross).unwrap().cross_origin);
    for bad in [
        &br#"{"type":"webauthn.get","challenge":"AQID"}"#[..],
        br#"{"type":"webauthn.get","challenge":"AQ==","origin":"o"}"#,
        br#"{"type":"webauthn.get","type":"webauthn.create","challenge":"AQID","origin":"o"}"#,
        b"not json",
    ] {
        assert!(parse_client_data(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}
