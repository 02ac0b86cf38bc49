//! The DER `SubjectPublicKeyInfo` (RFC 5280 section 4.1, RFC 8017 appendix A.1.1) of an RSA
//! public key: the one key encoding the host's `verify_signature` takes (it answers "invalid"
//! for a bare PKCS#1 `RSAPublicKey`).

/// `rsaEncryption` (1.2.840.113549.1.1.1) with its NULL parameters, as a DER
/// `AlgorithmIdentifier`.
const RSA_ALGORITHM: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;

/// The DER `SubjectPublicKeyInfo` of the RSA key with big-endian modulus `n` and exponent `e`
/// (leading zero bytes are allowed and dropped: DER integers are minimal).
pub fn rsa_spki_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut rsa_public_key = Vec::with_capacity(n.len() + e.len() + 16);
    put_unsigned_integer(&mut rsa_public_key, n);
    put_unsigned_integer(&mut rsa_public_key, e);
    let rsa_public_key = tagged(SEQUENCE, &rsa_public_key);

    // The key is the BIT STRING's content, after the count of unused bits (none).
    let mut bits = Vec::with_capacity(rsa_public_key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&rsa_public_key);

    let mut body = Vec::with_capacity(RSA_ALGORITHM.len() + bits.len() + 8);
    body.extend_from_slice(&RSA_ALGORITHM);
    put_tagged(&mut body, BIT_STRING, &bits);
    tagged(SEQUENCE, &body)
}

/// A non-negative INTEGER: minimal, with a zero byte in front when the top bit is set (else it
/// would read as negative). Zero is the single byte 0.
fn put_unsigned_integer(out: &mut Vec<u8>, value: &[u8]) {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let value = &value[start..];
    let pad = value.first().is_none_or(|&b| b & 0x80 != 0);
    let mut content = Vec::with_capacity(value.len() + 1);
    if pad {
        content.push(0);
    }
    content.extend_from_slice(value);
    put_tagged(out, INTEGER, &content);
}

fn tagged(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    put_tagged(&mut out, tag, content);
    out
}

/// Tag, definite length (short form under 128, else long form with the fewest bytes), content.
fn put_tagged(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - first) as u8);
        out.extend_from_slice(&bytes[first..]);
    }
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
    use rsa::traits::PublicKeyParts;

    #[test]
    fn lengths_use_the_shortest_definite_form() {
        for (len, header) in [
            (0usize, vec![0x04, 0x00]),
            (127, vec![0x04, 0x7f]),
            (128, vec![0x04, 0x81, 0x80]),
            (255, vec![0x04, 0x81, 0xff]),
            (256, vec![0x04, 0x82, 0x01, 0x00]),
            (65_536, vec![0x04, 0x83, 0x01, 0x00, 0x00]),
        ] {
            let out = tagged(0x04, &vec![7; len]);
            assert_eq!(out[..header.len()], header[..], "length {len}");
            assert_eq!(out.len(), header.len() + len);
        }
    }

    #[test]
    fn integers_are_minimal_and_non_negative() {
        let int = |v: &[u8]| {
            let mut out = Vec::new();
            put_unsigned_integer(&mut out, v);
            out
        };
        assert_eq!(int(&[0x01, 0x00, 0x01]), [0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(int(&[0x00, 0x00, 0x03]), [0x02, 0x01, 0x03]);
        assert_eq!(int(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(int(&[0x00, 0xff, 0x01]), [0x02, 0x03, 0x00, 0xff, 0x01]);
        assert_eq!(int(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(int(&[0, 0]), [0x02, 0x01, 0x00]);
    }

    /// Byte for byte what an independent encoder (RustCrypto's `spki`/`pkcs8`, through `rsa`)
    /// writes for the same key, and read back to the same components: DER has one encoding.
    fn assert_matches_reference(n: &[u8], e: &[u8]) {
        let reference = rsa::RsaPublicKey::new_unchecked(
            rsa::BoxedUint::from_be_slice_vartime(n),
            rsa::BoxedUint::from_be_slice_vartime(e),
        );
        let ours = rsa_spki_der(n, e);
        let theirs = reference.to_public_key_der().expect("reference encoding");
        assert_eq!(
            ours,
            theirs.as_bytes(),
            "SPKI differs for a {}-byte modulus",
            n.len()
        );
        let read = rsa::RsaPublicKey::from_public_key_der(&ours).expect("reference parses ours");
        assert_eq!(strip(&read.n_bytes()), strip(n));
        assert_eq!(strip(&read.e_bytes()), strip(e));
    }

    fn strip(v: &[u8]) -> &[u8] {
        &v[v.iter().position(|&b| b != 0).unwrap_or(v.len())..]
    }

    #[test]
    fn matches_an_independent_encoder_on_generated_keys() {
        let mut rng = rand::rng();
        for bits in [2048, 3072] {
            let key = rsa::RsaPrivateKey::new(&mut rng, bits).expect("key generation");
            let public = key.to_public_key();
            assert_matches_reference(&public.n_bytes(), &public.e_bytes());
        }
    }

    #[test]
    fn matches_an_independent_encoder_on_every_wycheproof_key() {
        let mut keys = 0;
        for (_, group) in crate::verify::tests::wycheproof_rs256() {
            assert_matches_reference(&group.key.n, &group.key.e);
            keys += 1;
        }
        assert!(keys >= 4, "{keys}");
    }

    #[test]
    fn matches_the_probe_key_as_openssl_wrote_it() {
        let (n, e, spki) = super::super::host_rs256::tests::probe_key_and_openssl_spki();
        assert_eq!(rsa_spki_der(&n, &e), spki);
    }
}
