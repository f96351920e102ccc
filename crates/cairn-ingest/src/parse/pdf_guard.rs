//! Decompression-bomb guard for PDF, run before lopdf loads the file.
//!
//! lopdf inflates without any limit: object streams (`/Type /ObjStm`) as the file loads,
//! and pdf-extract then inflates each page's content streams, fonts, CMaps and ICC
//! profiles as it meets them (`Stream::decompressed_content`: `read_to_end` into a
//! `Vec`). Nothing can be capped inside those crates, so [`check`] measures first: it
//! finds every `stream … endstream` in the raw bytes whose data starts with a zlib header
//! (FlateDecode, what nearly every PDF uses), inflates it through a bounded reader, and
//! does the same again on the output while that is zlib data too (a chain of
//! `/FlateDecode` filters multiplies the ratio), up to [`MAX_FLATE_LAYERS`] layers. The
//! file is refused with `too_large` when one stream inflates past [`MAX_STREAM_BYTES`] or
//! all of them together past [`MAX_TOTAL_BYTES`].
//!
//! Bounded here: FlateDecode streams (and Flate chains) anywhere in the file, found by
//! their keywords rather than by the (forgeable) `/Length`; the extracted text, capped at
//! [`MAX_TEXT_BYTES`] by the PDF parser's writer.
//!
//! NOT bounded here: LZWDecode streams (about 2,700:1 at most), Flate data behind another
//! filter (`[/ASCII85Decode /FlateDecode]`), streams lopdf finds where the keywords do not
//! mark them (a damaged file it repairs), and the memory lopdf's object model needs for a
//! file with millions of tiny objects. The parse worker's time limit and the child-process
//! isolation with its memory limit are the backstop for those.
//!
//! No ratio limit: a blank page image deflates about 1,000:1 in ordinary scanned PDFs.

use std::io::Read;

use cairn_types::ErrorCode;
use flate2::read::ZlibDecoder;

use crate::{Error, Result};

/// Most bytes one stream may inflate to: a 9,000 × 9,000 RGB lossless image is 243 MB;
/// page content and object streams are a few MiB at most in real files.
pub(crate) const MAX_STREAM_BYTES: u64 = 256 * 1024 * 1024;

/// Most bytes all streams together may inflate to (images included, since a content
/// stream can pose as one). Measuring costs about a second per GiB.
pub(crate) const MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;

/// Most FlateDecode layers measured on one stream.
pub(crate) const MAX_FLATE_LAYERS: usize = 4;

/// Most bytes of text extracted from one PDF: a 10,000-page book has about 30 MB.
pub(crate) const MAX_TEXT_BYTES: usize = 64 * 1024 * 1024;

/// Bytes inflated per read.
const CHUNK: usize = 64 * 1024;

/// Refuses (`too_large`) a PDF whose FlateDecode streams inflate past the caps.
pub(crate) fn check(bytes: &[u8], name: &str) -> Result<()> {
    let mut total: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    for (start, end) in streams(bytes) {
        let data = &bytes[start..end];
        let mut layers: usize = 0;
        let mut stream_bytes: u64 = 0;
        // Each pass inflates one more layer (re-reading the ones below it).
        while layers < MAX_FLATE_LAYERS {
            let Some(reader) = layered_reader(data, layers + 1) else {
                break;
            };
            let budget = MAX_STREAM_BYTES.min(MAX_TOTAL_BYTES - total);
            let (size, head) = measure(reader, budget, &mut buf);
            stream_bytes = stream_bytes.max(size);
            if size > budget {
                let what = if budget == MAX_STREAM_BYTES {
                    format!(
                        "a stream at byte {start} inflates to more than {MAX_STREAM_BYTES} bytes"
                    )
                } else {
                    format!("its streams inflate to more than {MAX_TOTAL_BYTES} bytes in all")
                };
                return Err(Error::new(
                    ErrorCode::TooLarge,
                    format!("{name}: {what} (a decompression bomb?)"),
                ));
            }
            layers += 1;
            if !is_zlib_header(&head) {
                break;
            }
        }
        total += stream_bytes;
    }
    Ok(())
}

/// `(data start, data end)` of every `stream` keyword's data, up to its `endstream`
/// (or the end of the file).
fn streams(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        loop {
            let at = from + find(&bytes[from..], b"stream")?;
            from = at + 6;
            if bytes[..at].ends_with(b"end") {
                continue;
            }
            let start = match &bytes[from..] {
                [b'\r', b'\n', ..] => from + 2,
                [b'\n' | b'\r', ..] => from + 1,
                _ => continue,
            };
            let end = find(&bytes[start..], b"endstream").map_or(bytes.len(), |i| start + i);
            from = end;
            if is_zlib_header(&bytes[start..end]) {
                return Some((start, end));
            }
        }
    })
}

/// A reader inflating `layers` nested zlib layers of `data`, if it starts as zlib data.
fn layered_reader<'a>(data: &'a [u8], layers: usize) -> Option<Box<dyn Read + 'a>> {
    if !is_zlib_header(data) {
        return None;
    }
    let mut reader: Box<dyn Read + 'a> = Box::new(ZlibDecoder::new(data));
    for _ in 1..layers {
        reader = Box::new(ZlibDecoder::new(reader));
    }
    Some(reader)
}

/// Bytes `reader` yields, reading no more than `budget + 1` (a damaged stream counts up
/// to where it breaks, as lopdf keeps that much), and its first two bytes.
fn measure(mut reader: impl Read, budget: u64, buf: &mut [u8]) -> (u64, Vec<u8>) {
    let mut size: u64 = 0;
    let mut head = Vec::with_capacity(2);
    while size <= budget {
        let want = usize::try_from((budget + 1 - size).min(buf.len() as u64)).unwrap_or(1);
        match reader.read(&mut buf[..want.max(1)]) {
            Ok(0) => break,
            Ok(n) => {
                if head.len() < 2 {
                    let take = (2 - head.len()).min(n);
                    head.extend_from_slice(&buf[..take]);
                }
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (size, head)
}

/// A zlib header: deflate method, a window of at most 32 KiB, and a valid check value.
fn is_zlib_header(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            cmf & 0x0F == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    crate::format::find(hay, needle)
}

/// Extracted text, refusing to grow past [`MAX_TEXT_BYTES`] over the whole document (a
/// write past it fails, which stops pdf-extract on that page).
pub(crate) struct CappedText {
    pub text: Vec<u8>,
    /// Bytes written on earlier pages.
    pub before: usize,
    pub overflowed: bool,
}

impl std::io::Write for CappedText {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.before + self.text.len() + data.len() > MAX_TEXT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("text cap reached"));
        }
        self.text.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn pdf_with_stream(data: &[u8]) -> Vec<u8> {
        let mut pdf =
            b"%PDF-1.7\n1 0 obj\n<< /Length 9 /Filter /FlateDecode >>\nstream\r\n".to_vec();
        pdf.extend_from_slice(data);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        pdf
    }

    #[test]
    fn finds_streams_by_keyword() {
        let pdf = pdf_with_stream(&zlib(b"BT (hi) Tj ET"));
        let found: Vec<_> = streams(&pdf).collect();
        assert_eq!(found.len(), 1);
        let (start, _) = found[0];
        assert!(is_zlib_header(&pdf[start..]));
        assert_eq!(check(&pdf, "a.pdf"), Ok(()));
    }

    #[test]
    fn a_chain_of_flate_layers_is_measured_to_the_bottom() {
        // 300 MiB of zeros, deflated twice: about 300 bytes on disk.
        let mut inner = ZlibEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..300 {
            inner.write_all(&chunk).unwrap();
        }
        let twice = zlib(&inner.finish().unwrap());
        assert!(twice.len() < 64 * 1024, "{}", twice.len());
        let err = check(&pdf_with_stream(&twice), "bomb.pdf").unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
    }

    #[test]
    fn text_cap() {
        let mut out = CappedText {
            text: Vec::new(),
            before: MAX_TEXT_BYTES - 3,
            overflowed: false,
        };
        assert!(out.write(b"abc").is_ok());
        assert!(out.write(b"d").is_err());
        assert!(out.overflowed);
    }
}
