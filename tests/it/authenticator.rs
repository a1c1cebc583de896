//! A software WebAuthn authenticator for the passkey tests: real keys (ring's
//! ECDSA P-256, Ed25519, RSA-2048), real CBOR (a tiny writer here, not the
//! server's decoder), real `clientDataJSON`, and the JSON forms a browser's
//! `PublicKeyCredential.toJSON()` sends. Every field a test may want to get
//! wrong is a plain value in [`Ceremony`], so an attack is one changed field.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse::crypto::keys::{generate, Alg};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b).as_ref().to_vec()
}

/// CBOR heads and the few item types authenticators write.
fn head(major: u8, n: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        _ => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
    }
}

fn int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        head(0, n as usize, out)
    } else {
        head(1, (-1 - n) as usize, out)
    }
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len(), out);
    out.extend(b);
}

fn text(s: &str, out: &mut Vec<u8>) {
    head(3, s.len(), out);
    out.extend(s.as_bytes());
}

/// Which key an authenticator makes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Es256,
    EdDsa,
    Rs256,
    /// An ES256 key whose COSE_Key claims ES384 (-35), which is not offered.
    Es384,
}

enum Signer {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rs(RsaKeyPair),
}

/// One credential the authenticator holds.
pub struct Credential {
    pub id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub count: u32,
    kind: Kind,
    signer: Signer,
}

impl Credential {
    pub fn new(kind: Kind) -> Self {
        let rng = SystemRandom::new();
        let signer = match kind {
            Kind::Es256 | Kind::Es384 => {
                let a = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
                let pk8 = EcdsaKeyPair::generate_pkcs8(a, &rng).unwrap();
                Signer::Es(EcdsaKeyPair::from_pkcs8(a, pk8.as_ref(), &rng).unwrap())
            }
            Kind::EdDsa => Signer::Ed(Ed25519KeyPair::from_pkcs8(&generate(Alg::EdDSA).unwrap()).unwrap()),
            Kind::Rs256 => Signer::Rs(RsaKeyPair::from_pkcs8(&generate(Alg::RS256).unwrap()).unwrap()),
        };
        let id = ring::rand::generate::<[u8; 16]>(&rng).unwrap().expose().to_vec();
        Self { id, user_handle: Vec::new(), count: 0, kind, signer }
    }

    /// The public key as a COSE_Key.
    fn cose(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match &self.signer {
            Signer::Es(k) => {
                let p = k.public_key().as_ref();
                let alg = if matches!(self.kind, Kind::Es384) { -35 } else { -7 };
                head(5, 5, &mut o);
                for (l, v) in [(1, 2), (3, alg), (-1, 1)] {
                    int(l, &mut o);
                    int(v, &mut o);
                }
                int(-2, &mut o);
                bytes(&p[1..33], &mut o);
                int(-3, &mut o);
                bytes(&p[33..65], &mut o);
            }
            Signer::Ed(k) => {
                head(5, 4, &mut o);
                for (l, v) in [(1, 1), (3, -8), (-1, 6)] {
                    int(l, &mut o);
                    int(v, &mut o);
                }
                int(-2, &mut o);
                bytes(k.public_key().as_ref(), &mut o);
            }
            Signer::Rs(k) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                head(5, 4, &mut o);
                for (l, v) in [(1, 3), (3, -257)] {
                    int(l, &mut o);
                    int(v, &mut o);
                }
                int(-1, &mut o);
                bytes(&c.n, &mut o);
                int(-2, &mut o);
                bytes(&c.e, &mut o);
            }
        }
        o
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
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

/// What goes into one answer: each a field an attack may change.
#[derive(Clone, Debug)]
pub struct Ceremony {
    pub rp_id: String,
    pub origin: String,
    pub kind: &'static str,
    pub challenge: String,
    pub flags: u8,
}

impl Ceremony {
    /// An honest ceremony for `options` (creation or request options JSON).
    pub fn honest(options: &Value, origin: &str, create: bool) -> Self {
        let rp_id = if create { &options["rp"]["id"] } else { &options["rpId"] };
        Self {
            rp_id: rp_id.as_str().unwrap().to_owned(),
            origin: origin.to_owned(),
            kind: if create { "webauthn.create" } else { "webauthn.get" },
            challenge: options["challenge"].as_str().unwrap().to_owned(),
            flags: UP | UV,
        }
    }

    pub fn client_data(&self) -> Vec<u8> {
        json!({"type": self.kind, "challenge": self.challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    fn auth_data(&self, flags: u8, count: u32) -> Vec<u8> {
        let mut out = sha256(self.rp_id.as_bytes());
        out.push(flags);
        out.extend(count.to_be_bytes());
        out
    }
}

/// `RegistrationResponseJSON` for `cred`, made under the options' user handle.
pub fn register(cred: &mut Credential, options: &Value, c: &Ceremony) -> Value {
    cred.user_handle = unb64(options["user"]["id"].as_str().unwrap());
    let mut auth = c.auth_data(c.flags | AT, cred.count);
    auth.extend([0u8; 16]);
    auth.extend((cred.id.len() as u16).to_be_bytes());
    auth.extend(&cred.id);
    auth.extend(cred.cose());
    let mut att = Vec::new();
    head(5, 3, &mut att);
    text("fmt", &mut att);
    text("none", &mut att);
    text("attStmt", &mut att);
    head(5, 0, &mut att);
    text("authData", &mut att);
    bytes(&auth, &mut att);
    json!({
        "id": b64(&cred.id), "rawId": b64(&cred.id), "type": "public-key",
        "response": {"clientDataJSON": b64(&c.client_data()), "attestationObject": b64(&att), "transports": ["internal"]},
        "clientExtensionResults": {},
    })
}

/// The raw parts of an assertion, signed; a test may change any before [`to_json`].
pub struct Parts {
    pub client_data: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
}

/// Signs an assertion with `cred`, moving its counter on by one.
pub fn assert_parts(cred: &mut Credential, c: &Ceremony) -> Parts {
    cred.count += 1;
    let client_data = c.client_data();
    let auth_data = c.auth_data(c.flags, cred.count);
    let mut msg = auth_data.clone();
    msg.extend(sha256(&client_data));
    let signature = cred.sign(&msg);
    Parts {
        client_data,
        auth_data,
        signature,
        credential_id: cred.id.clone(),
        user_handle: cred.user_handle.clone(),
    }
}

/// `AuthenticationResponseJSON`.
pub fn to_json(p: &Parts) -> Value {
    json!({
        "id": b64(&p.credential_id), "rawId": b64(&p.credential_id), "type": "public-key",
        "response": {
            "clientDataJSON": b64(&p.client_data), "authenticatorData": b64(&p.auth_data),
            "signature": b64(&p.signature), "userHandle": b64(&p.user_handle),
        },
        "clientExtensionResults": {},
    })
}

/// An honest assertion as JSON.
pub fn assertion(cred: &mut Credential, c: &Ceremony) -> Value {
    to_json(&assert_parts(cred, c))
}
