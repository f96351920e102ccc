//! Text normalization applied to every block a parser emits.
//!
//! [`normalize`] is for prose: Unicode NFC (not NFKC, so `²` stays `²`), exotic spaces
//! become plain spaces, zero-width characters and soft hyphens disappear, common Latin
//! ligatures are spelled out, line endings become `\n`, every line is trimmed and its
//! inner runs of spaces and tabs collapse to one space, runs of blank lines collapse to
//! one blank line, and the whole string is trimmed.
//!
//! [`normalize_preformatted`] is for code and preformatted text: the same character
//! clean-up, but indentation and inner spacing are kept.

use unicode_normalization::UnicodeNormalization;

/// What one input character becomes.
enum Mapped {
    Keep(char),
    Space,
    Newline,
    Drop,
    Str(&'static str),
}

fn map_char(c: char) -> Mapped {
    match c {
        '\n' => Mapped::Newline,
        '\t' | ' ' => Mapped::Space,
        // Form feed (page breaks in text dumps), vertical tab, line separator.
        '\u{000B}' | '\u{000C}' | '\u{2028}' => Mapped::Newline,
        '\u{2029}' => Mapped::Str("\n\n"),
        // No-break, narrow no-break, figure, ideographic and the other Unicode spaces.
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => Mapped::Space,
        // Zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen.
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => Mapped::Drop,
        '\u{FB00}' => Mapped::Str("ff"),
        '\u{FB01}' => Mapped::Str("fi"),
        '\u{FB02}' => Mapped::Str("fl"),
        '\u{FB03}' => Mapped::Str("ffi"),
        '\u{FB04}' => Mapped::Str("ffl"),
        '\u{FB05}' | '\u{FB06}' => Mapped::Str("st"),
        // Other control characters carry no text.
        c if c.is_control() => Mapped::Drop,
        c => Mapped::Keep(c),
    }
}

/// Line endings to `\n`, then NFC.
fn unify(text: &str) -> String {
    let unified = if text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.to_owned()
    };
    unified.nfc().collect()
}

/// Normalizes prose; see the module documentation.
pub fn normalize(text: &str) -> String {
    let text = unify(text);
    let mut out = String::with_capacity(text.len());
    // Pending separators not yet written: a space inside a line, newlines between lines.
    let mut pending_space = false;
    let mut pending_newlines = 0usize;
    let push = |out: &mut String, s: &str, space: &mut bool, newlines: &mut usize| {
        if !out.is_empty() {
            if *newlines > 0 {
                out.push_str(if *newlines >= 2 { "\n\n" } else { "\n" });
            } else if *space {
                out.push(' ');
            }
        }
        *space = false;
        *newlines = 0;
        out.push_str(s);
    };
    for c in text.chars() {
        match map_char(c) {
            Mapped::Keep(c) => {
                let mut buf = [0u8; 4];
                push(
                    &mut out,
                    c.encode_utf8(&mut buf),
                    &mut pending_space,
                    &mut pending_newlines,
                );
            }
            Mapped::Str(s) if s.starts_with('\n') => {
                pending_newlines += 2;
                pending_space = false;
            }
            Mapped::Str(s) => push(&mut out, s, &mut pending_space, &mut pending_newlines),
            Mapped::Space => pending_space = true,
            Mapped::Newline => {
                pending_newlines += 1;
                pending_space = false;
            }
            Mapped::Drop => {}
        }
    }
    out
}

/// Normalizes code or preformatted text: the character clean-up of [`normalize`], trailing
/// spaces removed from each line and blank lines trimmed at both ends, but indentation,
/// tabs and inner spacing kept.
pub fn normalize_preformatted(text: &str) -> String {
    let text = unify(text);
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        match map_char(c) {
            Mapped::Keep(c) => cleaned.push(c),
            Mapped::Str(s) => cleaned.push_str(s),
            Mapped::Space => cleaned.push(if c == '\t' { '\t' } else { ' ' }),
            Mapped::Newline => cleaned.push('\n'),
            Mapped::Drop => {}
        }
    }
    let lines: Vec<&str> = cleaned.lines().map(str::trim_end).collect();
    let start = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |i| i + 1);
    let mut out = String::with_capacity(cleaned.len());
    let mut blank_run = 0;
    for line in &lines[start..end] {
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_and_invisibles() {
        assert_eq!(normalize("a\u{00A0}b\u{202F}c\u{2007}d"), "a b c d");
        assert_eq!(
            normalize("zero\u{200B}width\u{FEFF} soft\u{00AD}hyphen"),
            "zerowidth softhyphen"
        );
        assert_eq!(normalize("  a \t\t b  \n  c  "), "a b\nc");
    }

    #[test]
    fn nfc_not_nfkc_and_ligatures() {
        assert_eq!(normalize("e\u{0301}"), "\u{00E9}");
        assert_eq!(normalize("x² and 2⁸"), "x² and 2⁸");
        assert_eq!(
            normalize("\u{FB01}nd the \u{FB02}ow, e\u{FB03}cient"),
            "find the flow, efficient"
        );
    }

    #[test]
    fn line_endings_and_blank_lines() {
        assert_eq!(normalize("a\r\nb\rc"), "a\nb\nc");
        assert_eq!(normalize("\n\na\n\n\n\n b \n\n\nc\n\n"), "a\n\nb\n\nc");
        assert_eq!(normalize("a\n   \n\t\nb"), "a\n\nb");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \u{00A0}\n "), "");
    }

    #[test]
    fn preformatted_keeps_indentation() {
        let code = "\n\ndef f(x):\r\n    return  x\u{00A0}+ 1   \n\n\n\n    pass\n\n";
        assert_eq!(
            normalize_preformatted(code),
            "def f(x):\n    return  x + 1\n\n    pass"
        );
        assert_eq!(normalize_preformatted("\t\tx"), "\t\tx");
        assert_eq!(normalize_preformatted("  \n "), "");
    }
}
