//! The layers' allowed imports, enforced: reads every file under `src/` and fails on
//! a path into a top-level module its layer may not import, naming file and line.
//!
//! An import of module X is any path that reaches `crate::X` in code: `use` lines,
//! grouped uses (`use crate::{store, domain::Auth}`), inline paths
//! (`crate::store::records::Role::parse(..)`), `super::` chains that climb out of
//! the file's top-level module, and `gatehouse::X` (the binary's name for the
//! library). Comments, string and char literals are skipped; test code is checked
//! like the rest. A file no layer owns, or an import of a module no layer lists,
//! fails too: a new module needs its place in `LAYERS` first.
//!
//! Not seen: paths in `lib.rs` written without `crate::` (`pub use store::X`), and
//! globs of the crate root itself (`use crate::*`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// A layer: the files it owns (exact, or a directory with `/**`) and the top-level
/// modules they may import. Absent files and directories are fine.
struct Layer {
    name: &'static str,
    files: &'static [&'static str],
    may_import: &'static [&'static str],
}

#[rustfmt::skip]
const LAYERS: &[Layer] = &[
    Layer { name: "cli",
            files: &["src/main.rs", "src/lib.rs", "src/app.rs", "src/app/**", "src/cli.rs", "src/cli/**"],
            may_import: &["cli", "app", "server", "ops", "domain", "config", "certs", "clock"] },
    Layer { name: "config", files: &["src/config.rs", "src/config/**"],
            may_import: &["config", "domain", "clock"] },
    Layer { name: "server", files: &["src/server/**"],
            may_import: &["server", "domain", "ops", "config", "certs", "clock"] },
    Layer { name: "ops",    files: &["src/ops/**"],
            may_import: &["ops", "domain", "clock"] },
    Layer { name: "domain", files: &["src/domain/**"],
            may_import: &["domain", "store", "crypto", "sqlite", "clock"] },
    Layer { name: "certs",  files: &["src/certs.rs", "src/certs/**"],
            may_import: &["certs", "crypto", "clock"] },
    Layer { name: "store",  files: &["src/store/**"],
            may_import: &["store", "clock"] },
    Layer { name: "crypto", files: &["src/crypto/**"],
            may_import: &["crypto"] },
    Layer { name: "sqlite", files: &["src/sqlite.rs", "src/sqlite/**"],
            may_import: &["sqlite"] },
    Layer { name: "clock",  files: &["src/clock.rs"],
            may_import: &["clock"] },
];

impl Layer {
    fn owns(&self, file: &str) -> bool {
        self.files.iter().any(|pattern| match pattern.strip_suffix("/**") {
            Some(dir) => file.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')),
            None => file == *pattern,
        })
    }
}

#[test]
fn every_import_between_layers_is_allowed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = rust_files(&root.join("src"));
    assert!(!files.is_empty(), "no .rs files under {}", root.join("src").display());
    let mut violations = Vec::new();
    for file in &files {
        let name = relative(root, file);
        let src = fs::read_to_string(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        violations.extend(check(&name, &src));
    }
    let culprits: BTreeSet<_> = violations.iter().filter_map(|v| v.split(':').next()).collect();
    assert!(
        violations.is_empty(),
        "\n{}\n\n{} forbidden imports in {} of {} files. The layers (LAYERS in tests/architecture.rs):\n{}",
        violations.join("\n"),
        violations.len(),
        culprits.len(),
        files.len(),
        table()
    );
}

/// One line per forbidden import in `src`, the text of the file `name` (`src/...`).
fn check(name: &str, src: &str) -> Vec<String> {
    let Some(layer) = LAYERS.iter().find(|layer| layer.owns(name)) else {
        return vec![format!("{name}:1: no layer in LAYERS owns this file")];
    };
    let mut seen = BTreeSet::new();
    imports(src, &module_path(name))
        .into_iter()
        .filter(|import| !layer.may_import.contains(&import.module.as_str()))
        .filter(|import| seen.insert((import.line, import.module.clone())))
        .map(|i| format!("{name}:{}: {} may not import {} ({})", i.line, layer.name, i.module, i.path))
        .collect()
}

/// The module a file is: `src/server/tls/mod.rs` → `server::tls`; the crate roots → none.
fn module_path(name: &str) -> Vec<String> {
    let inner = name.trim_start_matches("src/").trim_end_matches(".rs");
    let mut path: Vec<String> = inner.split('/').map(str::to_owned).collect();
    if path.last().is_some_and(|last| last == "mod") || matches!(inner, "lib" | "main") {
        path.pop();
    }
    path
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

fn relative(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap();
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn table() -> String {
    let rows = LAYERS.iter().map(|l| {
        format!("  {:<7} {:<58} may import {}", l.name, l.files.join(", "), l.may_import.join(", "))
    });
    rows.collect::<Vec<_>>().join("\n")
}

// ---- Finding paths: which top-level module each path in a file reaches. ----

/// A path in code that reaches a top-level module of the crate.
#[derive(Debug, PartialEq)]
struct Import {
    module: String,
    line: usize,
    path: String,
}

/// Every path in `src` that reaches a top-level module, for a file that is module
/// `file_module`. Inline `mod name { .. }` blocks (tests) deepen the module for `super`.
fn imports(src: &str, file_module: &[String]) -> Vec<Import> {
    let toks = tokens(src);
    let (mut out, mut here, mut opened_at) = (Vec::new(), file_module.to_vec(), Vec::new());
    let (mut depth, mut i) = (0usize, 0);
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if opened_at.last() == Some(&depth) {
                    opened_at.pop();
                    here.pop();
                }
            }
            Tok::Ident(word) if word == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Punct('{'))) =
                    (kind(&toks, i + 1), kind(&toks, i + 2))
                {
                    here.push(name.clone());
                    opened_at.push(depth);
                }
            }
            Tok::Ident(root) if starts_path(&toks, i) => {
                i = tree(&toks, i + 1, Place::start(root, &here, toks[i].line), &mut out);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// `crate::`, `super::`, `self::`, `gatehouse::` at the start of a path (not in
/// the middle of one, not a visibility like `pub(in crate::x)`).
fn starts_path(toks: &[Token], i: usize) -> bool {
    const ROOTS: [&str; 4] = ["crate", "super", "self", "gatehouse"];
    let root = matches!(kind(toks, i), Some(Tok::Ident(w)) if ROOTS.contains(&w.as_str()));
    let back = |k: usize| i.checked_sub(k).and_then(|b| kind(toks, b));
    let mid_path = back(1) == Some(&Tok::Sep);
    let visibility = matches!(back(1), Some(Tok::Ident(w)) if w == "in") && back(2) == Some(&Tok::Punct('('));
    root && !mid_path && !visibility && kind(toks, i + 1) == Some(&Tok::Sep)
}

/// Where a path has got to: the absolute module path it names so far, as written.
#[derive(Clone)]
struct Place {
    resolved: Vec<String>,
    written: String,
    line: usize,
}

impl Place {
    fn start(root: &str, here: &[String], line: usize) -> Place {
        let resolved = if matches!(root, "crate" | "gatehouse") { Vec::new() } else { here.to_vec() };
        let mut place = Place { resolved, written: root.to_owned(), line };
        if root == "super" {
            place.resolved.pop();
        }
        place
    }

    fn step(&mut self, segment: &str, line: usize) {
        match segment {
            "super" => {
                self.resolved.pop();
            }
            "self" => {}
            _ => {
                self.resolved.push(segment.to_owned());
                if self.resolved.len() == 1 {
                    self.line = line; // the line that names the top-level module
                }
            }
        }
        self.written = format!("{}::{segment}", self.written);
    }

    fn emit(&self, out: &mut Vec<Import>) {
        if let Some(module) = self.resolved.first() {
            out.push(Import { module: module.clone(), line: self.line, path: self.written.clone() });
        }
    }
}

/// Follows `::segment` after `at`; returns the index after the path.
fn tree(toks: &[Token], mut i: usize, mut at: Place, out: &mut Vec<Import>) -> usize {
    while kind(toks, i) == Some(&Tok::Sep) {
        match kind(toks, i + 1) {
            Some(Tok::Ident(segment)) => at.step(segment, toks[i + 1].line),
            Some(Tok::Punct('{')) if at.resolved.is_empty() => return group(toks, i + 2, &at, out),
            Some(Tok::Punct('{')) => {
                at.emit(out); // the module is known: `crate::store::records::{A, B}` is one import
                return group(toks, i + 2, &at, &mut Vec::new());
            }
            _ => break, // a glob `::*` or a turbofish `::<`
        }
        i += 2;
    }
    at.emit(out);
    i
}

/// The items of `{ a, b::c, d as e, self }` after `at`; `i` is after the `{`.
fn group(toks: &[Token], mut i: usize, at: &Place, out: &mut Vec<Import>) -> usize {
    loop {
        match kind(toks, i) {
            None => return i,
            Some(Tok::Punct('}')) => return i + 1,
            Some(Tok::Ident(word)) if word == "as" => i += 2,
            Some(Tok::Ident(segment)) => {
                let mut item = at.clone();
                item.step(segment, toks[i].line);
                i = tree(toks, i + 1, item, out);
            }
            Some(Tok::Punct('{')) => i = group(toks, i + 1, at, out),
            _ => i += 1,
        }
    }
}

fn kind(toks: &[Token], i: usize) -> Option<&Tok> {
    toks.get(i).map(|t| &t.tok)
}

// ---- Tokens: identifiers, `::` and punctuation, without comments or literals. ----

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Sep,
    Punct(char),
}

struct Token {
    tok: Tok,
    line: usize,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: usize,
    out: Vec<Token>,
}

fn tokens(src: &str) -> Vec<Token> {
    let mut lexer = Lexer { chars: src.chars().collect(), i: 0, line: 1, out: Vec::new() };
    while let Some(c) = lexer.peek(0) {
        lexer.step(c);
    }
    lexer.out
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Lexer {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn bump(&mut self) {
        if self.peek(0) == Some('\n') {
            self.line += 1;
        }
        self.i += 1;
    }

    fn push(&mut self, tok: Tok) {
        self.out.push(Token { tok, line: self.line });
    }

    fn step(&mut self, c: char) {
        match (c, self.peek(1)) {
            ('/', Some('/')) => self.skip_until_newline(),
            ('/', Some('*')) => self.block_comment(),
            ('"', _) => self.string(),
            ('\'', _) => self.quote(),
            (':', Some(':')) => {
                self.push(Tok::Sep);
                self.i += 2;
            }
            _ if is_word_char(c) => self.word(),
            _ if c.is_whitespace() => self.bump(),
            _ => {
                self.push(Tok::Punct(c));
                self.bump();
            }
        }
    }

    fn skip_until_newline(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    /// `/* .. */`, nested as Rust nests them.
    fn block_comment(&mut self) {
        let mut depth = 0;
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some('/'), Some('*')) => depth += 1,
                (Some('*'), Some('/')) => depth -= 1,
                (Some(_), _) => {
                    self.bump();
                    continue;
                }
                (None, _) => return,
            }
            self.i += 2;
            if depth == 0 {
                return;
            }
        }
    }

    /// `"..."` with escapes; `self.i` is at the opening quote.
    fn string(&mut self) {
        self.bump();
        while let Some(c) = self.peek(0) {
            self.bump();
            match c {
                '\\' => self.bump(),
                '"' => return,
                _ => {}
            }
        }
    }

    /// A char literal (`'x'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`, skipped as a word).
    fn quote(&mut self) {
        if self.peek(1) == Some('\\') {
            self.i += 3;
            while self.peek(0).is_some_and(|c| c != '\'') {
                self.bump();
            }
            self.bump();
        } else if self.peek(2) == Some('\'') {
            self.i += 3;
        } else {
            self.bump();
        }
    }

    /// An identifier, keyword or number; or the prefix of `b".."`, `b'x'`, `r#".."#`.
    fn word(&mut self) {
        let (start, line) = (self.i, self.line);
        while self.peek(0).is_some_and(is_word_char) {
            self.i += 1;
        }
        let word: String = self.chars[start..self.i].iter().collect();
        match (word.as_str(), self.peek(0)) {
            ("r" | "br" | "cr", Some('"' | '#')) if self.raw_string() => {}
            ("b" | "c", Some('"')) => self.string(),
            ("b", Some('\'')) => self.quote(),
            _ => self.out.push(Token { tok: Tok::Ident(word), line }),
        }
    }

    /// `#*"..."#*` after an `r`; false (nothing consumed) for a raw identifier `r#x`.
    fn raw_string(&mut self) -> bool {
        let hashes = (0..).take_while(|&k| self.peek(k) == Some('#')).count();
        if self.peek(hashes) != Some('"') {
            return false;
        }
        self.i += hashes + 1;
        let close: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
        while self.peek(0).is_some() && !self.chars[self.i..].starts_with(&close) {
            self.bump();
        }
        self.i += close.len();
        true
    }
}

// ---- The checker's own tests: it must see every import and nothing else. ----

mod scanner {
    use super::*;

    fn modules(src: &str, file: &str) -> Vec<(String, usize)> {
        imports(src, &module_path(file)).into_iter().map(|i| (i.module, i.line)).collect()
    }

    fn m(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
        pairs.iter().map(|(m, l)| (m.to_string(), *l)).collect()
    }

    #[test]
    fn comments_strings_and_chars_are_not_code() {
        let src = r###"
//! crate::store is mentioned in the module doc
/// and crate::server in an item doc, // crate::ops in a line comment
/* crate::store /* nested crate::store */ still crate::store */
const A: &str = "crate::store::X \" crate::store";
const B: &str = r#"a raw " crate::store " string"#;
const C: &[u8] = b"crate::store";
const D: char = '"'; use crate::clock::Clock;
const E: char = '\''; fn f<'a>(x: &'a str) -> crate::domain::Error {}
"###;
        assert_eq!(modules(src, "src/domain/x.rs"), m(&[("clock", 8), ("domain", 9)]));
    }

    #[test]
    fn grouped_and_nested_uses_name_each_module_on_its_line() {
        let src = "use crate::{store as s, domain::Auth};\nuse crate::{\n\
                   store::{a, b},\n crypto::{self, jwt as j},\n clock,\n};";
        let expected = m(&[("store", 1), ("domain", 1), ("store", 3), ("crypto", 4), ("clock", 5)]);
        assert_eq!(modules(src, "src/server/x.rs"), expected);
    }

    #[test]
    fn inline_paths_count_and_visibilities_do_not() {
        let src = "pub(crate) fn f() {\n let r = crate::store::records::Role::parse(x);\n}\n\
                   pub(super) struct S;\npub(in crate::store) struct T;\nfor x in crate::crypto::all() {}";
        let found = imports(src, &module_path("src/server/gate.rs"));
        let role =
            Import { module: "store".into(), line: 2, path: "crate::store::records::Role::parse".into() };
        let all = Import { module: "crypto".into(), line: 6, path: "crate::crypto::all".into() };
        assert_eq!(found, vec![role, all]);
    }

    #[test]
    fn super_chains_resolve_from_the_files_module() {
        let src =
            "use super::super::super::store::Store;\nuse super::super::gate;\nuse super::UserResponse;\n\
                   use self::inner::X;";
        let expected = m(&[("store", 1), ("server", 2), ("server", 3), ("server", 4)]);
        assert_eq!(modules(src, "src/server/handlers/x.rs"), expected);
        assert_eq!(modules("use super::store::X;", "src/server/mod.rs"), m(&[("store", 1)]));
    }

    #[test]
    fn super_in_an_inline_module_starts_one_level_deeper() {
        let src = "use super::Auth;\n#[cfg(test)]\nmod tests {\n use super::*;\n use super::super::Auth;\n\
                   use super::super::super::store::X;\n}\nuse super::access::Rule;";
        let expected = m(&[("domain", 1), ("domain", 4), ("domain", 5), ("store", 6), ("domain", 8)]);
        assert_eq!(modules(src, "src/domain/users.rs"), expected);
    }

    #[test]
    fn the_binary_names_the_library_gatehouse() {
        let src = "use gatehouse::ops::cli::{self as ops};\nfn f(a: &gatehouse::cli::Args) {}";
        assert_eq!(modules(src, "src/main.rs"), m(&[("ops", 1), ("cli", 2)]));
    }

    #[test]
    fn check_reports_file_line_layer_and_path() {
        let src = "//! Doc.\n\nuse crate::domain::Auth;\nuse crate::store::records::{AuditEvent, User};";
        let expected = "src/server/gate.rs:4: server may not import store (crate::store::records)";
        assert_eq!(check("src/server/gate.rs", src), vec![expected.to_string()]);
        assert_eq!(check("src/domain/users.rs", src), Vec::<String>::new());
        assert_eq!(check("src/lib.rs", "pub mod store;\npub mod crypto;"), Vec::<String>::new());
        assert_eq!(check("src/crypto/jwt.rs", "use crate::clock::Clock;").len(), 1);
    }

    #[test]
    fn files_and_modules_outside_the_table_fail() {
        assert_eq!(
            check("src/extra.rs", ""),
            vec!["src/extra.rs:1: no layer in LAYERS owns this file".to_string()]
        );
        let message = "src/ops/x.rs:1: ops may not import extra (crate::extra::Thing)";
        assert_eq!(check("src/ops/x.rs", "use crate::extra::Thing;"), vec![message.to_string()]);
    }

    #[test]
    fn module_paths() {
        assert_eq!(module_path("src/lib.rs"), Vec::<String>::new());
        assert_eq!(module_path("src/main.rs"), Vec::<String>::new());
        assert_eq!(module_path("src/clock.rs"), vec!["clock"]);
        assert_eq!(module_path("src/server/tls/mod.rs"), vec!["server", "tls"]);
        assert_eq!(module_path("src/server/handlers/ui.rs"), vec!["server", "handlers", "ui"]);
        assert!(LAYERS[0].owns("src/cli/run.rs") && !LAYERS[0].owns("src/client.rs"));
    }
}
