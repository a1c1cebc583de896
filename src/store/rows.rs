//! Engine-neutral rows: every table as ordered `(key, value)` byte strings.
//!
//! Both engines agree on these bytes, so `migrate-store` can copy a table from one
//! to the other and prove the copy with a row count and a digest, and the
//! PostgreSQL engine can keep each table as `(k bytea primary key, v bytea)`.
//! Keys sort bytewise exactly as the embedded engine orders its typed keys:
//! integers are big-endian (signed ones with the sign bit flipped), strings and
//! byte strings are raw, and a tuple is its fields concatenated — which preserves
//! order because only a tuple's last field is ever variable-length. Values use the
//! same encoding; versioned records are their postcard bytes unchanged.

use super::StoreError;

/// Appends `v` big-endian.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `v` so that signed order is byte order.
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, (v as u64) ^ (1 << 63));
}

/// A key of one `u64`.
pub fn u64_key(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// A key of a `u64` and a string (a user's sessions, keys, consents).
pub fn u64_str_key(a: u64, s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + s.len());
    put_u64(&mut out, a);
    out.extend_from_slice(s.as_bytes());
    out
}

/// A key of an `i64` (an expiry) and bytes.
pub fn i64_bytes_key(a: i64, b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + b.len());
    put_i64(&mut out, a);
    out.extend_from_slice(b);
    out
}

/// A key of integers.
pub fn ints_key(parts: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 * parts.len());
    for p in parts {
        put_u64(&mut out, *p);
    }
    out
}

fn bad(what: &str) -> StoreError {
    StoreError::Decode(format!("malformed {what}"))
}

/// Splits a leading big-endian `u64` off `b`.
pub fn take_u64<'a>(b: &'a [u8], what: &str) -> Result<(u64, &'a [u8]), StoreError> {
    let (head, rest) = b.split_first_chunk::<8>().ok_or_else(|| bad(what))?;
    Ok((u64::from_be_bytes(*head), rest))
}

/// Splits a leading order-preserving `i64` off `b`.
pub fn take_i64<'a>(b: &'a [u8], what: &str) -> Result<(i64, &'a [u8]), StoreError> {
    let (v, rest) = take_u64(b, what)?;
    Ok(((v ^ (1 << 63)) as i64, rest))
}

/// Exactly one `u64`.
pub fn as_u64(b: &[u8], what: &str) -> Result<u64, StoreError> {
    match take_u64(b, what)? {
        (v, []) => Ok(v),
        _ => Err(bad(what)),
    }
}

/// Exactly one `i64`.
pub fn as_i64(b: &[u8], what: &str) -> Result<i64, StoreError> {
    match take_i64(b, what)? {
        (v, []) => Ok(v),
        _ => Err(bad(what)),
    }
}

/// UTF-8 text.
pub fn as_str<'a>(b: &'a [u8], what: &str) -> Result<&'a str, StoreError> {
    std::str::from_utf8(b).map_err(|_| bad(what))
}

/// The smallest key greater than every key that starts with `prefix`, if any
/// (`None`: the prefix is all `0xff`, so the range is unbounded above).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_order_is_byte_order() {
        let vals = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<Vec<u8>> = vals.iter().map(|v| i64_bytes_key(*v, b"")).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for v in vals {
            assert_eq!(as_i64(&i64_bytes_key(v, b""), "t").unwrap(), v);
        }
    }

    #[test]
    fn tuples_sort_by_first_field_then_the_rest() {
        assert!(u64_str_key(1, "zzz") < u64_str_key(2, ""));
        assert!(u64_str_key(1, "a") < u64_str_key(1, "ab"));
        assert!(ints_key(&[1, u64::MAX]) < ints_key(&[2, 0]));
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert!(take_u64(&[1, 2], "x").is_err());
    }
}
