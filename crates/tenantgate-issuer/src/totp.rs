//! TOTP (RFC 6238 over RFC 4226 HOTP): HMAC-SHA-1, 6 digits, 30-second steps, one step of
//! clock drift accepted either way; the `otpauth://` URI authenticator apps read; recovery
//! codes. Pure functions: the state (secrets, the last accepted step, used recovery codes)
//! lives in [`crate::mfa`].

use ring::hmac;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes unpadded RFC 4648 base32 (case-insensitive); `None` for any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())?;
        buf = (buf << 5) | v as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// HOTP (RFC 4226): the `digits`-digit code of `counter`.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let m = mac.as_ref();
    let offset = usize::from(m[m.len() - 1] & 0x0f);
    let bin = (u32::from(m[offset]) & 0x7f) << 24
        | u32::from(m[offset + 1]) << 16
        | u32::from(m[offset + 2]) << 8
        | u32::from(m[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The step a Unix time falls in.
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// The 6-digit code of `step`, zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret, counter, DIGITS),
        width = DIGITS as usize
    )
}

/// The step whose code `code` is, among the current one and one either side, if any. The
/// caller refuses a step not above the last one it accepted (replay).
pub fn matching_step(secret: &[u8], code: &str, unix: i64) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix);
    // Every candidate is computed and compared, so the time taken does not say which matched.
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if crate::constant_time_eq(code_at(secret, step).as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

/// Percent-encodes a URI component (unreserved characters kept).
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The Key URI authenticator apps import: `otpauth://totp/{label}:{account}?secret=...`.
pub fn otpauth_uri(label: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        pct(label),
        pct(account),
        base32(secret),
        pct(label)
    )
}

/// How many recovery codes enrollment gives.
pub const RECOVERY_CODES: usize = 10;

/// A recovery code as shown (`xxxxx-xxxxx`, lower-case base32, 50 bits) from 10 random bytes.
pub fn recovery_code(random: &[u8; 10]) -> String {
    let text = base32(random).to_ascii_lowercase();
    format!("{}-{}", &text[..8], &text[8..16])
}

/// A recovery code as typed, normalized for hashing: lower-case, without spaces and dashes.
pub fn normalize_recovery_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    /// RFC 6238 appendix B, SHA-1 rows (8 digits).
    #[test]
    fn rfc6238_sha1_vectors() {
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (t, want) in vectors {
            let counter = u64::try_from(step_of(t)).expect("positive");
            assert_eq!(
                format!("{:08}", hotp(RFC_SECRET, counter, 8)),
                want,
                "T={t}"
            );
            // The 6-digit code is the same value modulo 10^6.
            assert_eq!(code_at(RFC_SECRET, step_of(t)), want[2..], "T={t}");
        }
    }

    /// RFC 4226 appendix D.
    #[test]
    fn rfc4226_hotp_vectors() {
        let want = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, code) in want.iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64, 6), *code);
        }
    }

    #[test]
    fn one_step_of_drift_either_way() {
        let t = 1_234_567_890;
        let s = step_of(t);
        for drift in [-1, 0, 1] {
            assert_eq!(
                matching_step(RFC_SECRET, &code_at(RFC_SECRET, s + drift), t),
                Some(s + drift)
            );
        }
        for far in [-2, 2] {
            assert_eq!(
                matching_step(RFC_SECRET, &code_at(RFC_SECRET, s + far), t),
                None
            );
        }
        for junk in ["", "12345", "1234567", "12345a", "０１２３４５"] {
            assert_eq!(matching_step(RFC_SECRET, junk, t), None, "{junk:?}");
        }
    }

    #[test]
    fn base32_and_uri() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI"); // RFC 4648 section 10, unpadded
        assert_eq!(base32(RFC_SECRET), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            base32_decode("gezdgnbvgy3tqojqgezdgnbvgy3tqojq").as_deref(),
            Some(RFC_SECRET)
        );
        assert_eq!(base32_decode("MZXW6YTBOI").as_deref(), Some(&b"foobar"[..]));
        assert_eq!(base32_decode("MZ1"), None);
        let uri = otpauth_uri("Acme Corp", "ana@example.com", RFC_SECRET);
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:ana%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_normalize() {
        let c = recovery_code(&[7u8; 10]);
        assert_eq!(c.len(), 17);
        assert_eq!(
            normalize_recovery_code(&c.to_uppercase()),
            c.replace('-', "")
        );
        assert_eq!(normalize_recovery_code(" ab-cd "), "abcd");
    }
}
