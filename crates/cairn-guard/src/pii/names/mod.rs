//! Person names, from a lexicon plus cues.
//!
//! There is no NER model here; names are found the way a careful reader skims:
//!
//! * **Honorifics**: `Mr./Ms./Dr./Herr/Mme ...` followed by capitalized words (0.9).
//! * **Given name + surname**: a capitalized given name from `data/given_names.txt`
//!   followed (same line, one space) by optional initials/particles (`J.`, `van der`) and a
//!   capitalized word that is a known surname or at least not a common English word (0.9;
//!   0.8 when the given name is itself a word, like "Will" or "Rose"; 0.6 when both are).
//! * **Cues**: right after "my name is", "Dear", "Name:", "called", "says", "signed", ... an
//!   unknown capitalized word counts as a name (0.75); weaker cues ("with", "and", "by")
//!   and speech verbs after the word ("Carolina shouted") confirm lexicon names that are
//!   also words or places (0.7).
//! * **Lone names**: a given name that is not also a word (0.7), a known surname that is
//!   not a word (0.55), or two adjacent unknown capitalized non-words ("Jolanthe
//!   Zorbach", 0.55).
//!
//! Guards keep the usual false friends out: months and weekdays, nationalities and titles,
//! places (countries, US states, large cities, town-like endings such as "-ville"), street
//! and organization words ("Valerie Shoals", "Grace Church", "Lake Angela", "515 Prince
//! Drive"), camel-case brand names, ALL-CAPS text and Title Case headings.

mod words;

use super::{Candidate, PiiKind};
use crate::lexicon::{self, NameEntry};
use words::{
    CALENDAR, HONORIFIC, NATIONALITY, PARTICLE, PLACE, PLACE_SUFFIXES, SPEECH_AFTER, STREET,
    STRONG_CUES, WEAK_CUES,
};

#[derive(Debug)]
struct Tok<'a> {
    start: usize,
    /// End of the name part (a possessive `'s` is excluded).
    end: usize,
    folded: String,
    text: &'a str,
    /// Capitalized: upper-case first letter, not all caps, no digits.
    cap: bool,
    /// Internal capitals that are not a surname prefix ("RentCorp", but not "McGrath").
    camel: bool,
    /// First word of a sentence, line or field.
    initial: bool,
    /// First word on its line.
    line_start: bool,
    /// Separated from the previous token by spaces only (same line, no punctuation).
    joined: bool,
    /// An initial such as the "J." in "John J. Smith".
    is_initial_letter: bool,
    title_line: bool,
}

fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let mut toks: Vec<Tok<'_>> = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    let mut prev_end = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if !c.is_alphabetic() {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j].1;
            let joiner = matches!(c, '\'' | '’' | '-')
                && chars.get(j + 1).is_some_and(|(_, n)| n.is_alphabetic());
            if c.is_alphabetic() || c.is_ascii_digit() || joiner {
                j += 1;
            } else {
                break;
            }
        }
        let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
        let word = &text[start..end];
        let name = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("’s"))
            .unwrap_or(word);
        let gap = &text[prev_end..start];
        let initial = toks.is_empty()
            || gap
                .chars()
                .any(|c| ".!?\n\r:;\"“”()[]{}<>|*•=#".contains(c));
        let line_start = toks.is_empty() || gap.contains('\n');
        let after_initial = toks.last().is_some_and(|p| p.is_initial_letter) && gap.trim() == ".";
        let joined =
            !toks.is_empty() && !gap.is_empty() && (gap.chars().all(|c| c == ' ') || after_initial);
        let first = name.chars().next().unwrap_or(' ');
        let letters = name.chars().filter(|c| c.is_alphabetic()).count();
        let upper = name.chars().filter(|c| c.is_uppercase()).count();
        let cap = first.is_uppercase()
            && (letters == 1 || upper < letters)
            && !name.chars().any(|c| c.is_ascii_digit());
        let folded = lexicon::fold(name);
        let camel =
            cap && upper > 1 && !has_surname_prefix(&folded) && !name.contains(['-', '\'', '’']);
        let is_initial_letter =
            letters == 1 && first.is_uppercase() && text[end..].starts_with('.');
        toks.push(Tok {
            start,
            end: start + name.len(),
            folded,
            text: name,
            cap,
            camel,
            initial,
            line_start,
            joined,
            is_initial_letter,
            title_line: false,
        });
        prev_end = end;
        i = j;
    }
    mark_title_segments(text, &mut toks);
    toks
}

fn seg_start_is_line_start(text: &str, at: usize) -> bool {
    at == 0 || text[..at].ends_with('\n')
}

fn has_surname_prefix(folded: &str) -> bool {
    [
        "mc", "mac", "o'", "de", "di", "da", "la", "le", "van", "von", "du", "st",
    ]
    .iter()
    .any(|p| folded.starts_with(p))
}

/// Headings: a line segment (split at `:`, `|`, tabs) of four or more words,
/// nearly all capitalized, whose lowercase words are short function words, and with at
/// least two capitalized ordinary words ("Annual Report For ... Members"). A sentence that
/// is merely full of names does not count.
fn mark_title_segments(text: &str, toks: &mut [Tok<'_>]) {
    let mut seg_start = 0;
    for seg in text.split_inclusive(['\n', ':', '|', '\t']) {
        let seg_end = seg_start + seg.len();
        let in_seg: Vec<usize> = (0..toks.len())
            .filter(|&k| toks[k].start >= seg_start && toks[k].start < seg_end)
            .collect();
        let capped: Vec<usize> = in_seg
            .iter()
            .copied()
            .filter(|&k| toks[k].text.chars().next().is_some_and(char::is_uppercase))
            .collect();
        let lower_ok = in_seg
            .iter()
            .filter(|k| !capped.contains(k))
            .all(|&k| toks[k].text.chars().count() <= 3);
        let ordinary = capped
            .iter()
            .filter(|&&k| lexicon::is_common_word(&toks[k].folded) || street(&toks[k].folded))
            .count();
        let heading = seg.trim_start().starts_with('#') && seg_start_is_line_start(text, seg_start);
        if heading
            || (in_seg.len() >= 4
                && capped.len() * 5 >= in_seg.len() * 4
                && lower_ok
                && ordinary >= 2)
        {
            for k in in_seg {
                toks[k].title_line = true;
            }
        }
        seg_start = seg_end;
    }
}

/// Never a name on its own: months, days, honorifics, nationalities, titles.
fn hard_blocked(folded: &str) -> bool {
    CALENDAR.contains(folded) || HONORIFIC.contains(folded) || NATIONALITY.contains(folded)
}

fn street(folded: &str) -> bool {
    STREET.contains(folded) || folded.strip_suffix('s').is_some_and(|f| STREET.contains(f))
}

fn place(folded: &str) -> bool {
    PLACE.contains(folded)
}

/// A name plus a town ending: "Davisville", "Michelleberg", "Charleston".
fn town_like(folded: &str) -> bool {
    PLACE_SUFFIXES.iter().any(|s| {
        folded.strip_suffix(s).is_some_and(|stem| {
            stem.len() >= 3
                && (lexicon::given_name(stem).is_some()
                    || lexicon::surname(stem).is_some()
                    || stem
                        .strip_suffix('s')
                        .is_some_and(|st| lexicon::given_name(st).is_some()))
        })
    })
}

fn given(t: &Tok<'_>) -> Option<NameEntry> {
    lexicon::given_name(&t.folded).or_else(|| {
        t.folded
            .split_once('-')
            .and_then(|(first, _)| lexicon::given_name(first))
    })
}

/// A capitalized word that could be a surname in this position.
/// Known surnames win over the block lists here: "Jennifer May", "Josephine Pope",
/// "Stella Orlando".
fn surname_like(t: &Tok<'_>, strong_given: bool) -> bool {
    if !t.cap
        || t.is_initial_letter
        || t.camel
        || HONORIFIC.contains(t.folded.as_str())
        || t.text.chars().count() < 2
    {
        return false;
    }
    match lexicon::surname(&t.folded) {
        Some(NameEntry::Plain) => true,
        Some(NameEntry::Ambiguous) => strong_given,
        None => {
            !hard_blocked(&t.folded)
                && !place(&t.folded)
                && (given(t).is_some() || !(lexicon::is_word(&t.folded) || street(&t.folded)))
        }
    }
}

/// Lowercase street words that turn "Brenda Pass street" into an address.
fn street_word_after(word: &str) -> bool {
    matches!(
        word,
        "street"
            | "st"
            | "road"
            | "rd"
            | "avenue"
            | "ave"
            | "lane"
            | "drive"
            | "boulevard"
            | "blvd"
            | "way"
            | "court"
            | "square"
            | "trail"
    )
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cue {
    None,
    Weak,
    Strong,
}

fn cue_before(text: &str, start: usize) -> Cue {
    let before = text[..start].trim_end_matches([' ', '\t', '"', '\'', '“', '‘', '(', '*']);
    if before.len() == start && start > 0 {
        return Cue::None; // glued to the previous word
    }
    let tail_start = before.len().saturating_sub(24);
    let mut from = tail_start;
    while !before.is_char_boundary(from) {
        from -= 1;
    }
    let tail = before[from..].to_lowercase();
    let ends = |cue: &&str| {
        tail.ends_with(*cue)
            && tail[..tail.len() - cue.len()]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
    };
    if STRONG_CUES.iter().any(ends) {
        Cue::Strong
    } else if WEAK_CUES.iter().any(ends) {
        Cue::Weak
    } else {
        Cue::None
    }
}

/// The lowercase word right after byte `end`, if it follows a single space.
fn next_word(text: &str, end: usize) -> Option<String> {
    let rest = text[end..].strip_prefix(' ')?;
    let w: String = rest.chars().take_while(|c| c.is_alphabetic()).collect();
    (!w.is_empty()).then(|| w.to_lowercase())
}

/// Extends a name from token `k` over initials, particles and surname-like words.
/// Returns the index one past the last token taken.
fn extend(toks: &[Tok<'_>], mut k: usize, strong_given: bool) -> usize {
    let mut taken = 0;
    while k < toks.len() && taken < 4 && toks[k].joined && !toks[k].title_line {
        let t = &toks[k];
        if t.is_initial_letter {
            // "J. Smith": only if a surname-like word follows.
            if toks
                .get(k + 1)
                .is_some_and(|n| n.joined && surname_like(n, true))
            {
                k += 1;
                taken += 1;
                continue;
            }
            break;
        }
        if !t.cap && PARTICLE.contains(t.folded.as_str()) {
            let mut p = k;
            while p < toks.len()
                && !toks[p].cap
                && PARTICLE.contains(toks[p].folded.as_str())
                && toks[p].joined
            {
                p += 1;
            }
            if toks
                .get(p)
                .is_some_and(|n| n.joined && surname_like(n, true))
            {
                k = p + 1;
                taken += 1;
                continue;
            }
            break;
        }
        if surname_like(t, strong_given) {
            k += 1;
            taken += 1;
            continue;
        }
        break;
    }
    k
}

/// The word after the name makes it a street or organization ("Valerie Shoals", "Grace
/// Church"). Street words that are also surnames ("Brooks", "Wells") only count in an
/// address.
fn followed_by_street(toks: &[Tok<'_>], k: usize, address: bool) -> bool {
    toks.get(k).is_some_and(|n| {
        n.joined && n.cap && street(&n.folded) && (address || lexicon::surname(&n.folded).is_none())
    })
}

/// "Littleton, HI 78527": a town before a US state code.
fn before_state_code(text: &str, end: usize) -> bool {
    let rest = text[end..].strip_prefix(", ").unwrap_or("");
    let code: String = rest.chars().take(3).collect();
    code.len() >= 2
        && code.chars().take(2).all(|c| c.is_ascii_uppercase())
        && code
            .chars()
            .nth(2)
            .is_none_or(|c| c == ' ' || c == '\n' || c == ',')
}

/// "lives on Billy Hills", "at Joel Lodge": a street is named next.
fn street_preposition(text: &str, start: usize) -> bool {
    let before = text[..start].trim_end_matches(' ').to_lowercase();
    ["on", "at", "off", "along", "via"].iter().any(|p| {
        before.ends_with(p)
            && before[..before.len() - p.len()]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// "515 Valerie", "Lake Angela", "New Catherine": an address or place, not a person.
fn address_context(text: &str, toks: &[Tok<'_>], i: usize) -> bool {
    let before = text[..toks[i].start].trim_end_matches(' ');
    if before.len() < toks[i].start && before.ends_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    i > 0 && toks[i].joined && toks[i - 1].cap && street(&toks[i - 1].folded)
}

pub(crate) fn find(text: &str, out: &mut Vec<Candidate>) {
    let toks = tokenize(text);
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let uppers = text.chars().filter(|c| c.is_uppercase()).count();
    if toks.is_empty() || (letters > 12 && uppers * 10 > letters * 8) {
        return; // all-caps text: capitalization carries no signal
    }
    let push = |out: &mut Vec<Candidate>, from: usize, to: usize, score: f32| {
        out.push(Candidate {
            kind: PiiKind::Name,
            start: toks[from].start,
            end: toks[to - 1].end,
            score,
        });
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        // Honorific + name ("Dr. Alvarez", "ms. Inaya").
        if HONORIFIC.contains(t.folded.as_str())
            && let Some(n) = toks.get(i + 1)
            && n.cap
            && !n.camel
            && !CALENDAR.contains(n.folded.as_str())
            && (n.joined || text[t.end..n.start].trim() == ".")
            && (t.cap || text[t.end..].starts_with('.'))
        {
            let end = extend(&toks, i + 2, true);
            if !followed_by_street(&toks, end, false) {
                push(out, i + 1, end, 0.9);
            }
            i = end;
            continue;
        }
        if !t.cap || t.is_initial_letter || t.camel || t.text.chars().count() < 2 {
            i += 1;
            continue;
        }
        let entry = given(t);
        let cue = cue_before(text, t.start);
        // "Hi April": a strong cue outweighs the calendar.
        if hard_blocked(&t.folded)
            && !(cue == Cue::Strong && entry.is_some() && !NATIONALITY.contains(t.folded.as_str()))
        {
            i += 1;
            continue;
        }
        let address = address_context(text, &toks, i);
        // A given name and a surname.
        // Short given names that are also words ("In", "An", "Art") only start a name on a cue.
        let tiny_word = entry == Some(NameEntry::Ambiguous) && t.text.chars().count() <= 3;
        if let Some(entry) = entry
            && !address
            && !t.title_line
            && (!tiny_word || cue == Cue::Strong)
        {
            let end = extend(&toks, i + 1, true);
            if end > i + 1 {
                // "Grace Church": a word-like given name before a street/organization word.
                let streety = toks[i + 1..end].iter().any(|s| street(&s.folded));
                let street_after =
                    next_word(text, toks[end - 1].end).is_some_and(|w| street_word_after(&w));
                let on_street = street_preposition(text, t.start);
                let short_weak = entry != NameEntry::Plain && t.text.chars().count() < 3;
                let weak_surname = short_weak
                    && toks[i + 1..end]
                        .iter()
                        .all(|s| lexicon::surname(&s.folded) != Some(NameEntry::Plain));
                let rejected = followed_by_street(&toks, end, false)
                    || street_after
                    || weak_surname
                    || (streety && (entry != NameEntry::Plain || on_street));
                if rejected && cue != Cue::Strong {
                    i = end + 1;
                    continue;
                }
                let weak_tail = toks[i + 1..end].iter().all(|s| {
                    lexicon::surname(&s.folded) == Some(NameEntry::Ambiguous) && given(s).is_none()
                });
                let score = match (entry == NameEntry::Plain, weak_tail) {
                    (true, _) => 0.9,
                    (false, false) => 0.8,
                    (false, true) => 0.6,
                };
                push(out, i, end, score);
                i = end;
                continue;
            }
        }
        if t.title_line || address || followed_by_street(&toks, i + 1, true) {
            i += 1;
            continue;
        }
        // A single word (or an unknown pair) on cues and lexicon evidence.
        let f = t.folded.as_str();
        let surname = lexicon::surname(f);
        let lexical = entry.is_some() || surname.is_some();
        let common = lexicon::is_common_word(f);
        let placey = place(f)
            || street(f)
            || (entry.is_none() && town_like(f))
            || before_state_code(text, t.end);
        let after = next_word(text, t.end);
        let speech = after.as_deref().is_some_and(|w| SPEECH_AFTER.contains(&w));
        let speaker =
            t.line_start && text[t.end..].starts_with(':') && !text[t.end..].starts_with("://");
        let dialogue = speaker && text[t.end + 1..].trim_start().starts_with(['"', '“']);
        let long_enough = t.text.chars().count() >= 3;
        let before_digit = text[t.end..]
            .strip_prefix(' ')
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
        let unknown_word = !lexical && !lexicon::is_word(f) && !placey;

        if cue == Cue::Strong && (lexical || unknown_word) {
            let end = extend(&toks, i + 1, true);
            push(out, i, end, if lexical { 0.8 } else { 0.75 });
            i = end;
            continue;
        }
        let capitalized_next = toks.get(i + 1).is_some_and(|n| n.joined && n.cap);
        // Speech verbs and "Name:" speaker labels outweigh a place reading ("Carolina shouted").
        if (lexical && !common && ((cue == Cue::Weak && !placey) || speech || speaker))
            || (dialogue && !common && !placey)
        {
            push(out, i, i + 1, 0.7);
            i += 1;
            continue;
        }
        if entry == Some(NameEntry::Plain)
            && !common
            && !placey
            && long_enough
            && !capitalized_next
            && (!t.initial || !before_digit)
        {
            push(out, i, i + 1, 0.7);
            i += 1;
            continue;
        }
        if surname == Some(NameEntry::Plain)
            && !common
            && !placey
            && long_enough
            && !capitalized_next
        {
            push(out, i, i + 1, if t.initial { 0.5 } else { 0.55 });
            i += 1;
            continue;
        }
        // Two unknown capitalized non-words side by side: "Jolanthe Zorbach", "Carlijn van Nes".
        let pair_end = extend(&toks, i + 1, false);
        if unknown_word
            && long_enough
            && pair_end > i + 1
            && !town_like(&toks[pair_end - 1].folded)
            && toks.get(pair_end).is_none_or(|n| !(n.joined && n.cap))
        {
            let end = pair_end;
            if !followed_by_street(&toks, end, false) {
                push(out, i, end, 0.55);
            }
            i = end;
            continue;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.into_iter()
            .filter(|c| c.score >= 0.5)
            .map(|c| text[c.start..c.end].to_owned())
            .collect()
    }

    #[test]
    fn full_names_and_honorifics() {
        assert_eq!(names("Please call John Smith tomorrow."), ["John Smith"]);
        assert_eq!(names("Meeting with Dr. Alvarez at noon"), ["Alvarez"]);
        assert_eq!(
            names("Signed by Ms. Jane van der Berg"),
            ["Jane van der Berg"]
        );
        assert_eq!(
            names("Contact María José García today"),
            ["María José García"]
        );
        assert_eq!(names("It was Łukasz Nowak's idea"), ["Łukasz Nowak"]);
        assert_eq!(names("John F. Kennedy spoke"), ["John F. Kennedy"]);
        assert_eq!(names("Directed By:    Keith Ford"), ["Keith Ford"]);
        assert_eq!(
            names("1042,Mitchell Brooks,mb@example.com"),
            ["Mitchell Brooks"]
        );
    }

    #[test]
    fn cues_and_lone_names() {
        assert_eq!(
            names("My name is Zoltar Quillfeather"),
            ["Zoltar Quillfeather"]
        );
        assert_eq!(names("I told Jessica about it"), ["Jessica"]);
        assert_eq!(names("Will Smith arrived"), ["Will Smith"]);
        assert_eq!(names("everyone calls me Austin"), ["Austin"]);
        assert_eq!(names("Carolina shouted at him"), ["Carolina"]);
        assert_eq!(
            names("Jolanthe Zorbach\n2581 Sanchez Mountain"),
            ["Jolanthe Zorbach"]
        );
    }

    #[test]
    fn guards() {
        for text in [
            "Will you send the report in May?",
            "We moved here from Georgia last April",
            "Ship to 515 Valerie Shoals, Lake Angela",
            "The Grace Church Choir sings",
            "Annual Report For Michael Jordan Foundation Members",
            "CAN I SPEAK TO A REAL PERSON, JOHN?",
            "The quick brown fox jumps over the lazy dog.",
            "Hello I moved, please update my address",
            "I am American but I live in Pakistan.",
            "I'm in Samanthabury, at the conference",
            "He joined SandRidge Energy and PayPal last year",
        ] {
            assert!(names(text).is_empty(), "{text}: {:?}", names(text));
        }
    }
}
