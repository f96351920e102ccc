//! Person names, from a lexicon plus cues.
//!
//! There is no NER model here; names are found the way a careful reader skims:
//!
//! * **Honorifics**: `Mr./Ms./Dr./Herr/Mme ...` followed by capitalized words (0.9).
//! * **Given name + surname**: a capitalized given name from `data/given_names.txt`
//!   followed (same line, one space) by optional initials/particles (`J.`, `van der`) and a
//!   capitalized word that is a known surname or at least not a common English word (0.9;
//!   0.8 when the given name is itself a word, like "Will" or "Rose").
//! * **Lone names**: a capitalized given name that is not also a word (0.7), or a known
//!   surname that is not a word (0.55).
//! * **Context cues**: "my name is", "Dear", "Name:", "called", "signed", ... let an unknown
//!   capitalized word count as a name (0.75).
//!
//! Guards keep the usual false friends out: months and weekdays, places (countries, US
//! states, large cities), street and organization words ("Valerie Shoals", "Grace Church",
//! "Lake Angela", "515 Prince Drive"), ALL-CAPS text and Title Case headings.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::{Candidate, PiiKind};
use crate::lexicon::{self, NameEntry};

const HONORIFICS: &str = "mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame|madam|madame|mme|mlle|herr|frau|sr|sra|srta|signor|signora|sig|dott|mister|mevrouw|meneer|pan|pani|senhor|senhora|lady|lord|rev|captain|capt|sgt|officer|judge|doctor";
const PARTICLES: &str = "van|von|de|der|den|del|della|di|da|das|dos|du|la|le|ten|ter|bin|al|el|st|y|e";
const MONTHS_DAYS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun|christmas|easter";
const STREET_ORG: &str = "alley|avenue|ave|branch|bridge|brook|brooks|burg|bypass|camp|canyon|cape|causeway|center|centre|circle|cliff|club|common|corner|corners|course|court|courts|cove|coves|creek|crescent|crest|crossing|crossroad|curve|dale|dam|divide|drive|drives|estate|estates|expressway|extension|falls|ferry|field|fields|flat|flats|ford|forest|forge|fork|forks|fort|freeway|garden|gardens|gateway|glen|glens|green|greens|grove|groves|harbor|harbour|haven|heights|highway|hill|hills|hollow|inlet|island|islands|isle|junction|key|keys|knoll|knolls|lake|lakes|land|landing|lane|light|lights|loaf|lock|locks|lodge|loop|mall|manor|manors|meadow|meadows|mews|mill|mills|mission|motorway|mount|mountain|mountains|neck|orchard|oval|overpass|park|parks|parkway|pass|passage|path|pike|pine|pines|place|plain|plains|plaza|point|points|port|ports|prairie|ramp|ranch|rapid|rapids|rest|ridge|ridges|river|road|roads|route|row|rue|run|shoal|shoals|shore|shores|skyway|spring|springs|spur|square|squares|station|stravenue|stream|street|streets|summit|terrace|throughway|trace|track|trafficway|trail|tunnel|turnpike|underpass|union|unions|valley|valleys|via|viaduct|view|views|village|villages|ville|vista|walk|walks|wall|way|ways|well|wells|blvd|rd|st|ln|ct|hwy|apt|suite|inc|corp|corporation|llc|ltd|limited|gmbh|ag|sa|plc|group|company|co|bank|university|college|school|academy|institute|foundation|hospital|clinic|church|cathedral|associates|partners|holdings|industries|systems|solutions|technologies|services|consulting|media|labs|capital|ventures|international|global|agency|department|ministry|council|team|airlines|airport|hotel|restaurant|cafe|studio|studios|press|news|times|post|journal|county|city|state|province|district|region|bay|beach|coast|sea|ocean|north|south|east|west|new|saint|san|santa|los|las|el|le|la";
const PLACES: &str = "afghanistan|albania|algeria|andorra|angola|argentina|armenia|australia|austria|azerbaijan|bahamas|bahrain|bangladesh|barbados|belarus|belgium|belize|benin|bhutan|bolivia|bosnia|botswana|brazil|brunei|bulgaria|burundi|cambodia|cameroon|canada|chad|chile|china|colombia|comoros|congo|croatia|cuba|cyprus|czechia|denmark|djibouti|dominica|ecuador|egypt|eritrea|estonia|eswatini|ethiopia|fiji|finland|france|gabon|gambia|georgia|germany|ghana|greece|grenada|guatemala|guinea|guyana|haiti|honduras|hungary|iceland|india|indonesia|iran|iraq|ireland|israel|italy|jamaica|japan|jordan|kazakhstan|kenya|kiribati|kosovo|kuwait|kyrgyzstan|laos|latvia|lebanon|lesotho|liberia|libya|liechtenstein|lithuania|luxembourg|madagascar|malawi|malaysia|maldives|mali|malta|mauritania|mauritius|mexico|micronesia|moldova|monaco|mongolia|montenegro|morocco|mozambique|myanmar|namibia|nauru|nepal|netherlands|nicaragua|niger|nigeria|norway|oman|pakistan|palau|palestine|panama|paraguay|peru|philippines|poland|portugal|qatar|romania|russia|rwanda|samoa|senegal|serbia|seychelles|singapore|slovakia|slovenia|somalia|spain|sudan|suriname|sweden|switzerland|syria|taiwan|tajikistan|tanzania|thailand|togo|tonga|trinidad|tunisia|turkey|turkmenistan|tuvalu|uganda|ukraine|uruguay|uzbekistan|vanuatu|vatican|venezuela|vietnam|yemen|zambia|zimbabwe|england|scotland|wales|britain|europe|asia|africa|america|antarctica|oceania|alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|ohio|oklahoma|oregon|pennsylvania|tennessee|texas|utah|vermont|virginia|washington|wisconsin|wyoming|carolina|dakota|london|paris|berlin|madrid|rome|vienna|prague|warsaw|lisbon|dublin|amsterdam|brussels|zurich|geneva|milan|munich|hamburg|barcelona|athens|istanbul|moscow|tokyo|beijing|shanghai|delhi|mumbai|sydney|melbourne|toronto|vancouver|montreal|chicago|houston|phoenix|dallas|austin|denver|boston|seattle|atlanta|miami|detroit|orlando|tampa|portland|nashville|memphis|charlotte|florence|venice|naples|lyon|marseille|nice|adelaide|brisbane|perth|auckland|wellington|cairo|lagos|nairobi|johannesburg|lima|bogota|santiago|caracas|havana|quebec|victoria|regina|savannah|madison|lincoln|jackson|salem|aurora|cleveland|columbus|raleigh|richmond|sacramento|oakland|brooklyn|manhattan|bronx|queens|hollywood|york|oxford|cambridge|kent|essex|devon|cornwall|sussex|surrey|wiltshire|google|microsoft|amazon|apple|facebook|meta|netflix|tesla|oracle|intel|ibm|cisco|adobe|samsung|sony|toyota|honda|ford|boeing|visa|mastercard|paypal|stripe|slack|github|gitlab|linux|windows|android|chrome|firefox|safari|python|java|rust|docker|kubernetes|jesus|christ|allah|buddha|bible|quran|internet|iphone|ipad|covid";
const CUES: &[&str] = &[
    "my name is ", "name is ", "name: ", "name:\t", "named ", "called ", "calls me ", "call me ", "dear ", "hi ", "hello ", "hey ", "thanks ", "thank you ", "regards,", "sincerely,", "signed ", "signed,", "this is ", "i am ", "i'm ", "user: ", "customer: ", "patient: ", "attn: ", "attn ", "contact: ", "contact person ", "mein name ist ", "je m'appelle ", "me llamo ", "mi chiamo ", "ich bin ", "je suis ", "soy ", "sono ", "author: ", "by ", "from: ", "to: ", "cc: ", "said ", "asked ", "told ", "married ", "son ", "daughter ", "wife ", "husband ", "brother ", "sister ", "friend ", "colleague ", "manager ", "kid ", "child ", "mother ", "father ",
];

fn set(list: &'static str) -> HashSet<&'static str> {
    list.split('|').collect()
}

static HONORIFIC: LazyLock<HashSet<&str>> = LazyLock::new(|| set(HONORIFICS));
static PARTICLE: LazyLock<HashSet<&str>> = LazyLock::new(|| set(PARTICLES));
static CALENDAR: LazyLock<HashSet<&str>> = LazyLock::new(|| set(MONTHS_DAYS));
static STREET: LazyLock<HashSet<&str>> = LazyLock::new(|| set(STREET_ORG));
static PLACE: LazyLock<HashSet<&str>> = LazyLock::new(|| set(PLACES));

#[derive(Debug)]
struct Tok<'a> {
    start: usize,
    /// End of the name part (a possessive `'s` is excluded).
    end: usize,
    folded: String,
    text: &'a str,
    cap: bool,
    /// First word of a sentence, line or field.
    initial: bool,
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
        let name_part = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("’s"))
            .unwrap_or(word);
        let gap = &text[prev_end..start];
        let initial = toks.is_empty() || gap.chars().any(|c| ".!?\n\r:;\"“”()[]{}<>|*•=#".contains(c));
        let joined = !toks.is_empty() && !gap.is_empty() && gap.chars().all(|c| c == ' ');
        let first = name_part.chars().next().unwrap_or(' ');
        let upper = name_part.chars().filter(|c| c.is_uppercase()).count();
        let letters = name_part.chars().filter(|c| c.is_alphabetic()).count();
        let cap = first.is_uppercase() && (letters == 1 || upper < letters) && !name_part.chars().any(|c| c.is_ascii_digit());
        let is_initial_letter = letters == 1 && first.is_uppercase() && text[end..].starts_with('.');
        toks.push(Tok {
            start,
            end: start + name_part.len(),
            folded: lexicon::fold(name_part),
            text: name_part,
            cap,
            initial,
            joined,
            is_initial_letter,
            title_line: false,
        });
        prev_end = end;
        i = j;
    }
    mark_title_lines(text, &mut toks);
    toks
}

/// Lines of four or more words, mostly capitalized, are headings or all-caps shouting.
fn mark_title_lines(text: &str, toks: &mut [Tok<'_>]) {
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let line_end = line_start + line.len();
        let in_line: Vec<usize> = (0..toks.len())
            .filter(|&k| toks[k].start >= line_start && toks[k].start < line_end)
            .collect();
        let words = in_line.len();
        let capped = in_line
            .iter()
            .filter(|&&k| toks[k].text.chars().next().is_some_and(char::is_uppercase))
            .count();
        if words >= 4 && capped * 4 >= words * 3 {
            for k in in_line {
                toks[k].title_line = true;
            }
        }
        line_start = line_end;
    }
}

fn blocked(folded: &str) -> bool {
    CALENDAR.contains(folded) || STREET.contains(folded) || PLACE.contains(folded) || HONORIFIC.contains(folded)
}

/// A capitalized word that could be a surname in this position.
fn surname_like(t: &Tok<'_>, strong_given: bool) -> bool {
    if !t.cap || t.is_initial_letter || blocked(&t.folded) || t.text.chars().count() < 2 {
        return false;
    }
    match lexicon::surname(&t.folded) {
        Some(NameEntry::Plain) => true,
        Some(NameEntry::Ambiguous) => strong_given,
        None => {
            if lexicon::given_name(&t.folded).is_some() {
                return true; // "Anna Maria", "Michael Jordan"-style pairs
            }
            !lexicon::is_common_word(&t.folded)
        }
    }
}

fn given(t: &Tok<'_>) -> Option<NameEntry> {
    lexicon::given_name(&t.folded).or_else(|| {
        // Hyphenated given names: "Jean-Luc", "Anna-Lena".
        t.folded.split_once('-').and_then(|(first, _)| lexicon::given_name(first))
    })
}

fn cue_before(text: &str, start: usize) -> bool {
    super::context_before(text, start, 24, CUES)
}

/// Extends a name from token `k` over initials, particles and surname-like words.
/// Returns the index one past the last token taken.
fn extend(toks: &[Tok<'_>], mut k: usize, strong_given: bool) -> usize {
    let mut taken = 0;
    while k < toks.len() && taken < 4 && toks[k].joined && !toks[k].title_line {
        let t = &toks[k];
        if t.is_initial_letter {
            // "J. Smith": only if a surname-like word follows.
            if toks.get(k + 1).is_some_and(|n| surname_like(n, true)) {
                k += 1;
                taken += 1;
                continue;
            }
            break;
        }
        if !t.cap && PARTICLE.contains(t.folded.as_str()) {
            let mut p = k;
            while p < toks.len() && !toks[p].cap && PARTICLE.contains(toks[p].folded.as_str()) && toks[p].joined {
                p += 1;
            }
            if toks.get(p).is_some_and(|n| n.joined && n.cap && !blocked(&n.folded)) {
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

/// After-the-name words that make it a place or organization.
fn followed_by_street(toks: &[Tok<'_>], k: usize) -> bool {
    toks.get(k).is_some_and(|n| n.joined && n.cap && STREET.contains(n.folded.as_str()))
}

/// "Lake Angela", "New Catherine", "515 Valerie": an address or place, not a person.
fn place_context(text: &str, toks: &[Tok<'_>], i: usize) -> bool {
    let before = text[..toks[i].start].trim_end_matches(' ');
    if before.len() < toks[i].start && before.ends_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    i > 0 && toks[i].joined && toks[i - 1].cap && STREET.contains(toks[i - 1].folded.as_str())
}

pub(crate) fn find(text: &str, out: &mut Vec<Candidate>) {
    let toks = tokenize(text);
    if toks.is_empty() {
        return;
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let uppers = text.chars().filter(|c| c.is_uppercase()).count();
    if letters > 12 && uppers * 10 > letters * 8 {
        return; // all-caps text: capitalization carries no signal
    }
    let push = |out: &mut Vec<Candidate>, from: usize, to: usize, score: f32| {
        out.push(Candidate { kind: PiiKind::Name, start: toks[from].start, end: toks[to - 1].end, score });
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if !t.cap || t.is_initial_letter {
            i += 1;
            continue;
        }
        // Honorific + name.
        if HONORIFIC.contains(t.folded.as_str())
            && let Some(n) = toks.get(i + 1)
            && n.cap
            && !blocked(&n.folded)
            && (n.joined || text[t.end..n.start].trim() == ".")
        {
            let mut end = i + 2;
            end = extend(&toks, end, true);
            if !followed_by_street(&toks, end) {
                push(out, i + 1, end, 0.9);
            }
            i = end;
            continue;
        }
        if blocked(&t.folded) || place_context(text, &toks, i) {
            i += 1;
            continue;
        }
        let cue = cue_before(text, t.start);
        if let Some(entry) = given(t) {
            let strong = entry == NameEntry::Plain;
            let end = extend(&toks, i + 1, true);
            if followed_by_street(&toks, end) {
                i = end + 1;
                continue;
            }
            if end > i + 1 && !t.title_line {
                // "Will Smith": a word-like given name with only word-like surnames after it.
                let weak_tail = toks[i + 1..end].iter().all(|s| {
                    lexicon::surname(&s.folded) == Some(NameEntry::Ambiguous) && given(s).is_none()
                });
                let score = match (strong, weak_tail) {
                    (true, _) => 0.9,
                    (false, false) => 0.8,
                    (false, true) => 0.6,
                };
                push(out, i, end, score);
                i = end;
                continue;
            }
            let common = lexicon::is_common_word(&t.folded);
            if (strong && !common && !t.title_line) || cue {
                push(out, i, i + 1, if cue { 0.8 } else { 0.7 });
            }
            i += 1;
            continue;
        }
        let common = lexicon::is_common_word(&t.folded);
        if cue && !common && !t.title_line {
            let end = extend(&toks, i + 1, true);
            if !followed_by_street(&toks, end) {
                push(out, i, end, 0.75);
            }
            i = end;
            continue;
        }
        if !t.title_line && !common && lexicon::surname(&t.folded) == Some(NameEntry::Plain) {
            let end = extend(&toks, i + 1, false);
            if !followed_by_street(&toks, end) {
                let score = if end > i + 1 { 0.75 } else if t.initial { 0.5 } else { 0.55 };
                push(out, i, end, score);
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
        out.into_iter().filter(|c| c.score >= 0.5).map(|c| text[c.start..c.end].to_owned()).collect()
    }

    #[test]
    fn full_names_and_honorifics() {
        assert_eq!(names("Please call John Smith tomorrow."), ["John Smith"]);
        assert_eq!(names("Meeting with Dr. Alvarez at noon"), ["Alvarez"]);
        assert_eq!(names("Signed by Ms. Jane van der Berg"), ["Jane van der Berg"]);
        assert_eq!(names("Contact María José García today"), ["María José García"]);
        assert_eq!(names("It was Łukasz Nowak's idea"), ["Łukasz Nowak"]);
        assert_eq!(names("John F. Kennedy spoke"), ["John F. Kennedy"]);
    }

    #[test]
    fn cues_and_lone_names() {
        assert_eq!(names("My name is Zoltar Quillfeather"), ["Zoltar Quillfeather"]);
        assert_eq!(names("I told Jessica about it"), ["Jessica"]);
        assert_eq!(names("Will Smith arrived"), ["Will Smith"]);
    }

    #[test]
    fn guards() {
        assert!(names("Will you send the report in May?").is_empty());
        assert!(names("We moved here from Georgia last April").is_empty());
        assert!(names("Ship to 515 Valerie Shoals, Lake Angela").is_empty(), "{:?}", names("Ship to 515 Valerie Shoals, Lake Angela"));
        assert!(names("The Grace Church Choir sings").is_empty());
        assert!(names("Annual Report For Michael Jordan Foundation Members").is_empty());
        assert!(names("CAN I SPEAK TO A REAL PERSON, JOHN?").is_empty());
        assert!(names("The quick brown fox jumps over the lazy dog.").is_empty());
    }
}
