//! Decoding of the proxy-wasm ABI's serialized header maps, without panics.
//!
//! The SDK's own decoder unwraps UTF-8 conversions, so one header value with a non-UTF-8 byte
//! (legal `obs-text` in HTTP/1.1) would panic and kill the worker's VM. This one never panics:
//! a malformed map decodes to `None`, and bytes that are not UTF-8 become U+FFFD, which no
//! token, host or route accepts (fail closed).

/// Decodes `[count u32][(name_len u32, value_len u32) * count][name \0 value \0]*`, all
/// little-endian, into lower-case-as-sent `(name, value)` pairs.
pub fn decode_header_map(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for_each_pair(bytes, |name, value| {
        pairs.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    })?;
    Some(pairs)
}

/// Calls `f` with each raw (name, value) of a serialized map; `None` when it is malformed
/// (`f` may have seen some pairs by then).
fn for_each_pair(bytes: &[u8], mut f: impl FnMut(&[u8], &[u8])) -> Option<()> {
    if bytes.is_empty() {
        return Some(());
    }
    let read_u32 = |at: usize| -> Option<usize> {
        let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(raw)).ok()
    };
    let count = read_u32(0)?;
    let mut data = count.checked_mul(8)?.checked_add(4)?;
    if data > bytes.len() {
        return None;
    }
    for n in 0..count {
        let sizes = 4 + n * 8;
        let name_len = read_u32(sizes)?;
        let value_len = read_u32(sizes + 4)?;
        let name = bytes.get(data..data.checked_add(name_len)?)?;
        data = data.checked_add(name_len)?.checked_add(1)?;
        let value = bytes.get(data..data.checked_add(value_len)?)?;
        data = data.checked_add(value_len)?.checked_add(1)?;
        f(name, value);
    }
    Some(())
}

/// A header map held as one string of names and values back to back, with their spans: two
/// allocations for the whole map, where `(String, String)` pairs take two per header. The
/// request path reads it through [`HeaderBlock::pairs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    text: String,
    /// Per header: where its name starts, where its value starts, where its value ends.
    spans: Vec<(usize, usize, usize)>,
}

impl HeaderBlock {
    /// Decodes a serialized map as [`decode_header_map`] does (the same pairs, the same
    /// replacement of bytes that are not UTF-8); `None` when it is malformed.
    pub fn decode(bytes: &[u8]) -> Option<HeaderBlock> {
        let mut block = HeaderBlock {
            text: String::with_capacity(bytes.len()),
            spans: Vec::new(),
        };
        for_each_pair(bytes, |name, value| {
            let start = block.text.len();
            block.text.push_str(&String::from_utf8_lossy(name));
            let middle = block.text.len();
            block.text.push_str(&String::from_utf8_lossy(value));
            block.spans.push((start, middle, block.text.len()));
        })?;
        Some(block)
    }

    /// The block of these pairs, in order.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> HeaderBlock {
        let mut block = HeaderBlock::default();
        for (name, value) in pairs {
            let start = block.text.len();
            block.text.push_str(name);
            let middle = block.text.len();
            block.text.push_str(value);
            block.spans.push((start, middle, block.text.len()));
        }
        block
    }

    /// Every (name, value), in the order the host sent them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        let text = self.text.as_str();
        let piece = |from: usize, to: usize| text.get(from..to).unwrap_or_default();
        self.spans
            .iter()
            .map(|&(start, middle, end)| (piece(start, middle), piece(middle, end)))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (n, v) in pairs {
            out.extend((n.len() as u32).to_le_bytes());
            out.extend((v.len() as u32).to_le_bytes());
        }
        for (n, v) in pairs {
            out.extend(*n);
            out.push(0);
            out.extend(*v);
            out.push(0);
        }
        out
    }

    #[test]
    fn decodes_what_the_host_sends() {
        let map = encode(&[
            (b":path", b"/a"),
            (b"authorization", b"Bearer x"),
            (b"x", b""),
        ]);
        let pairs = decode_header_map(&map).expect("decodes");
        assert_eq!(
            pairs,
            vec![
                (":path".to_string(), "/a".to_string()),
                ("authorization".to_string(), "Bearer x".to_string()),
                ("x".to_string(), String::new()),
            ]
        );
        assert_eq!(decode_header_map(&[]), Some(vec![]));
        let block = HeaderBlock::decode(&map).expect("decodes");
        assert_eq!(
            block.pairs(),
            [(":path", "/a"), ("authorization", "Bearer x"), ("x", "")]
        );
        assert_eq!(block, HeaderBlock::from_pairs(block.pairs()));
        assert!(HeaderBlock::decode(&[]).is_some_and(|b| b.is_empty()));
    }

    #[test]
    fn non_utf8_values_become_replacement_characters() {
        let map = encode(&[(b"x-obs", b"caf\xe9"), (b"authorization", b"Bearer \xff")]);
        let pairs = decode_header_map(&map).expect("decodes");
        assert_eq!(pairs[0].1, "caf\u{fffd}");
        assert_eq!(pairs[1].1, "Bearer \u{fffd}");
        let block = HeaderBlock::decode(&map).expect("decodes");
        let owned: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(block.pairs(), owned);
    }

    #[test]
    fn malformed_maps_are_none_never_a_panic() {
        let good = encode(&[(b"a", b"b"), (b"cc", b"dd")]);
        for len in 0..good.len() {
            let _ = decode_header_map(&good[..len]);
        }
        assert_eq!(decode_header_map(&good[..good.len() - 2]), None);
        assert_eq!(decode_header_map(&[0xff, 0xff, 0xff, 0xff]), None);
        let mut lying = good.clone();
        lying[4] = 200; // a name longer than the buffer
        assert_eq!(decode_header_map(&lying), None);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut buf = good.clone();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % buf.len();
            buf[i] = (state >> 32) as u8;
            let _ = decode_header_map(&buf);
            // The block decodes exactly what the pairs decode.
            let block = HeaderBlock::decode(&buf);
            let pairs = decode_header_map(&buf);
            assert_eq!(block.is_some(), pairs.is_some());
            if let (Some(block), Some(pairs)) = (block, pairs) {
                let owned: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                assert_eq!(block.pairs(), owned);
            }
        }
    }
}
