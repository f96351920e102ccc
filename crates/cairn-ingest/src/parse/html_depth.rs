//! Caps HTML nesting before html5ever sees the page.
//!
//! html5ever has no depth limit, and several of its steps scan the whole stack of open
//! elements for each tag (is there a `p` in button scope?), so 100k nested `div`s cost
//! billions of steps; our own passes (the cleaner's ancestor and subtree checks) are also
//! O(depth) per element. [`cap_depth`] therefore removes the start tags that would open an
//! element deeper than [`MAX_HTML_DEPTH`], and as many end tags after them, keeping all
//! text: below the cap the content is flattened into the element at the cap, the way
//! browsers re-parent content past their own depth limit.
//!
//! The depth is tracked with a light model of the tree builder: void elements and elements
//! whose end tag is optional (`p`, `li`, `td`...: the parser closes them itself, so they
//! cannot nest) are not counted; an end tag closes up to the nearest open element of its
//! name; raw-text elements (`script`, `style`, `textarea`...) and comments are skipped;
//! `<x/>` opens `x` outside SVG/MathML (HTML ignores the slash there). The model can be
//! wrong on odd markup; the cost of that is only flattened structure, never lost text.

use std::borrow::Cow;

/// Deepest element kept. Browsers re-parent below a similar depth (Chromium: 512); the
/// walk itself already reads the text flat below 256 levels.
pub(crate) const MAX_HTML_DEPTH: usize = 512;

/// Elements that never have content.
#[rustfmt::skip]
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta",
    "param", "source", "track", "wbr", "basefont", "bgsound", "frame", "image", "isindex",
];

/// Elements the tree builder closes by itself (or ignores outside their context), so that
/// they do not nest.
#[rustfmt::skip]
const SELF_CLOSING: &[&str] = &[
    "p", "li", "dd", "dt", "option", "optgroup", "tr", "td", "th", "tbody", "thead", "tfoot",
    "colgroup", "caption", "html", "head", "body",
];

/// Elements whose content is text up to their own end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];

/// `source` with the tags that nest deeper than [`MAX_HTML_DEPTH`] removed.
pub(crate) fn cap_depth(source: &str) -> Cow<'_, str> {
    cap_depth_at(source, MAX_HTML_DEPTH)
}

fn cap_depth_at(source: &str, max: usize) -> Cow<'_, str> {
    let bytes = source.as_bytes();
    let mut stack: Vec<String> = Vec::new();
    let mut foreign = 0usize;
    // Elements not opened because they were too deep, still to be closed.
    let mut excess = 0usize;
    let mut dropped: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + offset;
        let rest = &bytes[start..];
        if rest.starts_with(b"<!--") {
            i = find_from(bytes, start + 4, b"-->").map_or(bytes.len(), |e| e + 3);
            continue;
        }
        let (closing, name_at) = match rest.get(1) {
            Some(b'/') => (true, start + 2),
            _ => (false, start + 1),
        };
        if !bytes.get(name_at).is_some_and(u8::is_ascii_alphabetic) {
            // `<!doctype`, `<?xml`, bogus comments, or a literal `<`.
            i = if matches!(rest.get(1), Some(b'!' | b'?' | b'/')) {
                find_from(bytes, start, b">").map_or(bytes.len(), |e| e + 1)
            } else {
                start + 1
            };
            continue;
        }
        let name_end = bytes[name_at..]
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
            .map_or(bytes.len(), |p| name_at + p);
        let name = String::from_utf8_lossy(&bytes[name_at..name_end]).to_ascii_lowercase();
        let end = tag_end(bytes, name_end);
        i = end;
        if closing {
            if counted(&name) {
                if excess > 0 {
                    excess -= 1;
                    dropped.push((start, end));
                } else if let Some(at) = stack.iter().rposition(|n| *n == name) {
                    for popped in stack.drain(at..) {
                        foreign -= usize::from(is_foreign(&popped));
                    }
                }
            }
            continue;
        }
        let self_closed = end >= 2 && bytes[end - 2] == b'/' && foreign > 0;
        if RAW_TEXT.contains(&name.as_str()) {
            i = raw_text_end(bytes, end, &name);
        } else if name == "plaintext" {
            break;
        }
        if !counted(&name) || self_closed {
            continue;
        }
        if stack.len() >= max {
            excess += 1;
            dropped.push((start, end));
            continue;
        }
        foreign += usize::from(is_foreign(&name));
        stack.push(name);
    }
    if dropped.is_empty() {
        return Cow::Borrowed(source);
    }
    let mut out = String::with_capacity(source.len());
    let mut from = 0;
    for (start, end) in dropped {
        out.push_str(&source[from..start]);
        from = end;
    }
    out.push_str(&source[from..]);
    Cow::Owned(out)
}

fn counted(name: &str) -> bool {
    !VOID.contains(&name) && !SELF_CLOSING.contains(&name) && !RAW_TEXT.contains(&name)
}

fn is_foreign(name: &str) -> bool {
    name == "svg" || name == "math"
}

/// The byte after the `>` that ends the tag whose name ends at `from` (quotes honoured).
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    let mut after_equals = false;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return i + 1,
            b'=' => after_equals = true,
            q @ (b'"' | b'\'') if after_equals => {
                i = bytes[i + 1..]
                    .iter()
                    .position(|&b| b == q)
                    .map_or(bytes.len(), |p| i + 1 + p);
                after_equals = false;
            }
            b if b.is_ascii_whitespace() => {}
            _ => after_equals = false,
        }
        i += 1;
    }
    bytes.len()
}

/// The position of `</name` (ASCII case-insensitive) at or after `from`, else the end.
fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> usize {
    let mut i = from;
    while let Some(p) = find_from(bytes, i, b"</") {
        let tail = &bytes[p + 2..];
        if tail.len() >= name.len() && tail[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return p;
        }
        i = p + 2;
    }
    bytes.len()
}

fn find_from(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    crate::format::find(bytes.get(from..)?, needle).map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_pages_are_not_copied() {
        let page = "<html><body><div><p>a<p>b<ul><li>x<li>y</ul><br><img src='a>b'></div>";
        assert!(matches!(cap_depth_at(page, 3), Cow::Borrowed(_)));
    }

    #[test]
    fn tags_past_the_cap_are_dropped_and_text_kept() {
        let page = "<div><div><div><div>deep</div></div></div></div><div>next</div>";
        assert_eq!(
            cap_depth_at(page, 2),
            "<div><div>deep</div></div><div>next</div>"
        );
    }

    #[test]
    fn unclosed_inline_elements_are_closed_by_their_block() {
        let page = "<div><font><font>a</div><div><font><font>b</div>";
        assert!(matches!(cap_depth_at(page, 3), Cow::Borrowed(_)));
    }

    #[test]
    fn raw_text_and_comments_are_skipped() {
        let page = "<script><div><div><div></script><!-- <div><div><div> --><div>x</div>";
        assert!(matches!(cap_depth_at(page, 1), Cow::Borrowed(_)));
    }

    #[test]
    fn a_slash_does_not_close_html_elements() {
        assert_eq!(cap_depth_at("<div/><div/><div/>x", 2), "<div/><div/>x");
        let svg = "<svg><g/><g/><g/></svg>";
        assert!(matches!(cap_depth_at(svg, 2), Cow::Borrowed(_)));
    }
}
