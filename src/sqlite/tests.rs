//! The reader against files the real SQLite wrote (`tests/fixtures/sqlite/make.py`),
//! compared row by row with what SQLite itself reads back; and against damage.

use super::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlite").join(name)
}

fn json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Int(i) => (*i).into(),
        Value::Real(f) => (*f).into(),
        Value::Text(s) => s.clone().into(),
        Value::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>().into(),
    }
}

#[test]
fn every_row_reads_as_sqlite_reads_it() {
    let table = read_table(&fixture("rows.db"), "USERS").unwrap();
    let expected: Vec<serde_json::Value> = std::fs::read_to_string(fixture("rows.db.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(table.columns.first().map(String::as_str), Some("id"));
    assert_eq!(table.columns.last().map(String::as_str), Some("note"), "a column added later");
    assert_eq!(table.rows.len(), expected.len());
    assert!(table.rows.len() > 250, "enough rows for interior pages");
    for (row, want) in table.rows.iter().zip(&expected) {
        let got: serde_json::Map<String, serde_json::Value> =
            table.columns.iter().cloned().zip(row.values.iter().map(json)).collect();
        assert_eq!(&serde_json::Value::Object(got), want, "rowid {}", row.rowid);
        assert_eq!(Some(&Value::Int(row.rowid)), row.values.first());
    }
    let long = table.rows.iter().filter_map(|r| match &r.values[4] {
        Value::Text(t) => Some(t.len()),
        _ => None,
    });
    assert_eq!(long.max(), Some(12_000), "text spilling over many overflow pages");
}

#[test]
fn what_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let good = std::fs::read(fixture("rows.db")).unwrap();
    let not = at("redb", b"redb\x1a\x0a\xa9\x0d\x0a plus whatever follows");
    assert!(matches!(read_table(&not, "users"), Err(Error::NotSqlite(_))));
    assert!(matches!(read_table(&at("empty", b""), "users"), Err(Error::NotSqlite(_))));
    let half = at("half.db", &good[..good.len() / 2]);
    let err = read_table(&half, "users").unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert!(
        err.to_string().contains("the header counts 225 pages of 512 bytes, the file holds 112"),
        "{err}"
    );
    let odd = at("odd.db", &good[..good.len() - 100]);
    assert!(matches!(read_table(&odd, "users"), Err(Error::Truncated { .. })));
    let other = read_table(&fixture("other.db"), "accounts").unwrap_err();
    assert_eq!(other.to_string(), format!("{} has no table named accounts", fixture("other.db").display()));
    let users = read_table(&fixture("other.db"), "users").unwrap();
    assert_eq!(users.columns, ["id", "login", "pw"]);
    assert_eq!(
        users.rows[0].values,
        [Value::Int(1), Value::Text("alice".into()), Value::Text("secret".into())]
    );
    assert!(matches!(read_table(&dir.path().join("absent"), "users"), Err(Error::Io { .. })));
}

#[test]
fn pending_writes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let mut bytes = std::fs::read(fixture("rows.db")).unwrap();
    std::fs::write(&db, &bytes).unwrap();
    std::fs::write(dir.path().join("auth.db-journal"), b"").unwrap();
    assert!(read_table(&db, "users").is_ok(), "an empty journal is a finished transaction");
    std::fs::write(dir.path().join("auth.db-journal"), b"journal").unwrap();
    let err = read_table(&db, "users").unwrap_err();
    assert!(err.to_string().contains("a write to the database is under way or was interrupted"), "{err}");
    std::fs::remove_file(dir.path().join("auth.db-journal")).unwrap();
    (bytes[18], bytes[19]) = (2, 2); // WAL mode
    std::fs::write(&db, &bytes).unwrap();
    std::fs::write(dir.path().join("auth.db-wal"), b"").unwrap();
    assert!(read_table(&db, "users").is_ok(), "checkpointed");
    std::fs::write(dir.path().join("auth.db-wal"), b"frames").unwrap();
    let err = read_table(&db, "users").unwrap_err();
    assert!(err.to_string().contains("pragma wal_checkpoint(truncate)"), "{err}");
    bytes[56..60].copy_from_slice(&2u32.to_be_bytes()); // UTF-16le
    std::fs::write(&db, &bytes).unwrap();
    assert!(matches!(read_table(&db, "users"), Err(Error::Unsupported(_))));
}

/// xorshift64: deterministic damage, so a failure reproduces.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("rows.db")).unwrap();
    let path = dir.path().join("damaged.db");
    let (mut state, mut failed) = (0x9e37_79b9_7f4a_7c15u64, 0);
    for round in 0..300 {
        let mut bytes = good.clone();
        for _ in 0..1 + next(&mut state) % 8 {
            // Mostly the b-tree's structure: page headers and cell pointers.
            let page = (next(&mut state) % 225) as usize * 512;
            let at = page + (next(&mut state) % if round % 2 == 0 { 24 } else { 512 }) as usize;
            bytes[at.max(100)] = next(&mut state) as u8;
        }
        if round % 10 == 0 {
            bytes.truncate((next(&mut state) % good.len() as u64) as usize / 512 * 512);
        }
        std::fs::write(&path, &bytes).unwrap();
        failed += usize::from(read_table(&path, "users").is_err());
    }
    assert!(failed > 30, "the damage was noticed ({failed} of 300)");
}

#[test]
fn bytes_in_memory_read_as_the_file_does() {
    let path = fixture("rows.db");
    let from_file = read_table(&path, "users").unwrap();
    let in_memory = read_table_in(std::fs::read(&path).unwrap(), Path::new("x.db"), "users").unwrap();
    assert_eq!(in_memory, from_file);
    let err = read_table_in(b"SQLite format 3\0".to_vec(), Path::new("x.db"), "users").unwrap_err();
    assert_eq!(err.to_string(), "x.db is truncated: the 100-byte header is incomplete");
}
