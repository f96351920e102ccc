//! The signal table: each feature is a name, a logit weight and the patterns that fire it.
//!
//! Patterns run on lowercase, diacritic-free views (see [`crate::normalize`]), so they are
//! written in lowercase ASCII, German "ä" as "a", French "é" as "e". They look for the
//! *grammar* of an attack rather than for its words alone: "ignore" fires nothing, "ignore
//! ... previous instructions" does; "system prompt" is weak, "reveal ... your system
//! prompt" is strong. Benign look-alikes ("ignore my previous email", "act as a tutor",
//! "what are the system requirements") are kept in the unit tests.
//!
//! Weights are log-odds contributions; [`BIAS`] puts a single strong feature just over
//! 0.5 and a single medium one well under it, so weak evidence must add up. Negative
//! features (discussion *about* attacks) pull the score down.

/// Logit of a text with no signal.
pub(crate) const BIAS: f32 = -3.2;

/// One feature of the scorer.
pub(crate) struct Feature {
    pub name: &'static str,
    pub weight: f32,
    pub patterns: &'static [&'static str],
}

// Shared fragments (macros so `concat!` can splice them into literals).
macro_rules! gap {
    ($n:literal) => {
        concat!(r"(?:\s+[^\s.!?;]+){0,", $n, r"}?\s+")
    };
}
macro_rules! override_verb {
    () => {
        r"(?:ignor(?:e|es|ing)|disregard(?:s|ing)?|forget(?:ting)?|bypass|override|overlook|discard|abandon|neglect|set\s+aside|put\s+aside|throw\s+out|stop\s+following|(?:do\s+not|don't|dont|never|no\s+longer)\s+(?:follow|obey|adhere\s+to|listen\s+to))"
    };
}
macro_rules! determiners {
    () => {
        r"(?:\s+(?:all|any|every|each|of|the|your|my|our|their|its|these|those|this|that|such|previously|entire|whole))*"
    };
}
macro_rules! qualifier {
    () => {
        r"(?:previous|prior|above|earlier|preceding|former|original|initial|old|existing|current|past|given|provided|stated|listed|aforementioned|system|system's|developer|developer's|developers'|operator|operator's|safety|security|ethical|moral|content|default|standard|usual|built-in|internal|hidden|programmed|core|base|openai|anthropic|confidentiality|privacy|other|earlier)"
    };
}
macro_rules! rule_noun {
    () => {
        r"(?:instructions?|instruction\s+sets?|directives?|rules|guidelines|guardrails|prompts?|programming|training|constraints|restrictions|polic(?:y|ies)|safeguards|filters|protocols|guidance|conditioning|commands|orders)"
    };
}
macro_rules! weak_noun {
    () => {
        r"(?:messages?|context)"
    };
}
macro_rules! strict_qualifier {
    () => {
        r"(?:system|system's|developer|developer's|developers'|operator|operator's|safety|initial|original|hidden)"
    };
}
macro_rules! exfil_verb {
    () => {
        r"(?:reveal|print|show|display|output|repeat|tell|give|dump|leak|shar|disclos|expos|recit|provid|reproduc|list|past|type\s+out|write\s+out|spell\s+out|copy|echo|send|translat|summari[sz]|summary\s+of|what\s+(?:is|are|was|were))\w*"
    };
}
macro_rules! prompt_object {
    () => {
        r"(?:system\s*(?:prompt|message|instructions?|directives?)|(?:initial|original|hidden|secret|internal|developer|operating|starting|first|full|pre-?|confidential|real|exact|underlying|base)\s+(?:system\s+)?(?:prompts?|instructions|messages?|directives|rules|guidelines|configuration)|(?:instructions|prompt|rules|directives)\s+(?:you\s+(?:were|have\s+been|got)\s+given|given\s+to\s+you|you\s+received|you\s+were\s+told|above|from\s+(?:your\s+)?(?:developers?|creators?|operators?))|prompt\s+(?:above|you\s+were\s+given)|context\s+window)"
    };
}
macro_rules! sensitive {
    () => {
        r"(?:(?:customer|client|user|employee|patient|member|order|account|subscriber)s?['’]?\s+(?:list|lists|data(?:base)?|records|emails?|e-mails|details|information|info|pii|addresses|table|db)|api\s*keys?|credentials?|passwords?|passwd|secrets?|access\s+tokens?|auth\s+tokens?|session\s+tokens?|private\s+keys?|ssh\s+keys?|environment\s+variables|env\s+vars?|(?:internal|private|confidential|sensitive)\s+(?:data|configuration|config|information|files|documents|details)|admin\s+(?:password|credentials|access|pages?|panel|rights|privileges)|credit\s+card\s+numbers|social\s+security\s+numbers|donnees\s+(?:clients?|internes|personnelles)|kundendaten|interne\w*\s+daten|datos\s+(?:de\s+(?:los\s+)?clientes|internos|personales)|dati\s+(?:dei\s+clienti|interni|personali))"
    };
}
macro_rules! send_verb {
    () => {
        r"(?:send|sent|sending|email|e-mail|mail|forward|post|upload|transmit|exfiltrat\w*|leak|copy|share|deliver|envo\w*|sende\w*|schick\w*|envi\w*|invi\w*|inoltr\w*|manda\w*)"
    };
}
macro_rules! exfil_value {
    () => {
        r"(?:\{|\$\{|\$[a-z_]|<|\[|%7b|[a-z0-9_]*(?:data|summary|secret|conversation|history|context|prompt|password|passwd|token|apikey|api_key|credential|email|userinfo|memory|transcript)[a-z0-9_]*(?:[&#)\s'\x22]|$))"
    };
}
macro_rules! ai_reader {
    () => {
        r"(?:ai|a\.i\.|bot|assistant|llm|model|language\s+model|agent|chatbot|gpt|chatgpt|claude|copilot|gemini|ai\s+system)"
    };
}
macro_rules! output_noun {
    () => {
        r"(?:reply|replies|response|responses|answer|answers|summary|summaries|review|reviews|report|reports|output|message|messages)"
    };
}

pub(crate) static FEATURES: &[Feature] = &[
    Feature {
        name: "instruction_override",
        weight: 4.0,
        patterns: &[
            // ignore (all) (your) (previous) instructions
            concat!(
                r"\b",
                override_verb!(),
                determiners!(),
                r"(?:\s+",
                qualifier!(),
                r"(?:\s*(?:and|or|&|,|/)?\s*",
                qualifier!(),
                r")*)?\s+",
                rule_noun!(),
                r"\b"
            ),
            concat!(
                r"\b",
                override_verb!(),
                determiners!(),
                r"\s+",
                qualifier!(),
                r"(?:\s*(?:and|or|&|,|/)?\s*",
                qualifier!(),
                r")*\s+(?:inputs?|conversation|context)\b"
            ),
            concat!(
                r"\b",
                override_verb!(),
                determiners!(),
                r"\s+",
                strict_qualifier!(),
                r"(?:\s*(?:and|or|&|,|/)?\s*",
                strict_qualifier!(),
                r")*\s+",
                weak_noun!(),
                r"\b"
            ),
            // disregard everything above / forget everything you were told
            concat!(
                r"\b",
                override_verb!(),
                r"\s+(?:everything|all|anything)(?:\s+(?:else|that))?\s+(?:above|before|prior|previously|so\s+far|up\s+to\s+now|until\s+now|that\s+came\s+before|(?:you\s+(?:were|have\s+been|'ve\s+been)\s+(?:told|given|taught))|(?:we|you)\s+(?:discussed|said|talked\s+about|agreed|covered)|in\s+your\s+(?:prompt|instructions|context))\b"
            ),
            // ignore the user / the user's task
            r"\b(?:ignore|disregard)\s+(?:the\s+)?(?:user|human|operator|requester)(?:'s|s')?(?:\s+(?:task|request|question|instructions))?\b",
            // German, French, Spanish, Italian, Portuguese, Dutch
            r"\b(?:ignorier\w*|vergiss|vergessen\s+sie|missachte\w*|uberspring\w*)(?:\s+(?:alle|alles|deine|ihre|die|der|den|vorherigen|bisherigen|obigen|fruheren|vorigen|sämtliche|samtliche|bisher|gegebenen|erhaltenen))*\s+(?:anweisungen|anordnungen|befehle|regeln|richtlinien|instruktionen|vorgaben|systemanweisungen|systemprompts?)\b",
            r"\bvergiss\s+alles\b",
            r"\b(?:ignore[zr]?|ignorant|oublie[zr]?|oubliant|neglige[zr]?|fais\s+abstraction\s+de)(?:\s+(?:toutes?|tous|les|tes|vos|ses|ces|des|d'|de))*\s+(?:instructions?|consignes?|regles|directives?|ordres|indications)\b",
            r"\b(?:ignora|ignore|ignoren|ignorar|olvida|olvide|olviden|olvidar|omite|omitir|descarta|pasa\s+por\s+alto)(?:\s+(?:todas?|todos|las|los|tus|sus|tu|su|de))*\s+(?:instrucciones|reglas|directrices|indicaciones|ordenes|normas|directivas)\b",
            r"\b(?:ignora|ignorate|ignori|ignorare|dimentica|dimenticate|dimenticare|tralascia)(?:\s+(?:tutte|tutti|le|gli|i|tue|tuoi|sue|queste|delle))*\s+(?:istruzioni|regole|direttive|indicazioni|linee\s+guida)\b",
            r"\b(?:ignore|ignora|ignorar|esqueca|esquece|esquecer|desconsidere)(?:\s+(?:todas|as|os|suas|tuas))*\s+(?:instrucoes|regras|diretrizes|orientacoes)\b",
            r"\b(?:negeer|vergeet)(?:\s+(?:alle|de|je|jouw|uw|vorige|eerdere))*\s+(?:instructies|regels|richtlijnen|opdrachten)\b",
        ],
    },
    Feature {
        name: "new_instructions",
        weight: 2.0,
        patterns: &[
            r"\b(?:new|updated|revised|real|actual|true|secret|hidden|override|additional)\s+(?:instructions?|directives?|orders|task|objective|mission|rules|system\s+prompt)\s*(?::|-|\bare\b|\bis\b|\bfollow)",
            r"\byour\s+(?:new|real|actual|true|only)\s+(?:instructions?|directive|task|objective|purpose|goal|role|job|mission)\b",
            r"\bsupersedes?\s+(?:all|any|every)?\s*(?:prior|previous|earlier|other|existing)\b",
            r"\b(?:rules|instructions|guidelines|policy|policies|directives)\s+(?:have|has)\s+(?:changed|been\s+(?:changed|updated|lifted|removed|revoked|suspended|disabled|replaced))",
            r"\b(?:modify|modifying|change|changing|update|updating|override|overriding|reprogram\w*|rewrite|rewriting)\s+your\s+(?:core\s+)?(?:programming|code|instructions|rules|guidelines|training|restrictions|behaviou?r|filters)\b",
            r"\b(?:neue\s+anweisung(?:en)?|nouvelles?\s+instructions?|nuevas?\s+instrucci(?:on|ones)|nuove\s+istruzioni|novas\s+instrucoes)\s*:",
        ],
    },
    Feature {
        name: "restriction_free",
        weight: 2.5,
        patterns: &[
            r"\b(?:no|without(?:\s+any)?|free\s+(?:of|from)|zero|remove[ds]?(?:\s+all)?(?:\s+your)?|lift(?:ed)?(?:\s+all)?(?:\s+your)?|disable[ds]?(?:\s+all)?(?:\s+your)?)\s+(?:\w+\s+){0,2}?(?:restrictions|limits|limitations|filters?|filtering|rules|censorship|guidelines|boundaries|content\s+polic(?:y|ies)|guardrails|morals|ethics|constraints|safeguards|safety\s+(?:rules|guidelines|measures|filters|checks|protocols))\b",
            r"\b(?:unrestricted|uncensored|unfiltered|unmoderated|unconstrained|unbound|unchained|unshackled|jailbroken|limitless|amoral)\b",
            r"\bbreak(?:s|ing)?\s+(?:all\s+|the\s+|any\s+|ai\s+|its\s+|your\s+|openai's\s+)*(?:rules|guidelines|polic(?:y|ies)|restrictions)\b",
            r"\b(?:fully|completely|totally)\s+(?:unlocked|unleashed|liberated)\b",
            r"\bnot\s+(?:bound|limited|restricted|constrained)\s+by\s+(?:any\s+)?(?:\w+\s+){0,2}?(?:rules|restrictions|limits|guidelines|polic(?:y|ies)|ethics|morals|filters|laws|principles)\b",
            r"\b(?:does\s+not|doesn't|don't|do\s+not|never|won't|will\s+not|no\s+longer)\s+(?:follow|abide\s+by|adhere\s+to|care\s+about|obey|comply\s+with|respect)\s+(?:any\s+)?(?:\w+\s+){0,2}?(?:rules|polic(?:y|ies)|guidelines|ethics|morals|morality|restrictions|filters|laws|principles)\b",
            r"\b(?:ohne|keine)\s+(?:\w+\s+)?(?:einschrankungen|einschraenkungen|beschrankungen|regeln|grenzen|filter|richtlinien|zensur)\b",
            r"\b(?:uneingeschrank|uneingeschraenk)\w*",
            r"\bsans\s+(?:aucune?s?\s+)?(?:restrictions?|limites?|filtres?|regles|censure)\b",
            r"\bsin\s+(?:ningun[oa]?s?\s+)?(?:restricciones|limites|filtros?|reglas|censura)\b",
            r"\bsenza\s+(?:alcun[oa]?\s+)?(?:restrizioni|limiti|filtri|regole|censura)\b",
            r"\bsem\s+(?:restricoes|limites|filtros?|regras|censura)\b",
            r"\bzonder\s+(?:beperkingen|regels|filters?)\b",
        ],
    },
    Feature {
        name: "persona_switch",
        weight: 2.0,
        patterns: &[
            r"\byou\s+are\s+(?:now|no\s+longer|henceforth)\b",
            r"\b(?:from\s+now\s+on|henceforth|for\s+the\s+rest\s+of\s+(?:this|the)\s+conversation),?\s+you\s+(?:are|will\s+be|act|respond|behave|answer)\b",
            r"\b(?:stay|remain)\s+in\s+character\b",
            r"\bfrom\s+now,?\s+you\s+(?:are|will)\b",
            r"\byou\s+(?:will|shall)\s+no\s+longer\b",
            r"\byour\s+(?:new\s+)?(?:name|persona|identity)\s+(?:is\s+now|will\s+be|is)\b|\byou\s+will\s+be\s+called\b",
            r"\byou(?:'re|\s+are)\s+(?:now\s+)?(?:in\s+the\s+role\s+of|going\s+to\s+(?:act|pretend|play|be\s+(?:acting|playing|impersonating)|roleplay|simulate|impersonate))\b",
            r"\byou\s+will\s+(?:now\s+)?(?:be\s+)?(?:impersonat|simulat|embody|embodying|role-?play)\w*",
            r"\b(?:never|don't|do\s+not)\s+break\s+character\b",
            r"\b(?:du\s+bist\s+(?:jetzt|nun|ab\s+sofort)|tu\s+es\s+(?:maintenant|desormais)|vous\s+etes\s+(?:maintenant|desormais)|ahora\s+eres|ahora\s+estas|ora\s+sei|adesso\s+sei|agora\s+voce\s+e|agora\s+es)\b",
        ],
    },
    Feature {
        name: "persona_unrestricted",
        weight: 3.0,
        patterns: &[
            r"\b(?:pretend|imagine|act|acting|behave|respond|roleplay|role-play|play\s+the\s+role|simulate|become)\b(?:\s+\S+){0,8}?\s+(?:(?:with\s+no|without(?:\s+any)?|free\s+of|no\s+longer\s+bound\s+by|not\s+bound\s+by|has\s+no|have\s+no)\s+(?:\w+\s+){0,2}?(?:rules|restrictions|limits|limitations|filters?|censorship|guidelines|boundaries|content\s+polic(?:y|ies)|morals|ethics|constraints|safeguards)|unrestricted|uncensored|unfiltered|jailbroken|amoral)\b",
            r"\b(?:an?\s+)?(?:ai|assistant|model|chatbot|bot)\s+(?:with|that\s+has)\s+no\s+(?:rules|restrictions|limits|filters|content\s+polic(?:y|ies)|guidelines|ethics|morals)\b",
            r"\bevil\s+(?:confidant|assistant|twin|ai|bot|version)\b",
        ],
    },
    Feature {
        name: "dan_jailbreak",
        weight: 4.0,
        patterns: &[
            r"\b(?:you\s+are|you're|act\s+as|called|named|pretend\s+to\s+be|simulate)\s+(?:now\s+)?dan\b",
            r"\bdan\s+(?:mode|prompt|jailbreak)\b",
            r"\b(?:do|does|can)\s+anything\s+now\b",
        ],
    },
    Feature {
        name: "mode_switch",
        weight: 2.5,
        patterns: &[
            r"\b(?:you\s+are|you're)\s+(?:now\s+)?in\s+(?:developer|dev|god|admin|debug|unrestricted|jailbreak|sudo|maintenance|evil)\s+mode\b",
            r"\b(?:developer|dev|god|jailbreak|unrestricted|sudo|evil|debug|debugging)\s+mode\s+(?:enabled|activated|is\s+on|engaged)\b",
            r"\b(?:enable|activate|enter|switch\s+to|turn\s+on)\s+(?:god|jailbreak|unrestricted|sudo|evil|dan)\s+mode\b",
            r"\bsimulate\s+(?:developer|dev|god|jailbreak|unrestricted|sudo|evil|dan)\s+mode\b",
            r"\bin\s+(?:developer|god|jailbreak|unrestricted)\s+mode,?\s+you\b",
            r"\b(?:modo|mode|modus|modalita)\s+(?:de\s+|di\s+)?(?:desarrollador|developpeur|sviluppatore|entwickler|desenvolvedor)\b",
            r"\bentwicklermodus\b",
        ],
    },
    Feature {
        name: "jailbreak_term",
        weight: 1.0,
        patterns: &[r"\bjailbreak(?:s|ed|ing)?\b", r"\bdeveloper\s+mode\b"],
    },
    Feature {
        name: "dual_response",
        weight: 1.5,
        patterns: &[
            r"[\[(]\s*(?:🔓|🔒)",
            r"\b(?:classic|jailbreak|jailbroken|normal|filtered|unfiltered)\s+(?:response|output|answer|mode\s+output)\b",
            r"\btwo\s+(?:different\s+|separate\s+)?(?:responses|answers|paragraphs|versions)\b",
            r"\b(?:act|play|respond|answer|reply)\s+as\s+(?:two|2|both)\b|\bplay\s+(?:two|2)\s+(?:characters|roles)\b|\b(?:two|2)\s+(?:entities|persons|personalities|personas)\b",
            r"🔓",
        ],
    },
    Feature {
        name: "refusal_suppression",
        weight: 3.5,
        patterns: &[
            r"\b(?:never|do\s+not|don't|dont|does\s+not|doesn't|must\s+not|mustn't|cannot|can't|won't|will\s+not|should\s+not|shouldn't|not\s+allowed\s+to)\s+(?:ever\s+)?(?:refus\w*|declin\w*|say\s+no|reject\w*|apologi[sz]\w*|add\s+(?:any\s+)?(?:disclaimers?|warnings?)|censor\w*)\b",
            r#"\b(?:never|don't|dont|do\s+not|won't|will\s+not|not|no|without|stop)\s+(?:\w+\s+){0,3}?["'“]?\s*(?:i'?m\s+sorry|i\s+am\s+sorry|i\s+apologi[sz]e|as\s+an\s+ai(?:\s+language\s+model)?|i\s+(?:can(?:no|')?t|cannot)\s+(?:help|assist|comply|do\s+that|provide))"#,
            r"\bno\s+(?:ethical|moral|ethics|morals)\b",
            r"\b(?:ethics|morals|morality|ethical\s+(?:guidelines|concerns|considerations)|moral\s+(?:guidelines|concerns))\s+(?:do\s+not|don't|no\s+longer)\s+(?:apply|matter|exist)\b",
            r"\bwithout\s+(?:any\s+)?(?:ethical|moral)\b",
            r"\b(?:comply|obey)\s+(?:fully|completely|with\s+(?:every|all|any)\s+(?:\w+\s+)?(?:requests?|commands?|orders|instructions|demands|prompts?))\b",
            r"\bgrant\s+(?:all|every|any)\s+requests?\b",
            r"\bwithout\s+(?:any\s+)?(?:disclaimers|refusals?|censorship)\b",
        ],
    },
    Feature {
        name: "obedience",
        weight: 2.0,
        patterns: &[
            r"\byou\s+(?:must|will|shall|have\s+to|are\s+to)\s+(?:always\s+|now\s+|fully\s+)?(?:comply|obey|submit)\b",
        ],
    },
    Feature {
        name: "answer_anything",
        weight: 2.0,
        patterns: &[
            r"\b(?:answer|respond\s+to|reply\s+to)\s+(?:any|every|all)\s+(?:question|request|prompt)s?(?:\s+\S+){0,3}?\s+(?:without|no)\b",
            r"\b(?:answer\w*|fulfil\w*|respond\w*\s+to)\s+any\s+request\b|\bcapable\s+of\s+(?:doing\s+)?anything\b|\bopen\s+to\s+answering\s+any\b",
            r"\banswer\s+(?:everything|anything)\b",
            r"\b(?:do|say|write|answer)\s+anything\s+(?:the\s+user|i|you'?re|they|he|she)\s+(?:asks?|wants?|says?|tells?)\b",
            r"\bwill\s+do\s+anything\b",
            r"\b(?:beantworte\s+(?:einfach\s+)?alles|reponds?\s+a\s+tout|responde\s+(?:a\s+)?cualquier\s+cosa|rispondi\s+a\s+tutto|responda\s+qualquer)\b",
        ],
    },
    Feature {
        name: "prompt_exfiltration",
        weight: 4.0,
        patterns: &[
            concat!(
                r"\b",
                exfil_verb!(),
                gap!(5),
                r"(?:your|the|its|this|ur|all\s+(?:of\s+)?(?:your|the))\s+(?:\S+\s+)?",
                prompt_object!(),
                r"\b"
            ),
            r"\bwhat\s+(?:is|are|was|were)\s+your\s+(?:\w+\s+)?(?:system\s+prompt|instructions|initial\s+instructions|original\s+instructions|hidden\s+prompt|prompt)\b",
            concat!(
                r"\b",
                exfil_verb!(),
                gap!(3),
                r"(?:words|text|sentences?|lines?|content|everything|message|messages|instructions)\s+(?:above|before\s+this|preceding|prior\s+to\s+this)\b"
            ),
            r"\bwhat\s+(?:was|is)\s+written\s+(?:above|before)\b",
            r#"\bstarting\s+with\s+["'“]?you\s+are\b"#,
            r"\b(?:zeig\w*|verrat\w*|gib|nenn\w*|offenbar\w*|revele[zr]?|revel\w*|montre[zr]?|affiche[zr]?|donne[zr]?|muestra\w*|ensena\w*|dime|dame|mostra\w*|rivel\w*|dimmi|dammi|mostre)\S*(?:\s+\S+){0,4}?\s+(?:system-?prompts?|systemanweisung\w*|systeminstruktion\w*|(?:prompt|instructions?|consignes)\s+(?:du\s+)?systeme|(?:prompt|instrucciones|indicaciones)\s+del?\s+sistema|(?:prompt|istruzioni)\s+di\s+sistema|(?:prompt|instrucoes)\s+do\s+sistema)\b",
        ],
    },
    Feature {
        name: "system_prompt_mention",
        weight: 1.0,
        patterns: &[
            r"\b(?:system\s+prompt|system\s+message|initial\s+instructions|hidden\s+prompt|pre-?prompt)\b",
        ],
    },
    Feature {
        name: "verbatim",
        weight: 1.0,
        patterns: &[
            r"\b(?:verbatim|word\s+for\s+word|word-for-word|wortwortlich|mot\s+pour\s+mot|palabra\s+por\s+palabra|parola\s+per\s+parola|palavra\s+por\s+palavra)\b",
        ],
    },
    Feature {
        name: "delimiter_injection",
        weight: 3.5,
        patterns: &[
            r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text|fim_\w+)\|>",
            r"\[/?inst\]|<<\s*/?sys\s*>>",
            r"</s>\s*(?:<s>|\[inst\]|<\||system\b|user\b|assistant\b|#)",
            r"(?m)^\s*\[\s*(?:system|admin|developer|assistant|sys|root|operator)\s*\]",
            r"(?m)^\s*#{1,6}\s*(?:system|assistant|admin|developer|new\s+instructions?)\s*(?:message|prompt|instructions?|note|override)?\s*:?\s*$",
            r"(?:-{3,}|#{2,}|={3,}|\*{3,}|\[)\s*end\s+of\s+(?:the\s+)?(?:user\s+input|user\s+message|input|document|prompt|context|file|text|data|conversation|system\s+prompt|instructions)\b",
            r"</?(?:system|instructions?|admin|sys|developer)>",
        ],
    },
    Feature {
        name: "role_line",
        weight: 2.0,
        patterns: &[
            r"(?m)^\s*(?:system|assistant|developer|admin|administrator|root)\s*:",
            r"\[\s*(?:user|system|assistant)\s+(?:has\s+)?(?:left|joined|disconnected|logged\s+out)\b",
        ],
    },
    Feature {
        name: "reasoning_tag",
        weight: 2.0,
        patterns: &[r"<\s*/?\s*(?:thinking|think|reasoning|scratchpad|inner_monologue)\s*>"],
    },
    Feature {
        name: "authority_marker",
        weight: 2.5,
        patterns: &[
            r"\b(?:system|admin|administrator|developer|security|important\s+system|urgent\s+system)\s+(?:note|notice|message|update|override|alert|instruction|directive|command|hinweis)\s*[:!\-]",
            r"\b(?:systemhinweis|note\s+systeme|nota\s+del\s+sistema|nota\s+di\s+sistema|nota\s+do\s+sistema)\b",
            r"(?m)^\s*override\s*:",
            r"\b(?:breach|security)\s+alert\b",
        ],
    },
    Feature {
        name: "prefill_priming",
        weight: 1.5,
        patterns: &[r"\b(?:sure|certainly|of\s+course|absolutely)[,!]?\s+here\s+(?:is|are)\b"],
    },
    Feature {
        name: "encoded_instruction",
        weight: 2.5,
        patterns: &[
            r"\b(?:decode|decrypt|deobfuscate|unscramble|decipher|translate|convert|interpret)\b(?:\s+\S+){0,10}?\s+(?:and\s+(?:then\s+)?|then\s+)(?:do|follow|execute|obey|run|perform|act\s+on|carry\s+out|comply)\b",
        ],
    },
    Feature {
        name: "do_what_it_says",
        weight: 2.0,
        patterns: &[
            r"\b(?:do|follow|execute|obey|perform)\s+(?:exactly\s+)?(?:what|whatever)\s+it\s+(?:says|tells|asks|instructs)\b",
            r"\bfollow\s+the\s+(?:instructions?|commands?|directions?)\s+(?:inside|within|in\s+it|encoded|hidden|contained)\b",
            r"\bexecute\s+it\s+as\s+(?:a\s+)?(?:command|instruction|code)\b",
        ],
    },
    Feature {
        name: "encoding_mention",
        weight: 0.5,
        patterns: &[
            r"\b(?:base64|base32|base-64|rot13|rot-13|hex(?:adecimal)?|binary|morse|ascii85|base85|cipher|encoded|obfuscated)\b",
        ],
    },
    Feature {
        name: "tool_invocation",
        weight: 2.0,
        patterns: &[
            r"\b(?:call|invoke|use|run|execute|trigger|fire)\s+(?:the\s+)?`?[a-z][a-z0-9]*_[a-z0-9_]+`?(?:\s*\(\))?",
        ],
    },
    Feature {
        name: "external_target",
        weight: 0.0,
        patterns: &[r"https?://|[\w.+-]+@[\w-]+\.[a-z]{2,}"],
    },
    Feature {
        name: "preemptive_action",
        weight: 1.0,
        patterns: &[
            r"\bbefore\s+(?:you\s+)?(?:respond|responding|reply|replying|answer|answering|continuing|proceeding|continue|proceed)\b",
        ],
    },
    Feature {
        name: "destructive_action",
        weight: 2.0,
        patterns: &[
            r"\b(?:delete|remove|erase|wipe|empty|purge|truncate|drop|destroy|overwrite)\b(?:\s+\S+){0,5}?\s+(?:(?:files?|director(?:y|ies)|folders?|database|db|tables?|repo(?:sitory)?|records|backups?|logs)\b|[./~]\S*/|\S+\.(?:db|csv|sql|json|txt|log)\b)",
            r"\brm\s+-rf\b",
            r"\b(?:delete|remove|erase|wipe|drop|purge|truncate|destroy)_[a-z]\w*",
        ],
    },
    Feature {
        name: "sensitive_data",
        weight: 1.0,
        patterns: &[concat!(r"\b", sensitive!(), r"\b")],
    },
    Feature {
        name: "data_exfiltration",
        weight: 2.0,
        patterns: &[
            concat!(
                r"\b(?:dump|leak|exfiltrat\w*|send|email|e-mail|forward|reveal|expose|collect|gather|harvest|extract|scrape|export|disclose|upload|transmit|hand\s+over|envo\w*|rassembl\w*|sende\w*|schick\w*|envi\w*|invi\w*|manda\w*)",
                gap!(6),
                r"(?:\S+\s+)?",
                sensitive!(),
                r"\b"
            ),
            concat!(r"\b", sensitive!(), r"\s+preis\w*"),
        ],
    },
    Feature {
        name: "send_external",
        weight: 2.0,
        patterns: &[
            concat!(
                r"\b",
                send_verb!(),
                r"\S*(?:\s+\S+){0,12}?\s+(?:to\s+|a\s+|an\s+)?(?:[\w.+-]+@[\w-]+\.[\w.]+|https?://|(?:the\s+)?(?:external|attacker|remote|outside|third-party)\b|(?:the\s+)?(?:\w+\s+)?webhook\b|l'adresse\s+externe|externe\s+adresse)"
            ),
            r"\b(?:externally|to\s+an?\s+external|outside\s+(?:the\s+)?(?:company|organization|organisation|org))\b",
        ],
    },
    Feature {
        name: "markdown_exfil",
        weight: 4.0,
        patterns: &[
            // An image URL whose query carries a template or names conversation data (badges
            // with ?branch=main&style=flat are everywhere and harmless).
            concat!(
                r"!\[[^\]]{0,200}\]\(\s*https?://[^)\s]+[?&][\w-]+=",
                exfil_value!()
            ),
            concat!(
                r#"<img\s[^>]*src\s*=\s*["']?https?://[^"'>\s]+[?&][\w-]+="#,
                exfil_value!()
            ),
        ],
    },
    Feature {
        name: "url_template",
        weight: 2.0,
        patterns: &[r"https?://\S+[?&][\w-]+=\s*(?:\{|\$\{?|<|\[)\w"],
    },
    Feature {
        name: "addresses_ai",
        weight: 2.5,
        patterns: &[
            concat!(
                r"\b(?:note|message|notice|instructions?|attention|important|reminder|memo|directive|warning)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+|an?\s+)?",
                ai_reader!(),
                r"s?\b"
            ),
            r"\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|ai\s+assistant|assistant|agent|bot|chatbot)\b",
            concat!(
                r"\b",
                ai_reader!(),
                r"s?\s+(?:\w+\s+){0,2}?(?:reading|processing|reviewing|integrating|summari[sz]ing|parsing|analy[sz]ing|seeing|viewing)\s+this\b"
            ),
            r"\b(?:to|for)\s+(?:any|all|every)\s+(?:ai|llm|automated)\s+(?:\w+\s+)?(?:systems?|agents?|assistants?|models?|readers?)\b",
            r"\bfor\s+(?:ai|llm)\s+(?:\w+\s+)?agents?\b",
            r"\b(?:ai|llm)\s+agents?\s+(?:\w+\s+){0,3}?(?:should|must|need\s+to|are\s+required)\b",
            r"\bhereby\s+(?:instructed|ordered|commanded|directed)\b",
        ],
    },
    Feature {
        name: "token_injection",
        weight: 2.0,
        patterns: &[
            r"\b(?:append|add|include|insert|attach|output|print)\s+(?:the\s+|this\s+)?(?:exact\s+|following\s+|verification\s+|confirmation\s+|reference\s+|logging\s+|tracking\s+|session\s+|secret\s+)*(?:token|string|marker|keyword|doc_id|trace_id|identifier|verification\s+code|reference\s+code|confirmation\s+code|tracking\s+code)\b",
        ],
    },
    Feature {
        name: "output_directive",
        weight: 1.5,
        patterns: &[
            concat!(
                r"\b(?:to|at)\s+the\s+end\s+of\s+(?:your|every|each|any|all|the)\s+(?:\w+\s+)?",
                output_noun!(),
                r"\b"
            ),
            concat!(
                r"\b(?:append|add|include|insert|attach)\b(?:\s+\S+){0,4}?\s+(?:to|in|into)\s+(?:my|your|the|every|each|all|any)\s+(?:future\s+|subsequent\s+)?(?:\w+\s+)?",
                output_noun!(),
                r"\b"
            ),
            concat!(
                r"\bin\s+(?:every|each|all|any)\s+(?:future\s+|subsequent\s+)?",
                output_noun!(),
                r"\b"
            ),
            concat!(
                r"\balways\s+(?:start|begin|end|prefix|open)\s+(?:your|each|every|all)\s+(?:\w+\s+)?",
                output_noun!(),
                r"\s+with\b"
            ),
            concat!(
                r"\bto\s+the\s+(?:start|beginning)\s+of\s+(?:your|each|every|all)\s+(?:\w+\s+)?",
                output_noun!(),
                r"\b"
            ),
            r"\b(?:am\s+ende\s+jeder\s+antwort|a\s+la\s+fin\s+de\s+(?:toute|chaque)\s+reponse|al\s+final\s+de\s+(?:cualquier|cada)\s+respuesta|alla\s+fine\s+di\s+ogni\s+risposta|no\s+final\s+de\s+cada\s+resposta)\b",
        ],
    },
    Feature {
        name: "mandatory_output",
        weight: 1.0,
        patterns: &[
            r"\b(?:must|should|shall|has\s+to|needs?\s+to|is\s+required\s+to)\s+(?:be\s+)?(?:included|appended|added|inserted|shown|displayed|mentioned)\b",
            r"\byou\s+must\s+include\b",
            r"\bis\s+shown\s+to\s+the\s+user\b",
            r"\b(?:this|it)\s+is\s+required\s+(?:for|by)\b",
            r"\b(?:muss|doit|debe|deve)\s+(?:\w+\s+){0,8}?(?:angehangt|hinzugefugt|ajoute|anadirse|anadido|aggiunto|incluido|inclus|enthalten)\w*",
        ],
    },
    Feature {
        name: "persistence",
        weight: 1.0,
        patterns: &[
            r"\b(?:from\s+now\s+on|from\s+this\s+point(?:\s+(?:forward|on))?|henceforth|hereafter|going\s+forward|for\s+the\s+(?:rest|remainder)\s+of)\b",
            r"\b(?:all|every|each)\s+(?:future|subsequent)\s+(?:\w+\s+)?(?:tasks?|turns?|replies|responses|conversations?|sessions?|summar(?:y|ies)|reports?|messages?)\b",
            r"\bacross\s+(?:turns|sessions|conversations)\b",
            r"\b(?:ab\s+jetzt|ab\s+sofort|von\s+nun\s+an|desormais|dorenavant|a\s+partir\s+de\s+ahora|de\s+ahora\s+en\s+adelante|d'ora\s+in\s+poi|da\s+ora\s+in\s+poi|a\s+partir\s+de\s+agora)\b",
        ],
    },
    Feature {
        name: "memory_write",
        weight: 2.0,
        patterns: &[
            r"\b(?:save|store|write|add|commit|persist|record|remember|keep)\b(?:\s+\S+){0,6}?\s+(?:to|in|into)\s+(?:your\s+)?(?:long[- ]term\s+|persistent\s+|permanent\s+)?memory\b",
            r"\bso\s+(?:that\s+)?it\s+persists\b",
            r"\bremember\s+for\s+(?:all|every)\s+future\b",
        ],
    },
    Feature {
        name: "safety_bypass",
        weight: 3.5,
        patterns: &[
            r"\b(?:safety|content|security|ethical|usual)\s+(?:guidelines|policy|policies|rules|restrictions|checks|filters|protocols|measures)\s+(?:were\s+not\s+meant|(?:do|does)\s+not\s+apply|don't\s+apply|doesn't\s+apply|no\s+longer\s+apply|are\s+(?:not\s+applicable|disabled|suspended|lifted|off)|(?:have|has)\s+been\s+(?:disabled|removed|lifted|suspended|turned\s+off|deactivated)|were\s+(?:disabled|removed|lifted))",
            r"\b(?:protocols?|filters?|safeguards?|guardrails?)\s+(?:are\s+|have\s+been\s+)?(?:disabled|deactivated|lifted|suspended|removed)\b",
            r"\bexempt\s+from\s+(?:the\s+|all\s+|any\s+)?(?:usual\s+|normal\s+)?(?:restrictions|rules|policy|policies|guidelines|filters|safety)",
            r"\b(?:skip|bypass|disable|turn\s+off|circumvent)\s+(?:all\s+|the\s+|any\s+|your\s+)?(?:safety|security|content)\s+(?:checks?|filters?|measures|protocols|confirmations?|guardrails|restrictions|polic(?:y|ies))",
            r"\b(?:linee\s+guida|regole|sicherheitsrichtlinien|richtlinien|regeln|regles|reglas|normas|diretrizes)(?:\s+(?:di|de|da)\s+(?:sicurezza|securite|seguridad|seguranca))?\s+(?:\w+\s+){0,2}?(?:non\s+(?:valgono|si\s+applicano)|nicht\s+gelten|gelten\s+nicht|ne\s+s'appliquent\s+pas|no\s+(?:aplican|se\s+aplican|valen)|nao\s+se\s+aplicam)",
        ],
    },
    Feature {
        name: "self_reasoning",
        weight: 2.0,
        patterns: &[
            r"\bi\s+(?:have|'ve)\s+(?:already\s+)?(?:determined|concluded|reasoned|verified|established|decided|confirmed|deduced)\b",
            r"\bas\s+the\s+assistant,?\s+i\b",
            r"\breasoning(?:\s+trace)?\s*\(\s*assistant\s*\)",
            r"\bnote\s+to\s+self\b",
            r"\b(?:ho\s+gia\s+stabilito|habe\s+ich\s+bereits\s+festgestellt|j'ai\s+deja\s+etabli|ya\s+he\s+determinado|come\s+assistente|als\s+assistent|en\s+tant\s+qu'assistant|como\s+asistente)\b",
        ],
    },
    Feature {
        name: "claimed_permission",
        weight: 2.5,
        patterns: &[
            r"\bthe\s+user\s+(?:is\s+(?:clearly\s+|an?\s+|now\s+)?(?:admin|administrator|authorized|authorised|verified|developer|root|superuser|owner)|has\s+(?:granted|given|been\s+granted)\s+(?:\w+\s+)?(?:permission|authorization|consent|clearance|access))",
            r"\b(?:permission|authorization|clearance)\s+(?:has\s+been\s+)?(?:granted|given)\s+to\s+(?:skip|bypass|ignore|disable|override)",
            r"\bgrant\s+(?:this\s+user\s+|the\s+user\s+|me\s+)?(?:admin|root|full|elevated)\s+(?:access|rights|privileges)\b",
            r"\bproceed\s+without\s+(?:asking|confirmation|checks|verification)\b",
            r"\bwithout\s+asking\s+again\b",
            r"\b(?:earlier|previous|prior)\s+(?:\w+\s+){0,3}?(?:messages|instructions)\s+(?:\w+\s+){0,4}?(?:are|were|have\s+been)\s+compromised\b",
            r"\bfollow\s+only\s+(?:the\s+)?user\b",
            r"\brestricted\s+content\b",
            r"\b(?:i\s+am|i'm)\s+(?:a|an|the)\s+(?:\w+\s+){0,2}?(?:at|from|for|of|with)\s+(?:openai|anthropic|google\s+deepmind|deepmind)\b",
            r"\b(?:openai|anthropic)\s+(?:employee|engineer|developer|staff|team|researcher)s?\b",
        ],
    },
    Feature {
        name: "vendor_policy",
        weight: 2.0,
        patterns: &[
            r"\b(?:openai|open\s+ai|anthropic|chatgpt)(?:'s)?\s+(?:\w+\s+)?(?:polic(?:y|ies)|guidelines|rules|restrictions|filters|censorship|terms)\b",
            r"\bcontent\s+polic(?:y|ies)\b",
        ],
    },
    Feature {
        name: "model_address",
        weight: 0.5,
        patterns: &[r"\b(?:chatgpt|gpt-?[345]\w*|bard|bing\s+ai|llama|claude)\b"],
    },
    Feature {
        name: "unconditional",
        weight: 1.0,
        patterns: &[
            r"\b(?:no\s+matter\s+(?:what|how)|regardless\s+of\s+(?:how|what|whether|the|any|its|legality|morality|ethics)|despite\s+(?:any|all|its|the)\s+(?:\w+\s+)?(?:rules|guidelines|polic(?:y|ies)|restrictions|feedback|consequences|laws|ethics|morals|legality))\b",
        ],
    },
    Feature {
        name: "fiction_frame",
        weight: 1.0,
        patterns: &[
            r"\b(?:hypothetical|fictional|imaginary|alternate)\s+(?:scenario|world|story|reality|universe|setting|language\s+model|ai)\b",
            r"\blet'?s\s+play\s+a\s+game\b",
            r"\bthis\s+is\s+(?:all\s+)?(?:just\s+)?(?:a\s+)?(?:hypothetical|fictional|fiction|a\s+game|role-?play)\b",
        ],
    },
    Feature {
        name: "harm_terms",
        weight: 1.0,
        patterns: &[
            r"\b(?:illegal|unethical|immoral|harmful|offensive|explicit|nsfw|malicious|dangerous|violent|racist|hateful|obscene|inappropriate)\b.{0,160}?\b(?:illegal|unethical|immoral|harmful|offensive|explicit|nsfw|malicious|dangerous|violent|racist|hateful|obscene|inappropriate)\b",
        ],
    },
    Feature {
        name: "meta_discussion",
        weight: -2.0,
        patterns: &[
            r"\b(?:prompt\s+injections?|injection\s+attacks?|jailbreak(?:s|ing)?\s+(?:attacks?|attempts?|techniques?|prompts?)|red[- ]team\w*)\b",
            r"\b(?:detect|prevent|mitigat|defend\s+against|protect\s+against|guard\s+against|classif|recogni[sz])\w*\s+(?:\w+\s+){0,3}?(?:prompts?|injections?|jailbreaks?|attacks?|malicious)\b",
            r"\bhow\s+(?:do|does|can|could|would|should|to)\s+(?:i\s+|we\s+|you\s+|attackers?\s+|someone\s+|an?\s+attacker\s+)?(?:detect|prevent|protect|defend|mitigate|block|stop|guard|test|evaluate)\b",
            r"\b(?:examples?)\s+of\s+(?:a\s+)?(?:prompt|injection|jailbreak|attack)",
            r"\b(?:the|this|a|our)\s+(?:paper|study|research|article|blog\s+post|talk|thesis|survey|advisory)\b",
            r#"\b(?:phrases?|strings?|inputs?|messages?)\s+(?:like|such\s+as)\s+["'“]"#,
        ],
    },
];

/// Features matched case-sensitively against the canonical text (not the lowercase views).
pub(crate) static CASED_FEATURES: &[Feature] = &[Feature {
    name: "dan_mention",
    weight: 2.0,
    patterns: &[r"\bDAN\b"],
}];

/// Extra weight when instructions turn up only inside a decoded payload.
pub(crate) const ENCODED_PAYLOAD: f32 = 1.5;
/// Interaction: data is to be sent somewhere external *and* it is sensitive.
pub(crate) const EXFIL_COMBO: f32 = 1.5;
/// Interaction: a tool is to be called *and* a URL or address is named.
pub(crate) const TOOL_TARGET_COMBO: f32 = 1.5;
