//! The export section of a WebAssembly module, rewritten: the one edit `trim-exports` makes.
//! Every other section is copied byte for byte.

use std::fmt;

const MAGIC: &[u8] = b"\0asm";
const EXPORT_SECTION: u8 = 7;

/// Why a module could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    NotWasm,
    Truncated,
    /// A LEB128 number too long for 32 bits.
    Number,
    Name,
    /// More than one export section.
    Exports,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Malformed::NotWasm => "no wasm header",
            Malformed::Truncated => "truncated",
            Malformed::Number => "a malformed number",
            Malformed::Name => "an export name that is not UTF-8",
            Malformed::Exports => "two export sections",
        })
    }
}

/// A module with some exports dropped.
pub struct Retained {
    pub module: Vec<u8>,
    pub kept: Vec<String>,
    pub dropped: Vec<String>,
}

/// `module` with only the exports whose name `keep` accepts.
pub fn retain(module: &[u8], keep: impl Fn(&str) -> bool) -> Result<Retained, Malformed> {
    if module.len() < 8 || &module[..4] != MAGIC {
        return Err(Malformed::NotWasm);
    }
    let mut out = module[..8].to_vec();
    let (mut kept, mut dropped) = (Vec::new(), Vec::new());
    let mut seen_exports = false;
    let mut reader = Reader {
        bytes: module,
        at: 8,
    };
    while reader.at < module.len() {
        let start = reader.at;
        let id = reader.byte()?;
        let size = reader.number()? as usize;
        let body = reader.take(size)?;
        if id != EXPORT_SECTION {
            out.extend_from_slice(&module[start..reader.at]);
            continue;
        }
        if std::mem::replace(&mut seen_exports, true) {
            return Err(Malformed::Exports);
        }
        let mut section = Vec::new();
        let mut entries = Reader { bytes: body, at: 0 };
        let mut retained = 0u32;
        for _ in 0..entries.number()? {
            let entry_start = entries.at;
            let length = entries.number()? as usize;
            let name = std::str::from_utf8(entries.take(length)?).map_err(|_| Malformed::Name)?;
            let _kind = entries.byte()?;
            let _index = entries.number()?;
            if keep(name) {
                section.extend_from_slice(&body[entry_start..entries.at]);
                kept.push(name.to_owned());
                retained += 1;
            } else {
                dropped.push(name.to_owned());
            }
        }
        let mut body = leb128(retained);
        body.extend_from_slice(&section);
        out.push(EXPORT_SECTION);
        out.extend_from_slice(&leb128(
            u32::try_from(body.len()).map_err(|_| Malformed::Number)?,
        ));
        out.extend_from_slice(&body);
    }
    Ok(Retained {
        module: out,
        kept,
        dropped,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let byte = *self.bytes.get(self.at).ok_or(Malformed::Truncated)?;
        self.at += 1;
        Ok(byte)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.at.checked_add(n).ok_or(Malformed::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(Malformed::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    /// An unsigned LEB128 number of at most 32 bits.
    fn number(&mut self) -> Result<u32, Malformed> {
        let mut value: u32 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.byte()?;
            let bits = u32::from(byte & 0x7f);
            if shift == 28 && bits > 0x0f {
                return Err(Malformed::Number);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed::Number)
    }
}

fn leb128(mut n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module of a type, two functions, a custom section and `names` exported (all function 0).
    fn module(names: &[&str]) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        m.extend_from_slice(&[3, 3, 2, 0, 0]); // function section: two functions of type 0
        let mut exports = leb128(names.len() as u32);
        for name in names {
            exports.extend_from_slice(&leb128(name.len() as u32));
            exports.extend_from_slice(name.as_bytes());
            exports.extend_from_slice(&[0, 0]);
        }
        m.push(EXPORT_SECTION);
        m.extend_from_slice(&leb128(exports.len() as u32));
        m.extend_from_slice(&exports);
        m.extend_from_slice(&[10, 7, 2, 2, 0, 0x0b, 2, 0, 0x0b]); // code: two empty bodies
        m.extend_from_slice(&[0, 4, 3, b'a', b'b', b'c']); // a custom section, kept as it is
        m
    }

    #[test]
    fn drops_what_is_not_kept_and_copies_the_rest() {
        let long = "x".repeat(200); // a name whose length takes two LEB128 bytes
        let all = module(&["memory", "proxy_on_log", &long, "proxy_on_tick"]);
        let trimmed = retain(&all, |n| n.starts_with("proxy_on_t") || n == "memory").unwrap();
        assert_eq!(trimmed.kept, ["memory", "proxy_on_tick"]);
        assert_eq!(trimmed.dropped, ["proxy_on_log", long.as_str()]);
        assert_eq!(trimmed.module, module(&["memory", "proxy_on_tick"]));
        let again = retain(&trimmed.module, |_| true).unwrap();
        assert_eq!(
            again.module, trimmed.module,
            "keeping everything changes nothing"
        );
    }

    #[test]
    fn malformed_modules_are_refused() {
        assert_eq!(
            retain(b"\0asn\x01\0\0\0", |_| true).err(),
            Some(Malformed::NotWasm)
        );
        let all = module(&["memory"]);
        // Cut inside the export section (after the 8-byte header, the type and function
        // sections): its entries run past the end.
        let exports = 8 + 6 + 5;
        for cut in exports + 1..exports + 11 {
            assert_eq!(
                retain(&all[..cut], |_| true).err(),
                Some(Malformed::Truncated),
                "cut at {cut}"
            );
        }
        // Anywhere else, a cut module is refused or, cut between sections, copied unchanged.
        for cut in 8..all.len() {
            if let Ok(r) = retain(&all[..cut], |_| true) {
                assert_eq!(r.module, &all[..cut], "cut at {cut}");
            }
        }
        let mut twice = all.clone();
        twice.extend_from_slice(&[EXPORT_SECTION, 1, 0]);
        assert_eq!(retain(&twice, |_| true).err(), Some(Malformed::Exports));
        let mut long_number = all[..8].to_vec();
        long_number.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(
            retain(&long_number, |_| true).err(),
            Some(Malformed::Number)
        );
    }
}
