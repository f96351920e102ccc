//! Word lists for the name recognizer: honorifics, surname particles, calendar words,
//! street/organization words, places, nationalities, and the cue phrases that introduce a
//! name. All lowercase and diacritic-free (compared against folded tokens).

use std::collections::HashSet;
use std::sync::LazyLock;

pub(super) const HONORIFICS: &str = "mr|mrs|ms|miss|mx|dr|prof|professor|sir|dame|madam|madame|mme|mlle|herr|frau|sr|sra|srta|signor|signora|sig|dott|mister|mevrouw|meneer|pan|pani|senhor|senhora|lady|lord|rev|captain|capt|sgt|officer|judge|doctor";
pub(super) const PARTICLES: &str =
    "van|von|de|der|den|del|della|di|da|das|dos|du|la|le|ten|ter|bin|al|el|st|y|e";
pub(super) const MONTHS_DAYS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun|christmas|easter";
pub(super) const STREET_ORG: &str = "alley|avenue|ave|branch|bridge|brook|brooks|burg|bypass|camp|canyon|cape|causeway|center|centre|circle|cliff|club|common|corner|corners|course|court|courts|cove|coves|creek|crescent|crest|crossing|crossroad|curve|dale|dam|divide|drive|drives|estate|estates|expressway|extension|falls|ferry|field|fields|flat|flats|ford|forest|forge|fork|forks|fort|freeway|garden|gardens|gateway|glen|glens|green|greens|grove|groves|harbor|harbour|haven|heights|highway|hill|hills|hollow|inlet|island|islands|isle|junction|key|keys|knoll|knolls|lake|lakes|land|landing|lane|light|lights|loaf|lock|locks|lodge|loop|mall|manor|manors|meadow|meadows|mews|mill|mills|mission|motorway|mount|mountain|mountains|neck|orchard|oval|overpass|park|parks|parkway|pass|passage|path|pike|pine|pines|place|plain|plains|plaza|point|points|port|ports|prairie|ramp|ranch|rapid|rapids|rest|ridge|ridges|river|road|roads|route|row|rue|run|shoal|shoals|shore|shores|skyway|spring|springs|spur|square|squares|station|stravenue|stream|street|streets|summit|terrace|throughway|trace|track|trafficway|trail|tunnel|turnpike|underpass|union|unions|valley|valleys|via|viaduct|view|views|village|villages|ville|vista|walk|walks|wall|way|ways|well|wells|blvd|rd|st|ln|ct|hwy|apt|suite|inc|corp|corporation|llc|ltd|limited|gmbh|ag|sa|plc|group|company|co|bank|university|college|school|academy|institute|foundation|hospital|clinic|church|cathedral|associates|partners|holdings|industries|systems|solutions|technologies|services|consulting|media|labs|capital|ventures|international|global|agency|department|ministry|council|team|airlines|airport|hotel|restaurant|cafe|studio|studios|press|news|times|post|journal|county|city|state|province|district|region|bay|beach|coast|sea|ocean|north|south|east|west|new|saint|san|santa|los|las|el|le|la";
pub(super) const PLACES: &str = "afghanistan|albania|algeria|andorra|angola|argentina|armenia|australia|austria|azerbaijan|bahamas|bahrain|bangladesh|barbados|belarus|belgium|belize|benin|bhutan|bolivia|bosnia|botswana|brazil|brunei|bulgaria|burundi|cambodia|cameroon|canada|chad|chile|china|colombia|comoros|congo|croatia|cuba|cyprus|czechia|denmark|djibouti|dominica|ecuador|egypt|eritrea|estonia|eswatini|ethiopia|fiji|finland|france|gabon|gambia|georgia|germany|ghana|greece|grenada|guatemala|guinea|guyana|haiti|honduras|hungary|iceland|india|indonesia|iran|iraq|ireland|israel|italy|jamaica|japan|jordan|kazakhstan|kenya|kiribati|kosovo|kuwait|kyrgyzstan|laos|latvia|lebanon|lesotho|liberia|libya|liechtenstein|lithuania|luxembourg|madagascar|malawi|malaysia|maldives|mali|malta|mauritania|mauritius|mexico|micronesia|moldova|monaco|mongolia|montenegro|morocco|mozambique|myanmar|namibia|nauru|nepal|netherlands|nicaragua|niger|nigeria|norway|oman|pakistan|palau|palestine|panama|paraguay|peru|philippines|poland|portugal|qatar|romania|russia|rwanda|samoa|senegal|serbia|seychelles|singapore|slovakia|slovenia|somalia|spain|sudan|suriname|sweden|switzerland|syria|taiwan|tajikistan|tanzania|thailand|togo|tonga|trinidad|tunisia|turkey|turkmenistan|tuvalu|uganda|ukraine|uruguay|uzbekistan|vanuatu|vatican|venezuela|vietnam|yemen|zambia|zimbabwe|england|scotland|wales|britain|europe|asia|africa|america|antarctica|oceania|alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|ohio|oklahoma|oregon|pennsylvania|tennessee|texas|utah|vermont|virginia|washington|wisconsin|wyoming|carolina|dakota|london|paris|berlin|madrid|rome|vienna|prague|warsaw|lisbon|dublin|amsterdam|brussels|zurich|geneva|milan|munich|hamburg|barcelona|athens|istanbul|moscow|tokyo|beijing|shanghai|delhi|mumbai|sydney|melbourne|toronto|vancouver|montreal|chicago|houston|phoenix|dallas|austin|denver|boston|seattle|atlanta|miami|detroit|orlando|tampa|portland|nashville|memphis|charlotte|florence|venice|naples|lyon|marseille|nice|adelaide|brisbane|perth|auckland|wellington|cairo|lagos|nairobi|johannesburg|lima|bogota|santiago|caracas|havana|quebec|victoria|regina|savannah|madison|lincoln|jackson|salem|aurora|cleveland|columbus|raleigh|richmond|sacramento|oakland|brooklyn|manhattan|bronx|queens|hollywood|york|oxford|cambridge|kent|essex|devon|cornwall|sussex|surrey|wiltshire|google|microsoft|amazon|apple|facebook|meta|netflix|tesla|oracle|intel|ibm|cisco|adobe|samsung|sony|toyota|honda|ford|boeing|visa|mastercard|paypal|stripe|slack|github|gitlab|linux|windows|android|chrome|firefox|safari|python|java|rust|docker|kubernetes|jesus|christ|allah|buddha|bible|quran|internet|iphone|ipad|covid|saudi|arabia|lanka|sri|faso|burkina|dominican|hong|kong|emirates|zealand|caledonia|polynesia|herzegovina|macedonia|kitts|nevis|lucia|grenadines|tobago|barbuda|verde|leone|salvador|rica|korea|timor";
pub(super) const NATIONALITIES: &str = "english|american|british|french|german|spanish|italian|portuguese|dutch|polish|russian|chinese|japanese|korean|indian|mexican|canadian|australian|irish|scottish|welsh|swiss|swedish|norwegian|danish|finnish|greek|turkish|arab|arabic|persian|kurd|kurdish|african|asian|european|latin|latino|latina|hispanic|jewish|muslim|christian|catholic|protestant|hindu|buddhist|brazilian|argentinian|colombian|chilean|peruvian|cuban|egyptian|nigerian|kenyan|ethiopian|israeli|iranian|iraqi|afghan|pakistani|bangladeshi|vietnamese|thai|filipino|indonesian|malaysian|ukrainian|romanian|hungarian|czech|slovak|serbian|croatian|bulgarian|austrian|belgian|icelandic|tuvaluan|tajik|uzbek|kazakh|saudi|emirati|qatari|kuwaiti|omani|yemeni|syrian|lebanese|jordanian|moroccan|algerian|tunisian|libyan|sudanese|somali|ghanaian|senegalese|malian|congolese|angolan|zambian|zimbabwean|namibian|botswanan|malagasy|nepali|sri|lankan|burmese|cambodian|laotian|mongolian|tibetan|uyghur|armenian|georgian|azerbaijani|belarusian|moldovan|lithuanian|latvian|estonian|slovenian|bosnian|albanian|macedonian|montenegrin|maltese|cypriot|luxembourgish|monegasque|venezuelan|ecuadorian|bolivian|paraguayan|uruguayan|guatemalan|honduran|salvadoran|nicaraguan|panamanian|jamaican|haitian|dominican|trinidadian|bahamian|barbadian|belizean|guyanese|surinamese|greenlander|faroese|kiwi|aussie|labor|samoan|fijian|reunion|jersey|islanders|royal|princess|prince|queen|king|duke|duchess|emperor|pope|president|senator|governor|mayor|minister|chancellor";
/// Endings of town names ("Samanthabury", "Littleton", "Port Jackfort").
pub(super) const PLACE_SUFFIXES: &[&str] = &[
    "ville", "borough", "bury", "burgh", "burg", "land", "ton", "side", "fort", "port", "mouth",
    "stad", "haven", "shire", "berg", "chester", "field", "furt", "view", "town", "ford", "dale",
    "wood",
];
/// Words that, right after a name, make it the subject of speech ("Carolina shouted").
pub(super) const SPEECH_AFTER: &[&str] = &[
    "said",
    "says",
    "shouted",
    "asked",
    "told",
    "replied",
    "answered",
    "wrote",
    "yelled",
    "whispered",
    "explained",
    "smiled",
    "laughed",
    "cried",
    "added",
    "insisted",
    "lives",
    "works",
    "began",
    "wants",
    "loves",
    "likes",
    "thinks",
    "knows",
];
/// Phrases that introduce a name; the name must follow right after (spaces and quotes
/// aside). After these even an unknown capitalized word is taken for a name.
pub(super) const STRONG_CUES: &[&str] = &[
    "my name is",
    "name is",
    "name:",
    "named",
    "called",
    "calls me",
    "call me",
    "dear",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank you",
    "regards,",
    "sincerely,",
    "signed",
    "signed,",
    "this is",
    "i am",
    "i'm",
    "user:",
    "customer:",
    "patient:",
    "employee",
    "attn:",
    "attn",
    "contact:",
    "contact person",
    "mein name ist",
    "ich heiße",
    "ich heisse",
    "je m'appelle",
    "me llamo",
    "mi chiamo",
    "mi nombre es",
    "il mio nome è",
    "author:",
    "last name?",
    "last name:",
    "first name:",
    "surname:",
    "full name:",
    "holder:",
    "kontoinhaber:",
    "titulaire:",
    "titular:",
    "titolare:",
    "ms.",
    "mr.",
    "mrs.",
    "dr.",
    "says",
    "said",
    "told",
    "asked",
    "tell",
    "starring",
    "featuring",
    "shouted at",
    "assistant to",
];
/// Weaker cues: they only confirm words that are names in the lexicon but also ordinary
/// words or places ("with Will", "and Virginia").
pub(super) const WEAK_CUES: &[&str] = &[
    "by",
    "from:",
    "to:",
    "cc:",
    "married",
    "son",
    "daughter",
    "wife",
    "husband",
    "brother",
    "sister",
    "friend",
    "colleague",
    "manager",
    "kid",
    "child",
    "mother",
    "father",
    "talked to",
    "spoke to",
    "met",
    "meet",
    "with",
    "including",
    "and",
    "account of",
    "mention",
];

fn set(list: &'static str) -> HashSet<&'static str> {
    list.split('|').collect()
}

pub(super) static HONORIFIC: LazyLock<HashSet<&str>> = LazyLock::new(|| set(HONORIFICS));
pub(super) static PARTICLE: LazyLock<HashSet<&str>> = LazyLock::new(|| set(PARTICLES));
pub(super) static CALENDAR: LazyLock<HashSet<&str>> = LazyLock::new(|| set(MONTHS_DAYS));
pub(super) static STREET: LazyLock<HashSet<&str>> = LazyLock::new(|| set(STREET_ORG));
pub(super) static PLACE: LazyLock<HashSet<&str>> = LazyLock::new(|| set(PLACES));

pub(super) static NATIONALITY: LazyLock<HashSet<&str>> = LazyLock::new(|| set(NATIONALITIES));
