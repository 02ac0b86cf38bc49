//! The two shared-data values of a provider, byte for byte. Both begin with a format byte, and
//! anything this version cannot read decodes to `None`: a `state` value that does not decode
//! makes the workers fall back to fetching on their own, a `keys` value is never adopted. All
//! integers are little-endian.
//!
//! ```text
//! state:  off len
//!           0   1  format version (1)
//!           1   1  flags: 1 lease held, 2 keys published, 4 fetch time set,
//!                  8 unknown-kid refetch time set, 16 error set
//!           2   8  generation: +1 on every publication (keys or failure)
//!          10   8  lease holder (worker id)
//!          18   8  lease expiry (unix ms)
//!          26   8  next fetch due (unix ms): refresh or retry
//!          34   4  consecutive failures
//!          38   1  error kind (1 not JSON, 2 no keys array, 3 no usable key, 4 HTTP status,
//!                  5 too large, 6 no response; a refused discovery document: 7 HTTP
//!                  status, 8 too large, 9 not JSON, 10 issuer mismatch, 11 no jwks_uri,
//!                  12 bad jwks_uri, 13 jwks_uri on another host)
//!          39   4  error argument (key count, status, size)
//!          43   4  error argument (size limit)
//!          47   8  generation of the published keys
//!          55   8  worker that published them
//!          63   8  fetch time of the published keys (unix ms)
//!          71   8  last unknown-kid refetch (unix ms)
//! keys:     0   1  format version (1)
//!           1   8  generation of this body (0 for the empty placeholder)
//!           9   8  worker that published it
//!          17   …  the JWKS response body, as received
//! ```

use crate::jwks::{DiscoveryError, JwksError};

/// The format of both values. The key prefix names it too (`tenantgate.jwks.v1.`), so that
/// values of another format never share a key with these.
const FORMAT: u8 = 1;

/// The (generation, publisher) tag of a published body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) generation: u64,
    pub(crate) holder: u64,
}

/// Which worker may fetch, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) holder: u64,
    pub(crate) until_ms: u64,
}

/// The decoded `state` value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) generation: u64,
    pub(crate) lease: Option<Lease>,
    pub(crate) next_fetch_at: u64,
    pub(crate) failures: u32,
    pub(crate) error: Option<JwksError>,
    pub(crate) keys: Option<Tag>,
    pub(crate) fetched_at: Option<u64>,
    pub(crate) unknown_kid_refetch_at: Option<u64>,
}

// The flags of the `state` value, and the sizes of both headers.
const LEASE: u8 = 1;
const KEYS: u8 = 2;
const FETCHED_AT: u8 = 4;
const UNKNOWN_KID: u8 = 8;
const ERROR: u8 = 16;
const STATE_LEN: usize = 79;
const BODY_HEADER_LEN: usize = 17;

impl Entry {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut flags = 0;
        for (set, flag) in [
            (self.lease.is_some(), LEASE),
            (self.keys.is_some(), KEYS),
            (self.fetched_at.is_some(), FETCHED_AT),
            (self.unknown_kid_refetch_at.is_some(), UNKNOWN_KID),
            (self.error.is_some(), ERROR),
        ] {
            if set {
                flags |= flag;
            }
        }
        let (kind, a, b) = self.error.as_ref().map_or((0, 0, 0), encode_error);
        let lease = self.lease.unwrap_or(Lease {
            holder: 0,
            until_ms: 0,
        });
        let keys = self.keys.unwrap_or(Tag {
            generation: 0,
            holder: 0,
        });
        let mut out = Vec::with_capacity(STATE_LEN);
        out.push(FORMAT);
        out.push(flags);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&lease.holder.to_le_bytes());
        out.extend_from_slice(&lease.until_ms.to_le_bytes());
        out.extend_from_slice(&self.next_fetch_at.to_le_bytes());
        out.extend_from_slice(&self.failures.to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        out.extend_from_slice(&keys.generation.to_le_bytes());
        out.extend_from_slice(&keys.holder.to_le_bytes());
        out.extend_from_slice(&self.fetched_at.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.unknown_kid_refetch_at.unwrap_or(0).to_le_bytes());
        out
    }

    /// `None` for anything but a well-formed value of this format.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
        if bytes.len() != STATE_LEN {
            return None;
        }
        let mut r = Reader(bytes);
        if r.u8()? != FORMAT {
            return None;
        }
        let flags = r.u8()?;
        if flags & !(LEASE | KEYS | FETCHED_AT | UNKNOWN_KID | ERROR) != 0 {
            return None;
        }
        let generation = r.u64()?;
        let lease = Lease {
            holder: r.u64()?,
            until_ms: r.u64()?,
        };
        let next_fetch_at = r.u64()?;
        let failures = r.u32()?;
        let (kind, a, b) = (r.u8()?, r.u32()?, r.u32()?);
        let keys = Tag {
            generation: r.u64()?,
            holder: r.u64()?,
        };
        let fetched_at = r.u64()?;
        let unknown_kid_refetch_at = r.u64()?;
        let error = if flags & ERROR != 0 {
            Some(decode_error(kind, a, b)?)
        } else {
            None
        };
        let when = |flag: u8| flags & flag != 0;
        Some(Entry {
            generation,
            lease: when(LEASE).then_some(lease),
            next_fetch_at,
            failures,
            error,
            keys: when(KEYS).then_some(keys),
            fetched_at: when(FETCHED_AT).then_some(fetched_at),
            unknown_kid_refetch_at: when(UNKNOWN_KID).then_some(unknown_kid_refetch_at),
        })
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The error of a failed fetch as (kind, argument, argument), the fields of the `state` value.
fn encode_error(error: &JwksError) -> (u8, u32, u32) {
    match error {
        JwksError::NotJson => (1, 0, 0),
        JwksError::NoKeysArray => (2, 0, 0),
        // Why the first key was refused is a detail of the publisher's log.
        JwksError::NoUsableKey { total, .. } => (3, saturate(*total), 0),
        JwksError::HttpStatus(status) => (4, *status, 0),
        JwksError::TooLarge { size, max } => (5, saturate(*size), saturate(*max)),
        // Configuration errors never come out of a fetch; count them as no response.
        JwksError::FetchFailed | JwksError::NoSource | JwksError::BadUri(_) => (6, 0, 0),
        // The strings of a refused discovery document are details of the publisher's log.
        JwksError::Discovery(why) => match why {
            DiscoveryError::HttpStatus(status) => (7, *status, 0),
            DiscoveryError::TooLarge { size, max } => (8, saturate(*size), saturate(*max)),
            DiscoveryError::NotJson => (9, 0, 0),
            DiscoveryError::IssuerMismatch { .. } => (10, 0, 0),
            DiscoveryError::NoJwksUri => (11, 0, 0),
            DiscoveryError::BadJwksUri { .. } => (12, 0, 0),
            DiscoveryError::ForeignJwksUri { .. } => (13, 0, 0),
        },
    }
}

/// `None` for an error kind this version does not know.
fn decode_error(kind: u8, a: u32, b: u32) -> Option<JwksError> {
    let usize_of = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    Some(match kind {
        1 => JwksError::NotJson,
        2 => JwksError::NoKeysArray,
        3 => JwksError::NoUsableKey {
            total: usize_of(a),
            first_rejection: None,
        },
        4 => JwksError::HttpStatus(a),
        5 => JwksError::TooLarge {
            size: usize_of(a),
            max: usize_of(b),
        },
        6 => JwksError::FetchFailed,
        7 => JwksError::Discovery(DiscoveryError::HttpStatus(a)),
        8 => JwksError::Discovery(DiscoveryError::TooLarge {
            size: usize_of(a),
            max: usize_of(b),
        }),
        9 => JwksError::Discovery(DiscoveryError::NotJson),
        10 => JwksError::Discovery(DiscoveryError::IssuerMismatch { found: None }),
        11 => JwksError::Discovery(DiscoveryError::NoJwksUri),
        12 => JwksError::Discovery(DiscoveryError::BadJwksUri { why: None }),
        13 => JwksError::Discovery(DiscoveryError::ForeignJwksUri { uri: None }),
        _ => return None,
    })
}

/// The `keys` value: the tag of the publication, then the body as received.
pub(crate) fn encode_body(tag: Tag, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY_HEADER_LEN + body.len());
    out.push(FORMAT);
    out.extend_from_slice(&tag.generation.to_le_bytes());
    out.extend_from_slice(&tag.holder.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// The tag and the body of a `keys` value; `None` for another format or a short header.
pub(crate) fn decode_body(bytes: &[u8]) -> Option<(Tag, &[u8])> {
    let mut r = Reader(bytes);
    if r.u8()? != FORMAT {
        return None;
    }
    let tag = Tag {
        generation: r.u64()?,
        holder: r.u64()?,
    };
    Some((tag, r.0))
}

/// Reads fixed-size little-endian fields from the front of a value.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_anything_else_is_refused() {
        let at = 1_700_000_000_000;
        let errors = [
            JwksError::NotJson,
            JwksError::NoKeysArray,
            JwksError::NoUsableKey {
                total: 3,
                first_rejection: None,
            },
            JwksError::HttpStatus(503),
            JwksError::TooLarge {
                size: 70_000,
                max: 65_536,
            },
            JwksError::FetchFailed,
            JwksError::Discovery(DiscoveryError::HttpStatus(404)),
            JwksError::Discovery(DiscoveryError::TooLarge {
                size: 70_000,
                max: 65_536,
            }),
            JwksError::Discovery(DiscoveryError::NotJson),
            JwksError::Discovery(DiscoveryError::IssuerMismatch { found: None }),
            JwksError::Discovery(DiscoveryError::NoJwksUri),
            JwksError::Discovery(DiscoveryError::BadJwksUri { why: None }),
            JwksError::Discovery(DiscoveryError::ForeignJwksUri { uri: None }),
        ];
        for error in errors {
            let entry = Entry {
                generation: 7,
                lease: Some(Lease {
                    holder: u64::MAX,
                    until_ms: at,
                }),
                next_fetch_at: at + 1,
                failures: 3,
                error: Some(error),
                keys: Some(Tag {
                    generation: 6,
                    holder: 42,
                }),
                fetched_at: Some(at - 1),
                unknown_kid_refetch_at: Some(0),
            };
            let bytes = entry.encode();
            assert_eq!(bytes.len(), STATE_LEN);
            assert_eq!(Entry::decode(&bytes), Some(entry));
        }
        let empty = Entry::default().encode();
        assert_eq!(Entry::decode(&empty), Some(Entry::default()));
        for bad in [
            Vec::new(),
            empty[..STATE_LEN - 1].to_vec(),
            [empty.as_slice(), &[0]].concat(),
            [&[2u8][..], &empty[1..]].concat(),
            [&[FORMAT, 32][..], &empty[2..]].concat(),
            {
                let mut v = empty.clone();
                v[1] = ERROR;
                v[38] = 14;
                v
            },
        ] {
            assert_eq!(Entry::decode(&bad), None, "{bad:?}");
        }
        let tag = Tag {
            generation: 9,
            holder: 4,
        };
        let encoded = encode_body(tag, b"{}");
        assert_eq!(decode_body(&encoded), Some((tag, &b"{}"[..])));
        assert_eq!(decode_body(&encoded[..BODY_HEADER_LEN - 1]), None);
        assert_eq!(
            decode_body(&[[2u8].as_slice(), &encoded[1..]].concat()),
            None
        );
    }
}
