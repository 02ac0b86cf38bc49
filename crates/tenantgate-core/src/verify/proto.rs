//! The few protocol-buffer wire rules (protobuf encoding guide) that the host's
//! `verify_signature` messages need: writing length-delimited fields, reading any field.
//! Two messages of a handful of fields do not justify a protobuf crate in the filter.

/// Wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

/// Appends `value` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field (`string` or `bytes`).
pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One field's value as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    /// A fixed32 or fixed64, which these messages never use but may carry.
    Fixed,
}

/// Why bytes are not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// The message ends inside a field.
    Truncated,
    /// A varint longer than 10 bytes, field number 0, or a wire type these messages cannot hold
    /// (groups, reserved).
    Malformed,
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtoError::Truncated => "the message ends inside a field",
            ProtoError::Malformed => "the message is not a protocol buffer",
        })
    }
}

/// Every field of `message`, in order, as (field number, value).
pub fn fields(message: &[u8]) -> Result<Vec<(u32, Value<'_>)>, ProtoError> {
    let mut out = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let key = take_varint(&mut rest)?;
        let field = u32::try_from(key >> 3).map_err(|_| ProtoError::Malformed)?;
        if field == 0 {
            return Err(ProtoError::Malformed);
        }
        let value = match key & 7 {
            VARINT => Value::Varint(take_varint(&mut rest)?),
            LEN => {
                let len =
                    usize::try_from(take_varint(&mut rest)?).map_err(|_| ProtoError::Truncated)?;
                Value::Bytes(take(&mut rest, len)?)
            }
            FIXED64 => take(&mut rest, 8).map(|_| Value::Fixed)?,
            FIXED32 => take(&mut rest, 4).map(|_| Value::Fixed)?,
            _ => return Err(ProtoError::Malformed),
        };
        out.push((field, value));
    }
    Ok(out)
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], ProtoError> {
    if rest.len() < len {
        return Err(ProtoError::Truncated);
    }
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    Ok(head)
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, ProtoError> {
    let mut value = 0u64;
    for i in 0..10 {
        let [byte, tail @ ..] = *rest else {
            return Err(ProtoError::Truncated);
        };
        *rest = tail;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtoError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_boundary() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut rest = &out[..];
            assert_eq!(take_varint(&mut rest), Ok(value));
            assert!(rest.is_empty());
        }
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]); // the encoding guide's example
    }

    #[test]
    fn writes_the_encoding_guides_string_example() {
        let mut out = Vec::new();
        put_bytes(&mut out, 2, b"testing");
        assert_eq!(out, b"\x12\x07testing");
    }

    #[test]
    fn reads_every_wire_type_and_keeps_the_order() {
        let mut msg = vec![0x08, 0x01]; // field 1 = true
        put_bytes(&mut msg, 2, b"why");
        msg.extend_from_slice(&[0x1d, 1, 2, 3, 4]); // field 3, fixed32
        msg.extend_from_slice(&[0x21, 0, 0, 0, 0, 0, 0, 0, 0]); // field 4, fixed64
        msg.extend_from_slice(&[0x08, 0x00]); // field 1 again
        assert_eq!(
            fields(&msg),
            Ok(vec![
                (1, Value::Varint(1)),
                (2, Value::Bytes(b"why")),
                (3, Value::Fixed),
                (4, Value::Fixed),
                (1, Value::Varint(0)),
            ])
        );
        assert_eq!(fields(&[]), Ok(vec![]));
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        assert_eq!(fields(&[0x08]), Err(ProtoError::Truncated));
        assert_eq!(fields(&[0x08, 0x80]), Err(ProtoError::Truncated));
        assert_eq!(fields(&[0x12, 0x05, b'a']), Err(ProtoError::Truncated));
        assert_eq!(fields(&[0x1d, 1, 2]), Err(ProtoError::Truncated));
        assert_eq!(fields(&[0x00, 0x01]), Err(ProtoError::Malformed)); // field 0
        assert_eq!(fields(&[0x0b]), Err(ProtoError::Malformed)); // start group
        assert_eq!(
            fields(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(ProtoError::Malformed)
        );
        // A length beyond the message (even beyond usize on 32-bit targets).
        let mut huge = vec![0x12];
        put_varint(&mut huge, u64::MAX);
        assert!(fields(&huge).is_err());
    }

    /// Every prefix of a valid message is truncated or a shorter valid message, never a panic.
    #[test]
    fn every_prefix_is_handled() {
        let mut msg = Vec::new();
        put_bytes(&mut msg, 4, &[9; 300]);
        put_varint(&mut msg, 8);
        put_varint(&mut msg, 1);
        for end in 0..msg.len() {
            let _ = fields(&msg[..end]);
        }
        assert_eq!(fields(&msg).map(|f| f.len()), Ok(2));
    }
}
