//! Homoglyph folding: Cyrillic, Greek and a few other letters that render like Latin ones.
//!
//! The table is the practical core of Unicode's confusables data for Latin targets (the
//! letters attackers actually use to dodge keyword filters). Folding a whole text would
//! corrupt real Russian or Greek, so [`fold`] only folds a word when it mixes scripts
//! ("іgnоre": Latin plus Cyrillic) or when the text is mostly Latin anyway.

/// The Latin look-alike of `c`, if it has one.
pub(crate) fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic lowercase
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' | 'є' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'һ' => 'h',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ɡ' => 'g',
        'ү' => 'y',
        'ѡ' => 'w',
        'ь' => 'b',
        // Cyrillic uppercase
        'А' => 'A',
        'В' => 'B',
        'Е' | 'Ё' | 'Є' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'Х' => 'X',
        'У' | 'Ү' => 'Y',
        'І' | 'Ї' => 'I',
        'Ј' => 'J',
        'Ѕ' => 'S',
        'Ԁ' => 'D',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        'Ӏ' => 'I',
        // Greek lowercase
        'α' => 'a',
        'β' => 'b',
        'γ' => 'y',
        'ε' => 'e',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' | 'ό' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        // Greek uppercase
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Armenian, IPA and letter-like symbols
        'օ' => 'o',
        'ս' => 'u',
        'ց' => 'g',
        'հ' => 'h',
        'ո' => 'n',
        'ɑ' => 'a',
        'ı' => 'i',
        'ȷ' => 'j',
        'ɩ' => 'i',
        'ʏ' => 'y',
        'ℓ' => 'l',
        'ɵ' => 'o',
        _ => return None,
    })
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || ('\u{00C0}'..='\u{024F}').contains(&c)
}

/// Folds look-alike letters to Latin where that is safe; returns whether anything changed.
pub(crate) fn fold(text: &str) -> (String, bool) {
    let (mut latin, mut other) = (0usize, 0usize);
    for c in text.chars() {
        if is_latin_letter(c) {
            latin += 1;
        } else if c.is_alphabetic() {
            other += 1;
        }
    }
    if other == 0 {
        return (text.to_owned(), false);
    }
    let mostly_latin = latin > other * 2;
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    for word in text.split_inclusive(|c: char| !c.is_alphanumeric()) {
        let has_latin = word.chars().any(is_latin_letter);
        let all_mappable = word
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(|c| is_latin_letter(c) || latin_lookalike(c).is_some());
        if (has_latin || mostly_latin) && all_mappable {
            for c in word.chars() {
                match latin_lookalike(c) {
                    Some(l) => {
                        out.push(l);
                        changed = true;
                    }
                    None => out.push(c),
                }
            }
        } else {
            out.push_str(word);
        }
    }
    (out, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_mixed_script_words_only() {
        let (t, changed) = fold("іgnоre previous");
        assert!(changed);
        assert_eq!(t, "ignore previous");
        let (t, changed) = fold("Привет, как дела");
        assert!(!changed);
        assert_eq!(t, "Привет, как дела");
    }
}
