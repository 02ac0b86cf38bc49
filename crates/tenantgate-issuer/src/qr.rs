//! The QR code of a TOTP enrollment's `otpauth://` URI, as a PNG an authenticator app scans.

use image::{ImageFormat, Luma};
use qrcode::QrCode;

/// The PNG of `text`'s QR code (at least 4 px per module, quiet zone included), or `None` if
/// the text does not fit in a QR code (the URI alone then serves).
pub fn png(text: &str) -> Option<Vec<u8>> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let img = code.render::<Luma<u8>>().min_dimensions(200, 200).build();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).ok()?;
    Some(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png() {
        let png =
            png("otpauth://totp/Acme:ana%40example.com?secret=GEZDGNBVGY3TQOJQ").expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = image::load_from_memory_with_format(&png, ImageFormat::Png).expect("decodes");
        assert!(decoded.width() >= 200);
    }
}
