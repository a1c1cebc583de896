//! The JWT parser and verifier on arbitrary input: it must refuse, never panic, and
//! never accept anything but a token signed by its own key. Half the inputs are
//! spliced into a real token (as its header, claims or signature) so the fuzzer
//! reaches the code behind the first base64 and JSON checks.
#![no_main]

use gatehouse::crypto::jwt::Keyring;
use gatehouse::crypto::keys::{generate, Alg};
use gatehouse::domain::claims::{Claims, TokenKind};
use gatehouse::crypto::secrets::b64url;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NOW: i64 = 1_800_000_000;

fn setup() -> &'static (Keyring, String) {
    static S: OnceLock<(Keyring, String)> = OnceLock::new();
    S.get_or_init(|| {
        let pkcs8 = generate(Alg::EdDSA).expect("key");
        let keys = Keyring::new("fuzz", &[(Alg::EdDSA, &pkcs8)], &[]).expect("keyring");
        let claims = Claims {
            sub: "alice".into(),
            uid: 1,
            kind: TokenKind::Access,
            jti: "j".into(),
            iat: NOW,
            nbf: None,
            exp: NOW + 60,
            iss: "fuzz".into(),
            role: Some("user".into()),
            scopes: Some(vec!["profile:read".into()]),
            ver: Some(0),
            sid: Some("s".into()),
            aud: None,
            amr: None,
        };
        let token = keys.sign(Alg::EdDSA, &claims).expect("sign");
        (keys, token)
    })
}

fuzz_target!(|data: &[u8]| {
    let (keys, valid) = setup();
    let Some((&mode, rest)) = data.split_first() else { return };
    let candidate = match mode % 4 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        part => {
            let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
            parts[usize::from(part - 1)] = b64url(rest);
            parts.join(".")
        }
    };
    if let Ok(claims) = keys.verify::<Claims>(&candidate, NOW) {
        // Only the genuine token may verify.
        assert_eq!(&candidate, valid, "a forged token verified");
        assert_eq!(claims.sub, "alice");
    }
});
