//! Reading requests: size-limited bodies, JSON and form decoding with FastAPI's
//! validation errors, and credentials (Bearer header, cookies).
//!
//! Decoding is field by field from a parsed JSON object or form, so every error
//! carries the exact `loc`/`type`/`msg` FastAPI would report, unknown fields are
//! ignored (never applied), and nothing here knows what a field means.

use super::error::{ApiError, Invalid};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as HttpBody;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE};
use hyper::http::request::Parts;
use serde_json::{Map, Value};

/// Reads the whole body, refusing more than `limit` bytes with 413 (early, from
/// Content-Length, when the client declares it).
pub async fn read_body<B>(head: &Parts, body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared =
        head.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::PayloadTooLarge),
        Err(_) => Err(ApiError::BodyRead),
    }
}

fn content_type(head: &Parts) -> Option<String> {
    head.headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Whether FastAPI would parse this body as JSON: no content type, `application/json`
/// or any `application/*+json`.
fn is_json(head: &Parts) -> bool {
    match content_type(head) {
        None => true,
        Some(ct) => ct == "application/json" || (ct.starts_with("application/") && ct.ends_with("+json")),
    }
}

/// Parses a JSON object body, or reports what FastAPI reports for a body model.
pub fn json_object(head: &Parts, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if !is_json(head) {
        return Err(ApiError::Validation(vec![Invalid::body(
            &[],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )]));
    }
    if body.is_empty() {
        return Err(ApiError::Validation(vec![Invalid::body(&[], "Field required", "missing")]));
    }
    match serde_json::from_slice::<Strict>(body) {
        Ok(Strict(Value::Object(m))) => Ok(m),
        Ok(_) => Err(ApiError::Validation(vec![Invalid::body(
            &[],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )])),
        Err(e) => {
            let pos = byte_offset(body, e.line(), e.column());
            // A duplicate key is reported by the visitor as a data error; anything
            // else is a syntax error, as FastAPI reports it.
            let msg = match e.classify() {
                serde_json::error::Category::Data => e.to_string(),
                _ => "JSON decode error".to_owned(),
            };
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            Err(ApiError::Validation(vec![Invalid::body(&[Value::from(pos)], &msg, "json_invalid")]))
        }
    }
}

/// A JSON value whose objects never repeat a key, at any depth. serde_json keeps
/// the last of two equal keys; a proxy or WAF in front of us may keep the first, so
/// two parsers would read one body differently. Such bodies are refused instead.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let shown: String = key.chars().take(64).collect();
                return Err(serde::de::Error::custom(format!("Duplicate key '{shown}' in a JSON object")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in body.split(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1);
        }
        offset += l.len() + 1;
    }
    offset
}

/// Field-by-field reader over a decoded body that collects every error.
pub struct Fields {
    values: Map<String, Value>,
    errors: Vec<Invalid>,
}

impl Fields {
    /// Wraps a decoded JSON object.
    pub fn new(values: Map<String, Value>) -> Self {
        Self { values, errors: Vec::new() }
    }

    /// A required string field.
    pub fn required(&mut self, name: &str) -> String {
        match self.values.remove(name) {
            None => {
                self.errors.push(Invalid::missing(name));
                String::new()
            }
            Some(v) => self.string(name, v).unwrap_or_default(),
        }
    }

    /// An optional string field (`null` or absent → `None`).
    pub fn optional(&mut self, name: &str) -> Option<String> {
        match self.values.remove(name) {
            None | Some(Value::Null) => None,
            Some(v) => self.string(name, v),
        }
    }

    /// An optional list of strings (`null` or absent → `None`).
    pub fn optional_strings(&mut self, name: &str) -> Option<Vec<String>> {
        match self.values.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => self.errors.push(Invalid::body(
                            &[name.into(), i.into()],
                            "Input should be a valid string",
                            "string_type",
                        )),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.errors.push(Invalid::body(&[name.into()], "Input should be a valid list", "list_type"));
                None
            }
        }
    }

    /// A required list of strings: absent is `missing`; anything but a list
    /// (`null` too) is `list_type`; each item must be a string.
    pub fn required_strings(&mut self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            None => {
                self.errors.push(Invalid::missing(name));
                Vec::new()
            }
            Some(Value::Null) => {
                self.values.remove(name);
                self.errors.push(Invalid::body(&[name.into()], "Input should be a valid list", "list_type"));
                Vec::new()
            }
            Some(_) => self.optional_strings(name).unwrap_or_default(),
        }
    }

    /// An optional JSON boolean (`null` or absent → `None`); as strict as JSON
    /// Schema's `boolean`: `"true"` or `1` is `bool_type`.
    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.values.remove(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                self.errors.push(Invalid::body(
                    &[name.into()],
                    "Input should be a valid boolean",
                    "bool_type",
                ));
                None
            }
        }
    }

    /// An optional string that must be one of `choices` (`null` or absent → `None`),
    /// with Pydantic's `enum` error otherwise.
    pub fn optional_choice(&mut self, name: &str, choices: &[&str]) -> Option<String> {
        let v = self.values.remove(name)?;
        match v {
            Value::Null => None,
            Value::String(s) if choices.contains(&s.as_str()) => Some(s),
            _ => {
                self.errors.push(Invalid::body(&[name.into()], &choice_msg(choices), "enum"));
                None
            }
        }
    }

    /// An optional list whose items must each be one of `choices` (`null` or
    /// absent → `None`); a bad item is reported at its index.
    pub fn optional_choices(&mut self, name: &str, choices: &[&str]) -> Option<Vec<String>> {
        let items = match self.values.remove(name) {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.errors.push(Invalid::body(&[name.into()], "Input should be a valid list", "list_type"));
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::String(s) if choices.contains(&s.as_str()) => out.push(s),
                _ => self.errors.push(Invalid::body(&[name.into(), i.into()], &choice_msg(choices), "enum")),
            }
        }
        Some(out)
    }

    /// An optional non-negative integer (`null` or absent → `None`).
    pub fn optional_u64(&mut self, name: &str) -> Option<u64> {
        let (msg, kind) = match self.values.remove(name) {
            None | Some(Value::Null) => return None,
            Some(Value::Number(n)) => match non_negative(&n) {
                Ok(v) => return Some(v),
                Err(e) => e,
            },
            Some(_) => ("Input should be a valid integer", "int_type"),
        };
        self.errors.push(Invalid::body(&[name.into()], msg, kind));
        None
    }

    fn string(&mut self, name: &str, v: Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s),
            _ => {
                self.errors.push(Invalid::body(
                    &[name.into()],
                    "Input should be a valid string",
                    "string_type",
                ));
                None
            }
        }
    }

    /// Ends decoding: every problem at once, or nothing.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Pydantic's enum message: `Input should be 'a', 'b' or 'c'`.
fn choice_msg(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        Some((only, _)) => format!("Input should be {only}"),
        None => "Input should be a valid enumeration member".into(),
    }
}

/// A JSON number as a non-negative integer, as Pydantic reads one: a float with no
/// fractional part (`3600.0`) counts, as it does for JSON Schema's `integer`. A
/// whole float past `u64::MAX` saturates (the caller's range check refuses it).
/// Otherwise Pydantic's message and type.
fn non_negative(n: &serde_json::Number) -> Result<u64, (&'static str, &'static str)> {
    const NEGATIVE: (&str, &str) = ("Input should be greater than or equal to 0", "greater_than_equal");
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if n.as_i64().is_some() || f < 0.0 && f.fract() == 0.0 {
        return Err(NEGATIVE);
    }
    if f.is_finite() && f.fract() == 0.0 {
        return Ok(f as u64);
    }
    Err(("Input should be a valid integer, got a number with a fractional part", "int_from_float"))
}

/// An `application/x-www-form-urlencoded` body as FastAPI's `Form()` sees it: other
/// content types yield no fields (so required ones are reported missing); an empty
/// value counts as absent; a repeated field keeps its last value.
pub fn form(head: &Parts, body: &Bytes) -> Fields {
    let mut values = Map::new();
    if content_type(head).as_deref() == Some("application/x-www-form-urlencoded") {
        if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            for (k, v) in pairs {
                if v.is_empty() {
                    values.remove(&k);
                } else {
                    values.insert(k, Value::String(v));
                }
            }
        }
    }
    Fields::new(values)
}

/// Query-string parameters, as FastAPI reads them: the last value of a repeated
/// name wins; undecodable strings yield no parameters.
pub fn query(head: &Parts) -> Vec<(String, String)> {
    head.uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

/// The value of query parameter `name`.
pub fn query_param(q: &[(String, String)], name: &str) -> Option<String> {
    q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// An integer query parameter with bounds, or FastAPI's 422 for it.
pub fn query_int(
    q: &[(String, String)],
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, Invalid> {
    let loc =
        |k: &str, m: &str| Invalid { loc: vec!["query".into(), name.into()], msg: m.into(), kind: k.into() };
    let Some(raw) = query_param(q, name) else {
        return Ok(default);
    };
    let v: i64 = raw.trim().parse().map_err(|_| {
        loc("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
    })?;
    if v < min {
        return Err(loc("greater_than_equal", &format!("Input should be greater than or equal to {min}")));
    }
    if v > max {
        return Err(loc("less_than_equal", &format!("Input should be less than or equal to {max}")));
    }
    Ok(v)
}

/// The value of `X-API-Key`, if sent.
pub fn api_key(head: &Parts) -> Option<&str> {
    head.headers.get("x-api-key")?.to_str().ok().map(str::trim).filter(|k| !k.is_empty())
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer(head: &Parts) -> Option<&str> {
    let v = head.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A cookie's value (surrounding quotes removed), from any `Cookie` header.
pub fn cookie(head: &Parts, name: &str) -> Option<String> {
    head.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|line| {
        line.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Request;

    fn head(headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&head(&[("authorization", "Bearer abc")])), Some("abc"));
        assert_eq!(bearer(&head(&[("authorization", "bearer  abc ")])), Some("abc"));
        assert_eq!(bearer(&head(&[("authorization", "Basic abc")])), None);
        assert_eq!(bearer(&head(&[("authorization", "Bearer")])), None);
        assert_eq!(bearer(&head(&[])), None);
    }

    #[test]
    fn cookies() {
        let h = head(&[("cookie", "a=1; refresh_token=xyz; access_token=\"Bearer t\"")]);
        assert_eq!(cookie(&h, "refresh_token").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "access_token").as_deref(), Some("Bearer t"));
        assert_eq!(cookie(&h, "nope"), None);
    }

    #[test]
    fn json_errors_have_fastapi_shapes() {
        let h = head(&[("content-type", "application/json")]);
        let err = |b: &str| match json_object(&h, &Bytes::from(b.to_owned())) {
            Err(ApiError::Validation(v)) => v[0].kind.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(err(""), "missing");
        assert_eq!(err("{not json"), "json_invalid");
        assert_eq!(err("[1,2]"), "model_attributes_type");
        assert_eq!(err(r#"{"a": 1, "a": 2}"#), "json_invalid");
        assert_eq!(err(r#"{"a": {"b": [{"c": 1, "c": 1}]}}"#), "json_invalid", "at any depth");
        let fine = json_object(&h, &Bytes::from_static(br#"{"a": 1.5, "A": [null, true], "b": {"a": "x"}}"#));
        assert_eq!(fine.unwrap().len(), 3, "distinct keys, equal keys in different objects");
        match json_object(&h, &Bytes::from_static(br#"{"username":"a","username":"b"}"#)) {
            Err(ApiError::Validation(v)) => {
                assert_eq!(v[0].loc, vec![Value::from("body"), Value::from(25)]);
                assert_eq!(v[0].msg, "Duplicate key 'username' in a JSON object");
            }
            other => panic!("{other:?}"),
        }
        let form_ct = head(&[("content-type", "application/x-www-form-urlencoded")]);
        assert!(matches!(json_object(&form_ct, &Bytes::from_static(b"a=b")), Err(ApiError::Validation(_))));
    }

    #[test]
    fn form_rules() {
        let h = head(&[("content-type", "application/x-www-form-urlencoded")]);
        let mut f = form(&h, &Bytes::from_static(b"username=a&username=b&password="));
        assert_eq!(f.required("username"), "b");
        f.required("password");
        assert!(f.finish().is_err(), "empty value is missing");
        let json_ct = head(&[("content-type", "application/json")]);
        let mut f = form(&json_ct, &Bytes::from_static(br#"{"username":"a"}"#));
        f.required("username");
        assert!(f.finish().is_err());
    }

    #[test]
    fn integers_as_pydantic_reads_them() {
        let read = |body: &str| {
            let mut f = Fields::new(serde_json::from_str(body).unwrap());
            let v = f.optional_u64("n");
            (v, f.finish().err().map(|e| format!("{e:?}")))
        };
        assert_eq!(read(r#"{"n": 3600}"#), (Some(3600), None));
        assert_eq!(read(r#"{"n": 3600.0}"#), (Some(3600), None));
        assert_eq!(read(r#"{"n": 213235.0}"#), (Some(213235), None));
        assert_eq!(read(r#"{"n": 1e300}"#), (Some(u64::MAX), None));
        assert_eq!(read(r#"{"n": null}"#), (None, None));
        for (body, kind) in [
            (r#"{"n": -5}"#, "greater_than_equal"),
            (r#"{"n": -5.0}"#, "greater_than_equal"),
            (r#"{"n": 1.5}"#, "int_from_float"),
            (r#"{"n": -0.5}"#, "int_from_float"),
            (r#"{"n": "5"}"#, "int_type"),
            (r#"{"n": true}"#, "int_type"),
        ] {
            let (v, err) = read(body);
            assert_eq!(v, None, "{body}");
            assert!(err.is_some_and(|e| e.contains(kind)), "{body}: {kind}");
        }
    }

    #[test]
    fn booleans_lists_and_choices() {
        let m = serde_json::from_str::<Map<String, Value>>(
            r#"{"b": true, "s": "true", "l": null, "c": "ES256", "d": "HS256", "e": ["user", 3, "x"]}"#,
        )
        .unwrap();
        let mut f = Fields::new(m);
        assert_eq!(f.optional_bool("b"), Some(true));
        assert_eq!(f.optional_bool("s"), None);
        assert_eq!(f.optional_bool("absent"), None);
        assert_eq!(f.required_strings("l"), Vec::<String>::new());
        assert_eq!(f.required_strings("gone"), Vec::<String>::new());
        assert_eq!(f.optional_choice("c", &["RS256", "ES256", "EdDSA"]).as_deref(), Some("ES256"));
        assert_eq!(f.optional_choice("d", &["RS256", "ES256", "EdDSA"]), None);
        assert_eq!(f.optional_choices("e", &["user", "admin"]), Some(vec!["user".to_owned()]));
        match f.finish() {
            Err(ApiError::Validation(v)) => {
                let got: Vec<(String, String)> =
                    v.iter().map(|i| (serde_json::to_string(&i.loc).unwrap(), i.kind.clone())).collect();
                let want = [
                    (r#"["body","s"]"#, "bool_type"),
                    (r#"["body","l"]"#, "list_type"),
                    (r#"["body","gone"]"#, "missing"),
                    (r#"["body","d"]"#, "enum"),
                    (r#"["body","e",1]"#, "enum"),
                    (r#"["body","e",2]"#, "enum"),
                ];
                assert_eq!(got, want.map(|(l, k)| (l.to_owned(), k.to_owned())));
                assert_eq!(v[3].msg, "Input should be 'RS256', 'ES256' or 'EdDSA'");
                assert_eq!(v[4].msg, "Input should be 'user' or 'admin'");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fields_collect_all_errors() {
        let m = serde_json::from_str::<Map<String, Value>>(r#"{"a": 1, "c": null}"#).unwrap();
        let mut f = Fields::new(m);
        f.required("a");
        f.required("b");
        assert_eq!(f.optional("c"), None);
        match f.finish() {
            Err(ApiError::Validation(v)) => {
                assert_eq!(v.len(), 2);
                assert_eq!(v[0].kind, "string_type");
                assert_eq!(v[1].kind, "missing");
            }
            other => panic!("{other:?}"),
        }
    }
}
