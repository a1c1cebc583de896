//! Table b-trees (file format §1.6): interior and leaf pages, payloads that spill
//! onto overflow pages, and the record format of each row. Errors are plain
//! descriptions; `mod.rs` names the file.

use super::{be, Db, Value};

type Step<T> = Result<T, String>;

/// SQLite varint: 1–9 bytes, big-endian, 7 bits per byte, all 8 bits of the 9th.
fn varint(b: &[u8]) -> Step<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().take(9).enumerate() {
        if i == 8 {
            return Ok(((v << 8) | u64::from(x), 9));
        }
        v = (v << 7) | u64::from(x & 0x7f);
        if x & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    Err("a number runs past the end of its page".into())
}

/// How deep a b-tree may be (SQLite's own limit is about 20).
const MAX_DEPTH: u32 = 40;

impl Db {
    fn page(&self, n: u64) -> Step<&[u8]> {
        let i = usize::try_from(n).ok().filter(|i| (1..=self.pages).contains(i));
        let i = i.ok_or_else(|| format!("a pointer to page {n}, outside the file's {} pages", self.pages))?;
        self.buf
            .get((i - 1) * self.page_size..i * self.page_size)
            .ok_or_else(|| format!("page {n} is missing"))
    }

    /// Calls `f(rowid, values)` for every row of the table b-tree rooted at `root`,
    /// in rowid order. Every page is visited at most once per scan's budget.
    pub(super) fn scan(&self, root: u64, f: &mut dyn FnMut(i64, Vec<Value>) -> Step<()>) -> Step<()> {
        let mut stack = vec![(root, 0u32)];
        let mut visited = 0usize;
        while let Some((pgno, depth)) = stack.pop() {
            visited += 1;
            if visited > self.pages || depth > MAX_DEPTH {
                return Err("the table's b-tree loops or is impossibly deep".into());
            }
            let page = self.page(pgno)?;
            let off = if pgno == 1 { 100 } else { 0 };
            let hdr = page.get(off..off + 12).ok_or("a page header is cut short")?;
            let ncells = usize::try_from(be(&hdr[3..5])).unwrap_or(usize::MAX);
            let hlen = if hdr[0] == 0x05 { 12 } else { 8 };
            let ptrs = page.get(off + hlen..off + hlen + 2 * ncells).ok_or("a cell count beyond its page")?;
            let cell = |i: usize| -> Step<&[u8]> {
                let p = usize::try_from(be(&ptrs[2 * i..2 * i + 2])).unwrap_or(usize::MAX);
                page.get(p..self.usable.min(page.len()))
                    .ok_or_else(|| format!("a cell pointer beyond page {pgno}"))
            };
            match hdr[0] {
                0x05 => {
                    // Interior: children left to right, pushed so the leftmost pops first.
                    stack.push((be(&hdr[8..12]), depth + 1));
                    for i in (0..ncells).rev() {
                        let child = cell(i)?.get(..4).ok_or("an interior cell is cut short")?;
                        stack.push((be(child), depth + 1));
                    }
                }
                0x0d => {
                    for i in 0..ncells {
                        let c = cell(i)?;
                        let (len, a) = varint(c)?;
                        let (rowid, b) = varint(c.get(a..).ok_or("a leaf cell is cut short")?)?;
                        let payload = self.payload(c.get(a + b..).ok_or("a leaf cell is cut short")?, len)?;
                        f(rowid as i64, record(&payload)?)?;
                    }
                }
                kind => return Err(format!("page {pgno} should be a table page but is of kind {kind:#04x}")),
            }
        }
        Ok(())
    }

    /// A leaf cell's payload of `len` bytes: the part on the page, then the
    /// overflow chain (file format §1.6).
    fn payload(&self, cell: &[u8], len: u64) -> Step<Vec<u8>> {
        let len =
            usize::try_from(len).ok().filter(|l| *l <= self.buf.len()).ok_or("a row larger than the file")?;
        let u = self.usable;
        let x = u - 35;
        if len <= x {
            return Ok(cell.get(..len).ok_or("a row runs past its page")?.to_vec());
        }
        let m = (u - 12) * 32 / 255 - 23;
        let k = m + (len - m) % (u - 4);
        let local = if k <= x { k } else { m };
        let mut out = cell.get(..local).ok_or("a row runs past its page")?.to_vec();
        let mut next = be(cell.get(local..local + 4).ok_or("an overflow pointer is missing")?);
        let mut hops = 0;
        while out.len() < len {
            hops += 1;
            if next == 0 || hops > self.pages {
                return Err("a row's overflow chain is broken".into());
            }
            let p = self.page(next)?;
            next = be(p.get(..4).ok_or("an overflow page is cut short")?);
            let take = (len - out.len()).min(u - 4);
            out.extend_from_slice(p.get(4..4 + take).ok_or("an overflow page is cut short")?);
        }
        Ok(out)
    }

    /// The root page and `CREATE TABLE` text of table `name`, from `sqlite_schema`.
    pub(super) fn find_table(&self, name: &str) -> Step<Option<(u64, String)>> {
        let mut found = None;
        self.scan(1, &mut |_, row| {
            if let [Value::Text(kind), Value::Text(n), _, Value::Int(root), Value::Text(sql), ..] =
                row.as_slice()
            {
                if kind == "table" && n.eq_ignore_ascii_case(name) && found.is_none() {
                    found = Some((u64::try_from(*root).map_err(|_| "a negative root page")?, sql.clone()));
                }
            }
            Ok(())
        })?;
        Ok(found)
    }
}

/// The values of one record: a header of serial types, then the body.
fn record(p: &[u8]) -> Step<Vec<Value>> {
    let (hlen, mut h) = varint(p)?;
    let hlen = usize::try_from(hlen).ok().filter(|l| *l <= p.len()).ok_or("a record header past its row")?;
    let (mut body, mut out) = (hlen, Vec::new());
    while h < hlen {
        let (t, n) = varint(p.get(h..hlen).ok_or("a record header is cut short")?)?;
        h += n;
        let size = match t {
            0 | 8 | 9 => 0,
            1..=4 => t as usize,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err("a reserved serial type".into()),
            n => usize::try_from((n - 12) / 2).unwrap_or(usize::MAX),
        };
        let d = p.get(body..body.saturating_add(size)).ok_or("a value runs past its row")?;
        body += size;
        out.push(value(t, d));
    }
    Ok(out)
}

fn value(serial_type: u64, d: &[u8]) -> Value {
    match serial_type {
        0 => Value::Null,
        1..=6 => {
            let bits = 8 * d.len() as u32;
            Value::Int(((be(d) << (64 - bits)) as i64) >> (64 - bits))
        }
        7 => Value::Real(f64::from_bits(be(d))),
        8 => Value::Int(0),
        9 => Value::Int(1),
        n if n % 2 == 0 => Value::Blob(d.to_vec()),
        _ => match std::str::from_utf8(d) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::Blob(d.to_vec()),
        },
    }
}
