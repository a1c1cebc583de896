//! The OpenAPI document (assets/openapi.json, served at /openapi.json) and the docs
//! page (/docs): the document describes exactly the router's routes with the route
//! table's credentials, rules, scopes and rate limits; it is valid OpenAPI 3.1 with
//! every `$ref` resolving; it is served as embedded (the file, compacted by build.rs); the page loads nothing from
//! elsewhere and nothing inline; `--no-docs` turns the page off but not the document.
//! CI also runs a real OpenAPI validator over the file (.ci/run).

use crate::harness::*;
use gatehouse::domain::access::Rule;
use gatehouse::domain::roles::{EXTRA_SCOPES, SCOPES};
use gatehouse::server::routes::{Access, RateClass, Route, ROUTES};
use gatehouse::store::records::{AuditEvent, Role};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const DOC: &str = include_str!("../../assets/openapi.json");
const PAGE: &str = include_str!("../../assets/docs/index.html");
const SCRIPT: &str = include_str!("../../assets/docs/docs.js");
const STYLE: &str = include_str!("../../assets/docs/docs.css");

/// The methods documented for a route whose method is `*` (forward auth): all
/// eight OpenAPI 3.1 can name.
const ANY_METHOD: [&str; 8] = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];
/// The keys of an OpenAPI path item that are operations.
const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn doc() -> Value {
    serde_json::from_str(DOC).unwrap_or_else(|e| panic!("assets/openapi.json is not JSON: {e}"))
}

fn methods_of(route: &Route) -> Vec<String> {
    if route.method == "*" {
        ANY_METHOD.iter().map(|m| m.to_string()).collect()
    } else {
        vec![route.method.to_ascii_lowercase()]
    }
}

/// Every operation in the document: (method, path) → operation.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, op) in item.as_object().unwrap() {
            if HTTP_METHODS.contains(&key.as_str()) {
                out.insert((key.clone(), path.clone()), op.clone());
            }
        }
    }
    out
}

/// Follows a local `$ref` (if `v` is one) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.strip_prefix('#').unwrap_or(r)).unwrap_or_else(|| panic!("{r} dangles")),
        None => v,
    }
}

fn collect_refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "$ref" {
                    if let Some(r) = child.as_str() {
                        out.push((at.to_owned(), r.to_owned()));
                    }
                } else {
                    collect_refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn rule_text(rule: Rule) -> String {
    let roles = |rs: &[Role]| rs.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
    match rule {
        Rule::Any => "any".into(),
        Rule::Roles(rs) => format!("roles: {}", roles(rs)),
        Rule::MinRole(r) => format!("min role: {}", r.as_str()),
        Rule::Permissions(ps) => {
            format!("permissions: {}", ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))
        }
        Rule::ScopeOrRoles(s, rs) => format!("scope {s} or roles: {}", roles(rs)),
    }
}

#[test]
fn documents_exactly_the_routes_of_the_router() {
    let doc = doc();
    let routed: BTreeSet<(String, String)> =
        ROUTES.iter().flat_map(|r| methods_of(r).into_iter().map(|m| (m, r.path.to_owned()))).collect();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "assets/openapi.json is out of step with ROUTES.\n  routed but not documented: {missing:?}\n  documented but not routed: {extra:?}"
    );
}

#[test]
fn document_is_valid_openapi_3_1() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "gatehouse");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"), "info.version is the crate version");
    assert!(doc["info"]["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(doc["servers"][0]["url"], "/");

    // Every $ref is local and resolves.
    let mut refs = Vec::new();
    collect_refs(&doc, "#", &mut refs);
    assert!(refs.len() > 50, "the document uses components");
    for (at, r) in &refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("{at}: non-local $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{at}: $ref {r} does not resolve");
    }

    // Security schemes.
    let schemes = &doc["components"]["securitySchemes"];
    let oauth = &schemes["OAuth2PasswordBearer"];
    assert_eq!(oauth["type"], "oauth2");
    assert_eq!(oauth["flows"]["password"]["tokenUrl"], "/api/v1/auth/token");
    assert_eq!(oauth["flows"]["password"]["refreshUrl"], "/api/v1/auth/token");
    // (serde_json sorts object keys, so the map is compared as a map.)
    let scopes: BTreeMap<String, String> = oauth["flows"]["password"]["scopes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let code_scopes: Vec<(String, String)> =
        SCOPES.iter().chain(EXTRA_SCOPES.iter()).map(|(s, d)| (s.to_string(), d.to_string())).collect();
    assert_eq!(
        scopes,
        code_scopes.iter().cloned().collect::<BTreeMap<_, _>>(),
        "scopes and descriptions as in domain::roles"
    );
    let key = &schemes["APIKeyHeader"];
    assert_eq!(
        (&key["type"], &key["in"], &key["name"]),
        (&json!("apiKey"), &json!("header"), &json!("X-API-Key"))
    );
    assert_eq!(
        (&schemes["AccessTokenCookie"]["in"], &schemes["AccessTokenCookie"]["name"]),
        (&json!("cookie"), &json!("access_token"))
    );
    assert_eq!(
        (&schemes["RefreshTokenCookie"]["in"], &schemes["RefreshTokenCookie"]["name"]),
        (&json!("cookie"), &json!("refresh_token"))
    );

    // Enumerations match the code.
    let schemas = &doc["components"]["schemas"];
    let names =
        |v: &Value| v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(
        names(&schemas["Scope"]["enum"]),
        code_scopes.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>()
    );
    assert_eq!(names(&schemas["Role"]["enum"]), Role::ALL.map(|r| r.as_str().to_owned()));
    assert_eq!(names(&schemas["AuditEvent"]["enum"]), AuditEvent::ALL.map(|e| e.as_str().to_owned()));

    let mut ids = BTreeSet::new();
    for ((method, path), op) in operations(&doc) {
        let what = format!("{method} {path}");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{what}: summary");
        assert!(op["description"].as_str().is_some_and(|s| !s.is_empty()), "{what}: description");
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{what}: operationId"));
        assert!(ids.insert(id.to_owned()), "{what}: operationId {id} twice");
        assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{what}: tags");

        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{what}: responses"));
        assert!(!responses.is_empty(), "{what}: no response");
        for (code, r) in responses {
            assert!(code.len() == 3 && code.parse::<u16>().is_ok(), "{what}: status {code}");
            assert!(resolve(&doc, r)["description"].is_string(), "{what} {code}: description");
        }

        // Every security requirement names a scheme (`{}` is anonymous access).
        for req in op["security"].as_array().unwrap_or_else(|| panic!("{what}: security")) {
            for name in req.as_object().unwrap().keys() {
                assert!(schemes.get(name).is_some(), "{what}: unknown security scheme {name}");
            }
        }

        // Path parameters: exactly the template's `{names}`, all required.
        let template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        let item = &doc["paths"][&path];
        let params: Vec<&Value> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| resolve(&doc, p))
            .collect();
        let in_path: BTreeSet<String> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{what}: path parameter {} must be required", p["name"]);
                p["name"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(in_path, template, "{what}: path parameters");
    }
}

#[test]
fn security_and_limits_follow_the_route_table() {
    let doc = doc();
    let ops = operations(&doc);
    for route in ROUTES {
        for method in methods_of(route) {
            let what = format!("{method} {}", route.path);
            let op = ops
                .get(&(method.clone(), route.path.to_owned()))
                .unwrap_or_else(|| panic!("{what}: not documented"));
            let x = &op["x-gatehouse-access"];
            let security = &op["security"];
            let (credential, rule, scope) = match route.access {
                Access::Public => ("none", None, None),
                Access::Bearer(rule, scope) => ("bearer", Some(rule), scope),
                Access::BearerOrKey(rule, scope) => ("bearer-or-api-key", Some(rule), scope),
                Access::Enrolling => ("bearer-or-enrollment-token", Some(Rule::Any), None),
            };
            assert_eq!(x["credential"], credential, "{what}: x-gatehouse-access.credential");
            assert_eq!(x["rule"], json!(rule.map(rule_text)), "{what}: x-gatehouse-access.rule");
            assert_eq!(x["scope"], json!(scope), "{what}: x-gatehouse-access.scope");
            let rate = match route.rate {
                RateClass::Unlimited => None,
                RateClass::Login => Some("login"),
                RateClass::Register => Some("register"),
                RateClass::Api => Some("api"),
            };
            assert_eq!(x["rate_limit"], json!(rate), "{what}: x-gatehouse-access.rate_limit");
            if rate.is_some() {
                assert!(op["responses"].get("429").is_some(), "{what}: rate limited, so 429 is documented");
            }
            let scopes: Vec<&str> = scope.into_iter().collect();
            match route.access {
                Access::Public => {
                    let anonymous = security.as_array().unwrap().iter().all(|r| r == &json!({}))
                        || security.as_array().unwrap().contains(&json!({}));
                    // Forward auth is public in the table; its handler reads the credential.
                    let handler_checks = route.endpoint == gatehouse::server::routes::Endpoint::Verify;
                    assert!(
                        anonymous || handler_checks,
                        "{what}: public route with required security {security}"
                    );
                }
                Access::Bearer(..) | Access::Enrolling => {
                    assert_eq!(security, &json!([{"OAuth2PasswordBearer": scopes}]), "{what}: security");
                }
                Access::BearerOrKey(..) => {
                    assert_eq!(
                        security,
                        &json!([{"OAuth2PasswordBearer": scopes}, {"APIKeyHeader": scopes}]),
                        "{what}: security"
                    );
                }
            }
            if credential != "none" {
                for code in ["401", "403"] {
                    assert!(op["responses"].get(code).is_some(), "{what}: {code} is documented");
                }
            }
        }
    }
}

/// Asserts the page's own files load nothing from elsewhere and nothing inline.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut scripts = 0;
    while let Some(i) = rest.find("<script") {
        let tag_end = rest[i..].find('>').map(|j| i + j).unwrap();
        let tag = &rest[i..=tag_end];
        assert!(tag.contains(" src=\"/docs/"), "a script without our src: {tag}");
        assert!(rest[tag_end + 1..].starts_with("</script>"), "a script with an inline body: {tag}");
        scripts += 1;
        rest = &rest[tag_end + 1..];
    }
    assert_eq!(scripts, 1, "one script");
    assert!(lower.contains("src=\"/docs/docs.js\""), "references /docs/docs.js");
    assert!(lower.contains("href=\"/docs/docs.css\""), "references /docs/docs.css");
    assert!(!lower.contains("<style"), "no inline stylesheet");
    assert!(!lower.contains(" style="), "no style attribute");
    assert!(!lower.contains("javascript:"), "no javascript: URLs");
    for attr in [" onclick=", " onload=", " onerror=", " oninput="] {
        assert!(!lower.contains(attr), "no inline event handler {attr}");
    }
    for text in [html, SCRIPT, STYLE] {
        assert!(!text.contains("http://") && !text.contains("https://"), "nothing from another origin");
        assert!(!text.contains("\"//") && !text.contains("url(//"), "no protocol-relative URLs");
    }
    assert!(!SCRIPT.contains("innerHTML") && !SCRIPT.contains("outerHTML"), "text is inserted as text");
    assert!(!SCRIPT.contains(".style") && !SCRIPT.contains("eval("), "no inline styles or eval");
}

#[test]
fn docs_page_is_self_contained() {
    assert_self_contained(PAGE);
}

#[tokio::test]
async fn document_and_docs_page_are_served() {
    let t = TestServer::start().await;
    let r = t.check(get("/openapi.json"), 200, None).await;
    assert_eq!(r.header("content-type").as_deref(), Some("application/json"));
    let embedded = gatehouse::server::handlers::assets::OPENAPI;
    assert_eq!(&r.body[..], embedded.as_bytes(), "served byte for byte");
    // The file without its indentation: the same document, and nothing but
    // whitespace between tokens removed.
    assert_eq!(serde_json::from_str::<Value>(embedded).unwrap(), doc(), "the same document as the file");
    assert!(embedded.len() < DOC.len() * 3 / 4, "{} of {} bytes", embedded.len(), DOC.len());
    assert!(!embedded.contains('\n'), "no line breaks between tokens left");
    assert_eq!(r.json()["openapi"], "3.1.0");

    let r = t.check(get("/docs"), 200, None).await;
    assert_eq!(r.header("content-type").as_deref(), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(html, PAGE);
    assert_self_contained(&html);
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    for (path, content_type, body) in [
        ("/docs/docs.js", "text/javascript; charset=utf-8", SCRIPT),
        ("/docs/docs.css", "text/css; charset=utf-8", STYLE),
    ] {
        let r = t.check(get(path), 200, None).await;
        assert_eq!(r.header("content-type").as_deref(), Some(content_type), "{path}");
        assert_eq!(&r.body[..], body.as_bytes(), "{path}");
    }
    // Anything else under /docs is not a route.
    t.check(get("/docs/other.js"), 404, Some(json!({"detail": "Not Found"}))).await;
}

#[tokio::test]
async fn no_docs_turns_off_the_page_but_not_the_document() {
    let t = TestServer::start_with(&["--no-docs"]).await;
    for path in ["/docs", "/docs/docs.js", "/docs/docs.css"] {
        t.check(get(path), 404, Some(json!({"detail": "Not Found"}))).await;
    }
    let r = t.check(get("/openapi.json"), 200, None).await;
    assert_eq!(&r.body[..], gatehouse::server::handlers::assets::OPENAPI.as_bytes());
}
