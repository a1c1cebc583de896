//! The SQLite reader (`import tutorial`'s, hand-written) on arbitrary bytes: every
//! outcome must be a table or an error, never a panic or a hang. The first byte
//! picks how the rest is used: as a whole file, or after a valid 100-byte header
//! for 512-byte pages (so the runs reach the b-tree, overflow and record code
//! instead of stopping at the magic string).
#![no_main]

use gatehouse::sqlite::read_table_in;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let buf = if sel & 1 == 0 {
        rest.to_vec()
    } else {
        let mut b = rest.to_vec();
        b.resize(b.len().max(100), 0);
        b[..16].copy_from_slice(b"SQLite format 3\0");
        b[16..18].copy_from_slice(&512u16.to_be_bytes());
        b[18] = 1; // legacy (rollback journal) read/write versions
        b[19] = 1;
        b[20] = 0; // no reserved bytes
        b[56..60].copy_from_slice(&1u32.to_be_bytes()); // UTF-8
        let pages = b.len().div_ceil(512).min(256);
        b.resize(pages * 512, 0);
        b
    };
    let table = if sel & 2 == 0 { "users" } else { "sqlite_schema" };
    let _ = read_table_in(buf, Path::new("fuzz.db"), table);
});
