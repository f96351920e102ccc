//! Decompression-bomb guard for ZIP-based formats (DOCX today; PPTX, XLSX and EPUB must
//! call [`check`] too), run BEFORE any parser touches the archive.
//!
//! Every entry is inflated once through a bounded reader and its output counted (and
//! thrown away), because the sizes in the central directory are written by the uploader
//! and can lie. The archive is refused:
//!
//! - `too_large` when it has more than [`MAX_ENTRIES`] entries, when an entry inflates to
//!   more than [`MAX_ENTRY_BYTES`], when all entries together inflate to more than
//!   [`MAX_TOTAL_BYTES`], or when an entry (or the whole archive) inflates to more than
//!   [`MAX_RATIO`] times its compressed size once past [`RATIO_FLOOR`] bytes;
//! - `corrupt_file` when it does not open, when an entry inflates to more or fewer bytes
//!   than its header declares (the lie a bomb relies on), when an entry is damaged, or
//!   when it is encrypted or uses a compression method we cannot inflate (the parser's
//!   own ZIP reader might support the method, and then inflate it unchecked).
//!
//! Inflation stops as soon as a limit is crossed, so a 1 GiB entry costs at most
//! [`MAX_RATIO`] × its compressed size of work. The parsers that run afterwards read the
//! same central directory (docx-rs uses another version of the `zip` crate, so a
//! deliberately ambiguous archive could still be read differently there; the parse
//! worker's memory limit is the backstop for that).

use std::io::{Cursor, Read};

use cairn_types::ErrorCode;

use crate::{Error, Result};

/// Most entries an archive may have. The DOCX fixtures have at most 23; a long report
/// with hundreds of images, headers, footers and charts stays well under 1,000. Each
/// entry costs a central-directory record and an inflater set-up, so a cap keeps an
/// archive of millions of empty entries from costing minutes.
pub(crate) const MAX_ENTRIES: usize = 4096;

/// Most bytes one entry may inflate to. The largest part among the DOCX fixtures is
/// 430 KiB; the `word/document.xml` of a 1,000-page document is tens of MiB.
pub(crate) const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// Most bytes all entries together may inflate to (the fixtures: at most 900 KiB).
pub(crate) const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;

/// Highest inflated/compressed ratio. Office XML deflates 5–35× (the fixtures: at most
/// 32×, archive-wide 24×); a run of zeros deflates about 1,000×.
pub(crate) const MAX_RATIO: u64 = 200;

/// The ratio is only judged past this many inflated bytes: small, repetitive parts
/// (a settings file of identical lines) may compress far better, and cost nothing.
pub(crate) const RATIO_FLOOR: u64 = 1024 * 1024;

/// Bytes inflated per read.
const CHUNK: usize = 64 * 1024;

/// Checks the ZIP archive in `bytes` (the file called `name`, a `kind` such as "DOCX")
/// against the limits above by inflating every entry through a bounded reader.
pub(crate) fn check(bytes: &[u8], name: &str, kind: &str) -> Result<()> {
    // Opening parses the whole central directory: count its records first, so that an
    // archive of a million empty entries is refused before it is loaded.
    let records = count_central_records(bytes, MAX_ENTRIES + 1);
    if records > MAX_ENTRIES {
        return Err(too_large(format!(
            "{name}: the {kind} archive has more than {MAX_ENTRIES} entries"
        )));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        Error::corrupt(format!(
            "{name}: not a valid {kind} (damaged or truncated ZIP archive: {e})"
        ))
    })?;
    if archive.len() > MAX_ENTRIES {
        return Err(too_large(format!(
            "{name}: the {kind} archive has {} entries (at most {MAX_ENTRIES} accepted)",
            archive.len()
        )));
    }
    let archive_bytes = bytes.len() as u64;
    let mut total: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| {
            Error::corrupt(format!(
                "{name}: entry {index} of the {kind} archive cannot be read: {e}"
            ))
        })?;
        let entry_name = entry.name().to_owned();
        let declared = entry.size();
        let compressed = entry.compressed_size().min(archive_bytes);
        if declared > MAX_ENTRY_BYTES {
            return Err(too_large(format!(
                "{name}: {entry_name} declares {declared} bytes uncompressed \
                 (at most {MAX_ENTRY_BYTES} accepted per entry)"
            )));
        }
        // Never read more than one byte past what the header declares.
        let mut inflated: u64 = 0;
        loop {
            let want =
                usize::try_from((declared + 1 - inflated).min(CHUNK as u64)).unwrap_or(CHUNK);
            let n = match entry.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::corrupt(format!(
                        "{name}: {entry_name} in the {kind} archive is damaged: {e}"
                    )));
                }
            };
            inflated += n as u64;
            if inflated > declared {
                return Err(Error::corrupt(format!(
                    "{name}: {entry_name} inflates to more than the {declared} bytes its \
                     header declares (a forged ZIP header)"
                )));
            }
            if inflated > RATIO_FLOOR && inflated > compressed.saturating_mul(MAX_RATIO) {
                return Err(too_large(format!(
                    "{name}: {entry_name} inflates more than {MAX_RATIO}× its compressed size \
                     of {compressed} bytes (a decompression bomb?)"
                )));
            }
            if total + inflated > MAX_TOTAL_BYTES {
                return Err(too_large(format!(
                    "{name}: the {kind} archive inflates to more than {MAX_TOTAL_BYTES} bytes"
                )));
            }
            if total + inflated > RATIO_FLOOR
                && total + inflated > archive_bytes.saturating_mul(MAX_RATIO)
            {
                return Err(too_large(format!(
                    "{name}: the {kind} archive inflates to more than {MAX_RATIO}× its \
                     {archive_bytes} bytes (a decompression bomb?)"
                )));
            }
        }
        if inflated != declared {
            return Err(Error::corrupt(format!(
                "{name}: {entry_name} inflates to {inflated} bytes but its header declares \
                 {declared} (a damaged or forged ZIP archive)"
            )));
        }
        total += inflated;
    }
    Ok(())
}

/// Central-directory record signatures in `bytes`, counting no further than `stop`.
/// (Entry data may hold the signature by chance; that only over-counts.)
fn count_central_records(bytes: &[u8], stop: usize) -> usize {
    bytes
        .windows(4)
        .filter(|w| *w == b"PK\x01\x02")
        .take(stop)
        .count()
}

fn too_large(message: String) -> Error {
    Error::new(ErrorCode::TooLarge, message)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            out.start_file(*name, options).unwrap();
            out.write_all(data).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    #[test]
    fn ordinary_archive_passes() {
        let bytes = archive(&[("a.xml", b"<a>hello</a>"), ("b.bin", &[7u8; 5000])]);
        assert_eq!(check(&bytes, "x.docx", "DOCX"), Ok(()));
    }

    #[test]
    fn small_repetitive_entries_are_not_judged_by_ratio() {
        // 1 MiB of one byte deflates about 1,000×, but is under the ratio floor.
        let data = vec![b'a'; RATIO_FLOOR as usize];
        let bytes = archive(&[("settings.xml", &data)]);
        assert_eq!(check(&bytes, "x.docx", "DOCX"), Ok(()));
    }

    #[test]
    fn ratio_over_the_cap_is_too_large() {
        let data = vec![0u8; 4 * RATIO_FLOOR as usize];
        let bytes = archive(&[("zeros.xml", &data)]);
        let err = check(&bytes, "x.docx", "DOCX").unwrap_err();
        assert_eq!(err.code, ErrorCode::TooLarge, "{err}");
        assert!(err.message.contains("zeros.xml"), "{err}");
    }

    #[test]
    fn garbage_is_corrupt() {
        let err = check(b"PK\x03\x04garbage", "x.docx", "DOCX").unwrap_err();
        assert_eq!(err.code, ErrorCode::CorruptFile, "{err}");
    }
}
