//! WebAuthn's bytes (Level 2): the attestation object and authenticator data an
//! authenticator returns, the COSE public key inside them, the client's
//! `clientDataJSON`, and the signature check of an assertion with ring.
//!
//! Only what a relying party with attestation `none` needs: the attestation
//! statement is skipped (nothing is trusted from it), and three algorithms are
//! accepted — ES256 (ECDSA P-256, DER signatures), EdDSA (Ed25519) and RS256
//! (RSASSA-PKCS1-v1_5 with SHA-256, 2048 to 8192 bits). CBOR is read with
//! `minicbor`: definite lengths only (CTAP2's canonical form), no duplicate
//! members, nothing left over. Which values are acceptable (rp id, origin,
//! challenge, flags, counters) is the caller's business; this module only
//! parses and verifies.

use minicbor::data::Type;
use minicbor::Decoder;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// Authenticator data flag: the user was present (touched the key).
pub const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: the user was verified (PIN, biometrics).
pub const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: the credential may be backed up (a synced passkey).
pub const FLAG_BE: u8 = 0x08;
/// Authenticator data flag: the credential is backed up now.
pub const FLAG_BS: u8 = 0x10;
/// Authenticator data flag: attested credential data follows.
pub const FLAG_AT: u8 = 0x40;
/// Authenticator data flag: extensions follow.
pub const FLAG_ED: u8 = 0x80;

/// Longest credential id the specification allows.
pub const MAX_CREDENTIAL_ID: usize = 1023;

/// The COSE algorithms accepted, in the order a relying party prefers them.
pub const ALGORITHMS: [CoseAlg; 3] = [CoseAlg::Es256, CoseAlg::EdDsa, CoseAlg::Rs256];

/// A signature algorithm a passkey may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoseAlg {
    /// ECDSA with P-256 and SHA-256 (COSE -7).
    Es256,
    /// Ed25519 (COSE -8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (COSE -257).
    Rs256,
}

impl CoseAlg {
    /// The COSE algorithm identifier.
    pub fn id(self) -> i64 {
        match self {
            CoseAlg::Es256 => -7,
            CoseAlg::EdDsa => -8,
            CoseAlg::Rs256 => -257,
        }
    }

    /// The JOSE name (`ES256`, `EdDSA`, `RS256`).
    pub fn name(self) -> &'static str {
        match self {
            CoseAlg::Es256 => "ES256",
            CoseAlg::EdDsa => "EdDSA",
            CoseAlg::Rs256 => "RS256",
        }
    }

    fn from_id(id: i64) -> Option<Self> {
        ALGORITHMS.into_iter().find(|a| a.id() == id)
    }
}

/// Why bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// Not well-formed (CBOR, JSON, lengths, trailing bytes, duplicate members).
    #[error("malformed WebAuthn data: {0}")]
    Malformed(&'static str),
    /// A public key of a type or algorithm this relying party does not accept.
    #[error("unsupported public key: {0}")]
    Unsupported(&'static str),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

use WebAuthnError::{Malformed, Unsupported};

impl From<minicbor::decode::Error> for WebAuthnError {
    fn from(_: minicbor::decode::Error) -> Self {
        Malformed("invalid CBOR")
    }
}

/// Authenticator data (WebAuthn §6.1), borrowed from the bytes it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthData<'a> {
    /// SHA-256 of the rp id the authenticator signed for.
    pub rp_id_hash: [u8; 32],
    /// The flags byte.
    pub flags: u8,
    /// The signature counter (0: the authenticator keeps none).
    pub sign_count: u32,
    /// The new credential (registration only).
    pub attested: Option<Attested<'a>>,
}

impl AuthData<'_> {
    /// Whether `flag` (one of the `FLAG_*` bits) is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }
}

/// Attested credential data: a new credential and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested<'a> {
    /// The authenticator model (zero with attestation `none`).
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: &'a [u8],
    /// The public key as a COSE_Key (keep these bytes; [`verify`] reads them).
    pub public_key: &'a [u8],
    /// Its algorithm.
    pub alg: CoseAlg,
}

/// Reads authenticator data: the fixed head, attested credential data when the AT
/// flag says so, extensions when ED does, and nothing after them.
pub fn parse_auth_data(bytes: &[u8]) -> Result<AuthData<'_>, WebAuthnError> {
    let (head, mut rest) = bytes.split_at_checked(37).ok_or(Malformed("authenticator data too short"))?;
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&head[..32]);
    let flags = head[32];
    let sign_count = u32::from_be_bytes([head[33], head[34], head[35], head[36]]);
    let mut attested = None;
    if flags & FLAG_AT != 0 {
        let (aaguid, after) = rest.split_at_checked(16).ok_or(Malformed("attested data too short"))?;
        let (len, after) = after.split_at_checked(2).ok_or(Malformed("attested data too short"))?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len == 0 || len > MAX_CREDENTIAL_ID {
            return Err(Malformed("credential id length"));
        }
        let (credential_id, after) = after.split_at_checked(len).ok_or(Malformed("credential id"))?;
        let (alg, key_len) = parse_cose_key(after)?;
        let (public_key, after) = after.split_at(key_len);
        let mut a = [0u8; 16];
        a.copy_from_slice(aaguid);
        attested = Some(Attested { aaguid: a, credential_id, public_key, alg: alg.alg });
        rest = after;
    }
    if flags & FLAG_ED != 0 {
        let mut d = Decoder::new(rest);
        if d.datatype()? != Type::Map {
            return Err(Malformed("extensions are not a map"));
        }
        d.skip()?;
        rest = &rest[d.position()..];
    }
    if !rest.is_empty() {
        return Err(Malformed("bytes after the authenticator data"));
    }
    Ok(AuthData { rp_id_hash, flags, sign_count, attested })
}

/// Reads an attestation object (`{fmt, attStmt, authData}`) and returns its
/// authenticator data. The statement is skipped: with attestation `none`
/// nothing in it is trusted, whatever its format.
pub fn parse_attestation_object(bytes: &[u8]) -> Result<&[u8], WebAuthnError> {
    let mut d = Decoder::new(bytes);
    let n = d.map()?.ok_or(Malformed("indefinite-length map"))?;
    let (mut fmt, mut statement, mut auth_data) = (false, false, None);
    for _ in 0..n {
        match d.str()? {
            "fmt" if !fmt => {
                d.str()?;
                fmt = true;
            }
            "attStmt" if !statement => {
                if d.datatype()? != Type::Map {
                    return Err(Malformed("attStmt is not a map"));
                }
                d.skip()?;
                statement = true;
            }
            "authData" if auth_data.is_none() => auth_data = Some(d.bytes()?),
            _ => return Err(Malformed("unexpected or repeated member in the attestation object")),
        }
    }
    if d.position() != bytes.len() {
        return Err(Malformed("bytes after the attestation object"));
    }
    match (fmt, statement, auth_data) {
        (true, true, Some(a)) => Ok(a),
        _ => Err(Malformed("attestation object is missing a member")),
    }
}

/// A public key, as read from a COSE_Key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CoseKey<'a> {
    alg: CoseAlg,
    key: Key<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Key<'a> {
    /// Uncompressed P-256 point coordinates.
    Ec2 { x: &'a [u8], y: &'a [u8] },
    /// An Ed25519 public key.
    Okp { x: &'a [u8] },
    /// RSA modulus and public exponent, big-endian.
    Rsa { n: &'a [u8], e: &'a [u8] },
}

/// The COSE_Key's members this relying party reads.
#[derive(Default)]
struct Members<'a> {
    kty: Option<i64>,
    alg: Option<i64>,
    crv: Option<i64>,
    /// -1 for RSA (the modulus).
    n: Option<&'a [u8]>,
    /// -2: x for EC2/OKP, e for RSA.
    x_or_e: Option<&'a [u8]>,
    y: Option<&'a [u8]>,
}

/// Reads the COSE_Key at the start of `bytes`: its algorithm and how many bytes
/// it takes (what follows may be extensions).
fn parse_cose_key(bytes: &[u8]) -> Result<(CoseKey<'_>, usize), WebAuthnError> {
    let mut d = Decoder::new(bytes);
    let n = d.map()?.ok_or(Malformed("indefinite-length COSE key"))?;
    let mut m = Members::default();
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..n {
        let label = d.i64()?;
        if seen.contains(&label) {
            return Err(Malformed("repeated COSE key member"));
        }
        seen.push(label);
        match label {
            1 => m.kty = Some(d.i64()?),
            3 => m.alg = Some(d.i64()?),
            -1 if d.datatype()? == Type::Bytes => m.n = Some(d.bytes()?),
            -1 => m.crv = Some(d.i64()?),
            -2 => m.x_or_e = Some(d.bytes()?),
            -3 => m.y = Some(d.bytes()?),
            _ => d.skip()?,
        }
    }
    let alg = m.alg.ok_or(Malformed("COSE key without alg"))?;
    let alg = CoseAlg::from_id(alg).ok_or(Unsupported("algorithm"))?;
    let key = match (alg, m.kty, m.crv) {
        (CoseAlg::Es256, Some(2), Some(1)) => match (m.x_or_e, m.y) {
            (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => Key::Ec2 { x, y },
            _ => return Err(Malformed("P-256 coordinates")),
        },
        (CoseAlg::EdDsa, Some(1), Some(6)) => match m.x_or_e {
            Some(x) if x.len() == 32 => Key::Okp { x },
            _ => return Err(Malformed("Ed25519 key")),
        },
        (CoseAlg::Rs256, Some(3), None) => match (m.n, m.x_or_e) {
            (Some(n), Some(e)) => Key::Rsa { n: strip_zeros(n), e: strip_zeros(e) },
            _ => return Err(Malformed("RSA key")),
        },
        _ => return Err(Unsupported("key type or curve for its algorithm")),
    };
    if let Key::Rsa { n, e } = key {
        if !(256..=1024).contains(&n.len()) || e.is_empty() || e.len() > 4 {
            return Err(Unsupported("RSA key size"));
        }
    }
    Ok((CoseKey { alg, key }, d.position()))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// The algorithm of a stored COSE_Key (which must be all of `cose_key`).
pub fn key_algorithm(cose_key: &[u8]) -> Result<CoseAlg, WebAuthnError> {
    let (key, len) = parse_cose_key(cose_key)?;
    if len != cose_key.len() {
        return Err(Malformed("bytes after the COSE key"));
    }
    Ok(key.alg)
}

/// Verifies an assertion's `signature` over `authenticatorData ‖
/// SHA-256(clientDataJSON)` with the COSE_Key `cose_key` stored at registration.
pub fn verify(
    cose_key: &[u8],
    auth_data: &[u8],
    client_data_json: &[u8],
    sig: &[u8],
) -> Result<(), WebAuthnError> {
    let (key, _) = parse_cose_key(cose_key)?;
    let mut signed = Vec::with_capacity(auth_data.len() + 32);
    signed.extend_from_slice(auth_data);
    signed.extend_from_slice(&super::secrets::sha256(client_data_json));
    let ok = match key.key {
        Key::Ec2 { x, y } => {
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(x);
            point.extend_from_slice(y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, point).verify(&signed, sig)
        }
        Key::Okp { x } => UnparsedPublicKey::new(&signature::ED25519, x).verify(&signed, sig),
        Key::Rsa { n, e } => {
            RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, &signed, sig)
        }
    };
    ok.map_err(|_| WebAuthnError::BadSignature)
}

/// The members of `clientDataJSON` (WebAuthn §5.8.1) a relying party checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData {
    /// `webauthn.create` or `webauthn.get`.
    pub kind: String,
    /// The challenge, decoded from base64url.
    pub challenge: Vec<u8>,
    /// The origin of the page that called the API.
    pub origin: String,
    /// Whether it was called from a cross-origin frame.
    pub cross_origin: bool,
}

#[derive(serde::Deserialize)]
struct RawClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin", default)]
    cross_origin: Option<bool>,
}

/// Parses `clientDataJSON` (a repeated member is malformed).
pub fn parse_client_data(json: &[u8]) -> Result<ClientData, WebAuthnError> {
    let raw: RawClientData = serde_json::from_slice(json).map_err(|_| Malformed("clientDataJSON"))?;
    let challenge = super::secrets::b64url_decode(&raw.challenge).ok_or(Malformed("challenge"))?;
    Ok(ClientData {
        kind: raw.kind,
        challenge,
        origin: raw.origin,
        cross_origin: raw.cross_origin.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests;
