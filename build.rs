//! Build step: embed the OpenAPI document without its indentation.
//!
//! assets/openapi.json stays pretty-printed for people and diffs; the binary (and
//! so /openapi.json) carries the same document with the whitespace between tokens
//! removed, about 125 KB less. Only whitespace outside strings is dropped, so the
//! document parses to exactly the same value (tests/it/openapi.rs checks that).

use std::{env, fs, path::Path};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let src = "assets/openapi.json";
    println!("cargo:rerun-if-changed={src}");
    let text = fs::read_to_string(src).map_err(|e| format!("reading {src}: {e}"))?;
    let out = Path::new(&env::var("OUT_DIR")?).join("openapi.json");
    fs::write(&out, compact(&text)).map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok(())
}

/// JSON text with the insignificant whitespace (RFC 8259 §2: space, tab, CR, LF
/// between tokens) removed; everything inside strings, escapes included, kept.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\r' | '\n') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
