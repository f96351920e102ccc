//! The byte-level alphabet of GPT-2 style BPE vocabularies: every byte maps to one
//! printable character, so token strings in the vocabulary are valid text. Printable
//! Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to U+0100 on.

/// The character a byte is written as.
#[cfg(test)]
pub fn byte_to_char(b: u8) -> char {
    let table = table();
    table[b as usize]
}

/// The byte a vocabulary character stands for (`None` for characters outside the
/// alphabet).
pub fn char_to_byte(c: char) -> Option<u8> {
    let code = c as u32;
    if is_direct(code) {
        return u8::try_from(code).ok();
    }
    let table = table();
    table
        .iter()
        .position(|t| *t == c)
        .and_then(|i| u8::try_from(i).ok())
}

/// The raw bytes a vocabulary token string stands for (`None` if it contains a
/// character outside the alphabet, e.g. a special token).
pub fn token_bytes(token: &str) -> Option<Vec<u8>> {
    token.chars().map(char_to_byte).collect()
}

fn is_direct(code: u32) -> bool {
    (0x21..=0x7e).contains(&code) || (0xa1..=0xac).contains(&code) || (0xae..=0xff).contains(&code)
}

fn table() -> &'static [char; 256] {
    static TABLE: std::sync::OnceLock<[char; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = ['\0'; 256];
        let mut next = 0x100u32;
        for (b, slot) in table.iter_mut().enumerate() {
            let code = b as u32;
            let mapped = if is_direct(code) {
                code
            } else {
                let c = next;
                next += 1;
                c
            };
            *slot = char::from_u32(mapped).unwrap_or('\u{fffd}');
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips_and_space_is_g_dot() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(token_bytes("Ġthe"), Some(b" the".to_vec()));
        assert_eq!(token_bytes("<|im_end|>").map(|b| b.len()), Some(10));
        assert_eq!(token_bytes("中"), None);
    }
}
