//! What a `CREATE TABLE` statement says about a table's rows: the column names in
//! order, which column (if any) is an alias of the rowid, and `WITHOUT ROWID`.
//! Enough of SQLite's grammar for tables that applications create (quoted names,
//! type names with arguments, string defaults); not a SQL parser.

/// The shape of a table's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shape {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The column that is the rowid (`INTEGER PRIMARY KEY`), stored as NULL.
    pub rowid_alias: Option<usize>,
    /// A `WITHOUT ROWID` table (stored differently; not supported).
    pub without_rowid: bool,
}

const CONSTRAINTS: [&str; 5] = ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"];

/// Parses `sql`, a `CREATE TABLE` statement as `sqlite_schema` keeps it.
pub(super) fn parse(sql: &str) -> Shape {
    let (open, close) = (sql.find('('), sql.rfind(')'));
    let (body, tail) = match (open, close) {
        (Some(a), Some(b)) if a < b => (&sql[a + 1..b], &sql[b + 1..]),
        _ => ("", ""),
    };
    let without_rowid =
        tail.to_ascii_uppercase().split_whitespace().collect::<Vec<_>>().join(" ").contains("WITHOUT ROWID");
    let mut columns = Vec::new();
    let mut alias = None;
    let mut table_pk: Option<Vec<String>> = None;
    let mut types = Vec::new();
    for def in split_top_level(body) {
        let (name, rest) = first_name(def.trim());
        if name.is_empty() {
            continue;
        }
        let upper = rest.to_ascii_uppercase();
        if CONSTRAINTS.contains(&name.to_ascii_uppercase().as_str()) && !is_quoted(def.trim()) {
            if name.eq_ignore_ascii_case("PRIMARY") || upper.contains("PRIMARY KEY") {
                table_pk = Some(paren_names(rest));
            }
            continue;
        }
        let ty = upper.split_whitespace().next().unwrap_or("").to_owned();
        if ty == "INTEGER" && upper.contains("PRIMARY KEY") && !upper.contains("PRIMARY KEY DESC") {
            alias = Some(columns.len());
        }
        types.push(ty);
        columns.push(name);
    }
    if let Some([pk]) = table_pk.as_deref() {
        let i = columns.iter().position(|c| c.eq_ignore_ascii_case(pk));
        alias = alias.or(i.filter(|&i| types[i] == "INTEGER"));
    }
    Shape { columns, rowid_alias: alias, without_rowid }
}

fn is_quoted(s: &str) -> bool {
    s.starts_with(['"', '`', '['])
}

/// Splits at commas outside parentheses and quotes.
fn split_top_level(body: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start, mut quote) = (Vec::new(), 0i32, 0, None);
    for (i, ch) in body.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(ch),
            (None, '[') => quote = Some(']'),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
}

/// The leading name of a definition (quoted or bare) and what follows it.
fn first_name(def: &str) -> (String, &str) {
    let close = match def.chars().next() {
        Some('"') => Some('"'),
        Some('`') => Some('`'),
        Some('[') => Some(']'),
        _ => None,
    };
    if let Some(c) = close {
        if let Some(end) = def[1..].find(c) {
            return (def[1..1 + end].to_owned(), &def[2 + end..]);
        }
    }
    let end = def.find(|c: char| c.is_whitespace() || c == '(').unwrap_or(def.len());
    (def[..end].to_owned(), &def[end..])
}

/// The names inside the first parentheses of `s`: `PRIMARY KEY (id)` → `["id"]`.
fn paren_names(s: &str) -> Vec<String> {
    let inner = s.find('(').and_then(|a| s[a..].find(')').map(|b| &s[a + 1..a + b])).unwrap_or("");
    inner.split(',').map(|n| first_name(n.trim()).0).filter(|n| !n.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorials_users_table() {
        let sql = "CREATE TABLE users (\n\tid INTEGER NOT NULL, \n\tusername VARCHAR(50) NOT NULL, \n\temail VARCHAR(255) NOT NULL, \n\tis_active BOOLEAN NOT NULL, \n\tPRIMARY KEY (id)\n)";
        let s = parse(sql);
        assert_eq!(s.columns, ["id", "username", "email", "is_active"]);
        assert_eq!(s.rowid_alias, Some(0));
        assert!(!s.without_rowid);
    }

    #[test]
    fn quoted_names_defaults_and_constraints() {
        let sql = r#"CREATE TABLE "t" ("my col" TEXT DEFAULT 'a,(b', [x] INTEGER PRIMARY KEY, `y` NUMERIC(10, 2), CONSTRAINT c UNIQUE (y), CHECK (x > 0))"#;
        let s = parse(sql);
        assert_eq!(s.columns, ["my col", "x", "y"]);
        assert_eq!(s.rowid_alias, Some(1));
    }

    #[test]
    fn what_is_not_a_rowid_alias() {
        assert_eq!(parse("CREATE TABLE t (id INT PRIMARY KEY, v)").rowid_alias, None);
        assert_eq!(parse("CREATE TABLE t (a INTEGER, b INTEGER, PRIMARY KEY (a, b))").rowid_alias, None);
        assert_eq!(parse("CREATE TABLE t (id INTEGER PRIMARY KEY DESC)").rowid_alias, None);
        let w = parse("CREATE TABLE t (k TEXT PRIMARY KEY, v) WITHOUT  rowid");
        assert!(w.without_rowid);
        assert_eq!(parse("garbage").columns, Vec::<String>::new());
    }
}
