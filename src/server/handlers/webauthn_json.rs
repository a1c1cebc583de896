//! WebAuthn's JSON forms (Level 3 §5.1.8/§5.1.9, what `PublicKeyCredential`'s
//! `toJSON()` and `parse*OptionsFromJSON()` use): the options the browser is
//! given, and the credentials it sends back, with every binary member in
//! base64url without padding (read leniently: trailing bits are ignored, so every
//! string of the alphabet whose length is not 1 mod 4 decodes, as the OpenAPI
//! document's pattern says). Decoding collects FastAPI-style 422 items located
//! under the field that held the credential; what the bytes mean is the domain's.

use crate::domain::mfa::webauthn::{Assertion, CreationOptions, Registration, RequestOptions};
use crate::server::error::Invalid;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde_json::{json, Map, Value};

/// COSE algorithm identifiers offered, most preferred first (ES256, EdDSA, RS256).
pub const ALGORITHMS: [i64; 3] = [-7, -8, -257];

/// Most transports kept from a registration, and their longest name.
const MAX_TRANSPORTS: usize = 8;
const MAX_TRANSPORT_CHARS: usize = 32;

/// base64url without padding, ignoring the unused low bits of the last character.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// `PublicKeyCredentialCreationOptionsJSON`: discoverable credentials (so they
/// can sign in without a name), user verification preferred, attestation none.
pub fn creation_options(o: &CreationOptions) -> Value {
    let exclude: Vec<Value> = o
        .exclude
        .iter()
        .map(|(id, transports)| {
            let mut d = json!({"type": "public-key", "id": b64(id)});
            if !transports.is_empty() {
                d["transports"] = json!(transports);
            }
            d
        })
        .collect();
    json!({
        "rp": {"id": o.rp.id, "name": "gatehouse"},
        "user": {"id": b64(&o.user_handle), "name": o.user_name, "displayName": o.display_name},
        "challenge": b64(&o.challenge),
        "pubKeyCredParams": ALGORITHMS.iter().map(|a| json!({"type": "public-key", "alg": a})).collect::<Vec<_>>(),
        "timeout": o.timeout_ms,
        "excludeCredentials": exclude,
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": "preferred",
        },
        "attestation": "none",
        "extensions": {"credProps": true},
    })
}

/// `PublicKeyCredentialRequestOptionsJSON`: no credentials listed.
pub fn request_options(o: &RequestOptions) -> Value {
    json!({
        "challenge": b64(&o.challenge),
        "rpId": o.rp_id,
        "timeout": o.timeout_ms,
        "userVerification": "preferred",
        "allowCredentials": [],
    })
}

/// Reads one credential object, reporting problems under `loc`.
struct Reader<'a> {
    loc: &'a [Value],
    errors: Vec<Invalid>,
}

impl Reader<'_> {
    fn error(&mut self, path: &[&str], msg: &str, kind: &str) {
        let mut loc = self.loc.to_vec();
        loc.extend(path.iter().map(|p| Value::from(*p)));
        self.errors.push(Invalid::body(&loc, msg, kind));
    }

    /// A required base64url member of `obj`.
    fn bytes(&mut self, obj: &Map<String, Value>, path: &[&str], name: &str) -> Vec<u8> {
        let full: Vec<&str> = path.iter().copied().chain([name]).collect();
        match obj.get(name) {
            Some(Value::String(s)) => match LENIENT.decode(s) {
                Ok(b) if !b.is_empty() => b,
                _ => {
                    self.error(&full, "Input should be non-empty base64url without padding", "value_error");
                    Vec::new()
                }
            },
            None => {
                self.error(&full, "Field required", "missing");
                Vec::new()
            }
            Some(_) => {
                self.error(&full, "Input should be a valid string", "string_type");
                Vec::new()
            }
        }
    }

    /// The credential's outer members: its type, id and the response object
    /// (`rawId`, the same bytes, is not read).
    fn outer(&mut self, v: &Value) -> Option<(Vec<u8>, Map<String, Value>)> {
        let Some(obj) = v.as_object() else {
            self.error(&[], "Input should be a valid dictionary", "dict_type");
            return None;
        };
        if obj.get("type").and_then(Value::as_str) != Some("public-key") {
            self.error(&["type"], "Input should be 'public-key'", "literal_error");
        }
        let id = self.bytes(obj, &[], "id");
        match obj.get("response") {
            Some(Value::Object(r)) => Some((id, r.clone())),
            None => {
                self.error(&["response"], "Field required", "missing");
                None
            }
            Some(_) => {
                self.error(&["response"], "Input should be a valid dictionary", "dict_type");
                None
            }
        }
    }

    fn transports(&mut self, r: &Map<String, Value>) -> Vec<String> {
        match r.get("transports") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| {
                    !t.is_empty() && t.len() <= MAX_TRANSPORT_CHARS && t.bytes().all(|b| b.is_ascii_graphic())
                })
                .take(MAX_TRANSPORTS)
                .map(str::to_owned)
                .collect(),
            Some(_) => {
                self.error(&["response", "transports"], "Input should be a valid list", "list_type");
                Vec::new()
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<Invalid>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(self.errors),
        }
    }
}

/// A `RegistrationResponseJSON` (from `navigator.credentials.create()`).
pub fn registration(v: &Value, loc: &[Value]) -> Result<Registration, Vec<Invalid>> {
    let mut rd = Reader { loc, errors: Vec::new() };
    let parsed = rd.outer(v).map(|(_, r)| {
        let client_data_json = rd.bytes(&r, &["response"], "clientDataJSON");
        let attestation_object = rd.bytes(&r, &["response"], "attestationObject");
        let transports = rd.transports(&r);
        Registration { client_data_json, attestation_object, transports }
    });
    rd.finish(parsed)
}

/// An `AuthenticationResponseJSON` (from `navigator.credentials.get()`).
pub fn assertion(v: &Value, loc: &[Value]) -> Result<Assertion, Vec<Invalid>> {
    let mut rd = Reader { loc, errors: Vec::new() };
    let parsed = rd.outer(v).map(|(credential_id, r)| {
        let client_data_json = rd.bytes(&r, &["response"], "clientDataJSON");
        let authenticator_data = rd.bytes(&r, &["response"], "authenticatorData");
        let signature = rd.bytes(&r, &["response"], "signature");
        let user_handle = match r.get("userHandle") {
            None | Some(Value::Null) => None,
            Some(_) => Some(rd.bytes(&r, &["response"], "userHandle")),
        };
        Assertion { credential_id, client_data_json, authenticator_data, signature, user_handle }
    });
    rd.finish(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assertion_decodes_and_mistakes_are_located() {
        let good = json!({
            "id": "AQID", "rawId": "AQID", "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AQ", "userHandle": null},
            "clientExtensionResults": {},
        });
        let a = assertion(&good, &["credential".into()]).unwrap();
        assert_eq!((a.credential_id, a.user_handle), (vec![1, 2, 3], None));
        let bad = json!({"id": "A", "type": "x", "response": {"clientDataJSON": "e30=", "signature": 5}});
        let errs = assertion(&bad, &["credential".into()]).unwrap_err();
        let locs: Vec<String> = errs.iter().map(|e| format!("{:?}", e.loc)).collect();
        assert_eq!(errs.len(), 5, "{locs:?}");
        // Unused trailing bits are tolerated ("AR" and "AQ" are both [1]).
        let lenient = json!({"id": "AR", "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AQ"}});
        assert_eq!(assertion(&lenient, &[]).unwrap().credential_id, vec![1]);
        assert!(locs[0].contains("String(\"credential\"), String(\"type\")"), "{locs:?}");
        assert!(assertion(&json!("x"), &[]).is_err());
    }

    #[test]
    fn a_registration_keeps_sane_transports_only() {
        let v = json!({
            "id": "AQ", "type": "public-key",
            "response": {"clientDataJSON": "e30", "attestationObject": "oA", "transports": ["usb", "", "a b", 3, "internal"]},
        });
        assert_eq!(registration(&v, &[]).unwrap().transports, ["usb", "internal"]);
    }
}
