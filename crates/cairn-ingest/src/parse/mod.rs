//! Parsing: one module per format, all behind [`parse`], which never panics.
//!
//! Every parse runs on a dedicated worker thread with a large stack (third-party parsers
//! recurse deeply on nested documents) inside `catch_unwind`, and the caller waits at most
//! [`DEFAULT_TIMEOUT`]. A panic becomes a `CorruptFile` error naming the file and the
//! panic message; a parser that never returns becomes a `CorruptFile` "timed out" error
//! (its thread is left to finish in the background: Rust threads cannot be killed).
//! That is why the engine runs [`parse`] in a child process (`cairn parse-worker`) that
//! it kills at its time limit (`ingest.parse_isolation`); in-process calls are for
//! trusted input and tests.
//!
//! Panics on worker threads are not printed: a process-wide panic hook is installed once
//! and, on those threads only, records the message for the error instead of printing it;
//! every other thread's panics go to the previously installed hook unchanged.

mod docx;
mod docx_xml;
mod html;
mod html_clean;
mod html_depth;
mod html_walk;
mod markdown;
mod pdf;
mod pdf_guard;
mod records;
mod text;
mod zip_guard;

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Once, mpsc};
use std::thread;
use std::time::Duration;

use cairn_types::{Block, ErrorCode, ParsedDoc};

use crate::{Error, Format, Result};

/// How long [`parse`] waits for one document.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Stack size of the parser worker thread.
pub(crate) const WORKER_STACK: usize = 64 * 1024 * 1024;

/// Parses `bytes` (the content of the file called `name`) as `format`.
///
/// Never panics. Errors: `CorruptFile` (unreadable, crashed or timed-out parser),
/// `UnsupportedFormat` (e.g. a password-protected PDF), `EmptyDocument` (no text).
pub fn parse(format: Format, bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    parse_with_timeout(format, bytes, name, DEFAULT_TIMEOUT)
}

/// [`parse`] with an explicit time limit.
pub fn parse_with_timeout(
    format: Format,
    bytes: &[u8],
    name: &str,
    timeout: Duration,
) -> Result<ParsedDoc> {
    install_quiet_panic_hook();
    let (tx, rx) = mpsc::sync_channel(1);
    let owned = bytes.to_vec();
    let owned_name = name.to_owned();
    let spawned = thread::Builder::new()
        .name("cairn-parse".into())
        .stack_size(WORKER_STACK)
        .spawn(move || {
            let _ = tx.send(guarded(format, &owned, &owned_name));
        });
    if spawned.is_err() {
        // No thread to be had: parse here, still guarded against panics.
        return guarded(format, bytes, name);
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::corrupt(format!(
            "{name}: the {format} parser timed out after {} s",
            timeout.as_secs()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::corrupt(format!(
            "{name}: the {format} parser stopped without a result"
        ))),
    }
}

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()));
                let message = payload_text(info.payload());
                LAST_PANIC.with(|p| {
                    *p.borrow_mut() = Some(format!("{message}{}", location.unwrap_or_default()))
                });
            } else {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Runs `f` with panics caught and not printed; a panic becomes `Err(message)`.
pub(crate) fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let was_quiet = QUIET_PANICS.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(was_quiet));
    result.map_err(|payload| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| payload_text(&*payload))
    })
}

fn guarded(format: Format, bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    install_quiet_panic_hook();
    match catch_quietly(|| dispatch(format, bytes, name)) {
        Ok(result) => result,
        Err(message) => Err(Error::corrupt(format!(
            "{name}: the {format} parser crashed on this file ({message})"
        ))),
    }
}

fn dispatch(format: Format, bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = match format {
        Format::Text => text::parse(bytes, name),
        Format::Markdown => markdown::parse(bytes, name),
        Format::Html => html::parse(bytes, name),
        Format::Pdf => pdf::parse(bytes, name),
        Format::Docx => docx::parse(bytes, name),
        Format::Csv => records::parse_csv(bytes, name),
        Format::Json => records::parse_json(bytes, name),
    }?;
    doc.blocks.retain(|b| !b.text.is_empty());
    if doc.blocks.is_empty() {
        return Err(Error::new(
            ErrorCode::EmptyDocument,
            format!("{name}: no text found"),
        ));
    }
    doc.link_chars = doc.link_chars.min(doc.text_chars());
    Ok(doc)
}

/// Decodes text bytes: a UTF-8/UTF-16 BOM decides the encoding, otherwise UTF-8 with
/// invalid sequences replaced (and a warning saying so).
pub(crate) fn decode_text(bytes: &[u8], name: &str, warnings: &mut Vec<String>) -> String {
    if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            warnings.push(format!(
                "{name}: invalid {} sequences replaced",
                encoding.name()
            ));
        }
        return text.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => {
            warnings.push(format!("{name}: not valid UTF-8; invalid bytes replaced"));
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// Tracks the enclosing headings while blocks are emitted in reading order.
#[derive(Default)]
pub(crate) struct HeadingStack {
    stack: Vec<(u8, String)>,
}

impl HeadingStack {
    /// Enters a heading of `level`; returns its heading path (ending with `title`).
    pub(crate) fn enter(&mut self, level: u8, title: &str) -> Vec<String> {
        while self.stack.last().is_some_and(|(l, _)| *l >= level) {
            self.stack.pop();
        }
        self.stack.push((level, title.to_owned()));
        self.path()
    }

    /// The current heading path.
    pub(crate) fn path(&self) -> Vec<String> {
        self.stack.iter().map(|(_, t)| t.clone()).collect()
    }
}

/// Appends a block of normalized prose unless it is empty.
pub(crate) fn push_block(
    blocks: &mut Vec<Block>,
    kind: cairn_types::BlockKind,
    raw: &str,
    heading_path: Vec<String>,
) {
    let text = crate::normalize::normalize(raw);
    if !text.is_empty() {
        blocks.push(Block::new(kind, text, heading_path));
    }
}

/// Renders table rows as lines of ` | `-separated cells, skipping empty rows.
pub(crate) fn render_table(rows: &[Vec<String>]) -> String {
    let mut lines = Vec::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| crate::normalize::normalize(c).replace('\n', " "))
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            lines.push(cells.join(" | "));
        }
    }
    lines.join("\n")
}
