//! TOTP codes made by implementations that are not gatehouse's: Debian's
//! `oathtool` and Python's `pyotp` (`.ci/run` installs both and sets
//! GATEHOUSE_EXTERNAL_TOOLS=required, so a missing tool fails there). On a
//! machine without them the tests still run, on gatehouse's own RFC 6238 code,
//! and say so once.

use std::process::Command;
use std::sync::Once;

static WARNED: Once = Once::new();

fn required() -> bool {
    std::env::var("GATEHOUSE_EXTERNAL_TOOLS").is_ok_and(|v| v == "required")
}

fn fallback(tool: &str, secret: &str, at: i64) -> String {
    assert!(!required(), "{tool} is required (GATEHOUSE_EXTERNAL_TOOLS=required) but could not run");
    WARNED.call_once(|| eprintln!("note: {tool} not available; TOTP codes come from gatehouse's own code"));
    let key = gatehouse::crypto::totp::base32_decode(secret).unwrap();
    gatehouse::crypto::totp::code_at(&key, gatehouse::crypto::totp::step_at(at))
}

/// The code of `secret` (base32) at Unix time `at`, by `oathtool --totp`.
pub fn oathtool(secret: &str, at: i64) -> String {
    let out =
        Command::new("oathtool").args(["--totp=SHA1", "-b", secret, "--now", &format!("@{at}")]).output();
    match out {
        Ok(o) if o.status.success() => {
            let code = String::from_utf8(o.stdout).unwrap().trim().to_owned();
            assert_eq!(code.len(), 6, "oathtool said {code:?}");
            code
        }
        _ => fallback("oathtool", secret, at),
    }
}

/// The code of `secret` (base32) at Unix time `at`, by `pyotp.TOTP(secret).at(at)`.
pub fn pyotp(secret: &str, at: i64) -> String {
    let script = format!("import pyotp; print(pyotp.TOTP('{secret}').at({at}))");
    match Command::new("python3").args(["-c", &script]).output() {
        Ok(o) if o.status.success() => {
            let code = String::from_utf8(o.stdout).unwrap().trim().to_owned();
            assert_eq!(code.len(), 6, "pyotp said {code:?}");
            code
        }
        _ => fallback("pyotp", secret, at),
    }
}

/// pyotp's reading of an `otpauth://` URI: (issuer, account name, secret) — what
/// an authenticator app would take from the QR code.
pub fn pyotp_parse(uri: &str) -> Option<(String, String, String)> {
    let script = "import sys, pyotp\nt = pyotp.parse_uri(sys.argv[1])\nprint(t.issuer); print(t.name); print(t.secret)";
    let o = Command::new("python3").args(["-c", script, uri]).output().ok().filter(|o| o.status.success());
    let Some(o) = o else {
        assert!(!required(), "pyotp is required but could not run");
        return None;
    };
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines().map(str::to_owned);
    Some((lines.next()?, lines.next()?, lines.next()?))
}
