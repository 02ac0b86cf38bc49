//! JSON answers to malformed HTTP. When a request cannot be parsed at all (bad request line,
//! bad header, over-long URI or headers), hyper answers by itself with an empty 400, 414 or 431
//! and closes the connection; the router never sees the request. This wrapper of the connection
//! recognises that automatic answer on its way out and sends the API's JSON error instead, so
//! every refusal has the same shape. The issuer's own error answers always carry a JSON body,
//! so an empty 400/414/431 can only be hyper's.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

/// The statuses hyper answers parse errors with, and what the API says instead.
const AUTOMATIC: [(&[u8], &str, &str); 3] = [
    (
        b"HTTP/1.1 400 ",
        "400 Bad Request",
        "the request is not well-formed HTTP/1.1",
    ),
    (
        b"HTTP/1.1 414 ",
        "414 URI Too Long",
        "the request target is too long",
    ),
    (
        b"HTTP/1.1 431 ",
        "431 Request Header Fields Too Large",
        "the request headers are too large",
    ),
];

/// The JSON answer replacing `head` if it is one of hyper's automatic answers.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let empty = head
        .windows(b"\r\ncontent-length: 0\r\n".len())
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    if !empty || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (_, status, message) = AUTOMATIC.iter().find(|(p, _, _)| head.starts_with(p))?;
    let body = serde_json::json!({"error": "invalid_request", "message": message}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// A connection whose automatic parse-error answers are rewritten as JSON.
pub(super) struct JsonParseErrors<I> {
    inner: I,
    /// A replacement being written: (bytes, how many are out, length hyper asked to write).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<I> JsonParseErrors<I> {
    pub(super) fn new(inner: I) -> Self {
        JsonParseErrors {
            inner,
            pending: None,
        }
    }
}

impl<I: Read + Unpin> Read for JsonParseErrors<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for JsonParseErrors<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match replacement(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // Write the whole replacement, then tell hyper its own bytes went out.
        while let Some((bytes, done, asked)) = this.pending.as_mut() {
            if *done == bytes.len() {
                let asked = *asked;
                this.pending = None;
                return Poll::Ready(Ok(asked));
            }
            match Pin::new(&mut this.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => *done += n,
                other => return other,
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then hands over each head in one buffer, which is what is inspected.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_automatic_answers_are_replaced() {
        let auto = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let json = String::from_utf8(replacement(auto).expect("replaced")).expect("utf-8");
        assert!(json.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{json}");
        assert!(
            json.contains("\r\ncontent-type: application/json\r\n"),
            "{json}"
        );
        assert!(
            json.ends_with(
                r#"{"error":"invalid_request","message":"the request is not well-formed HTTP/1.1"}"#
            ),
            "{json}"
        );
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(big).is_some());
        // The API's own 400s have a body; other statuses are left alone.
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 57\r\n\r\n";
        assert!(replacement(own).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ok).is_none());
    }
}
