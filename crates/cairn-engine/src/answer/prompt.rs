//! Versioned prompt templates and context assembly within the token budget.
//!
//! Change a template → bump [`PROMPT_VERSION`]; every recorded answer carries it, so
//! answers (and their feedback) can be compared across template versions.

use super::{Source, Turn};
use cairn_models::{ChatMessage, Role};
use cairn_types::MessageRole;

/// The version of the templates below. `rag-v2`: sources are query-focused excerpts of
/// the retrieved chunks (`answer.compress`), not whole chunks.
pub const PROMPT_VERSION: &str = "rag-v2";

/// What the model must do with the sources.
pub(crate) const SYSTEM: &str = "You are Cairn, an assistant that answers questions about an \
organization's documents. Answer only from the numbered sources in the user's message. After \
each sentence, cite the sources that support it with their numbers in square brackets, like \
[1] or [2][3]. Quote identifiers, commands and settings exactly as the sources write them. If \
the sources do not contain the answer, reply exactly: I don't know based on the provided \
sources. Do not use outside knowledge. Be concise.";

/// The reply the model is told to give, and Cairn's own abstention text.
pub const ABSTAIN_TEXT: &str = "I don't know based on the provided sources.";

/// Rewrites a follow-up into a standalone question.
pub(crate) const CONDENSE: &str = "Given the conversation so far, rewrite the user's last \
question so it can be understood without the conversation: replace pronouns and references \
with what they refer to. Keep it one question. Reply with the question only.";

/// Summarizes older turns of a conversation.
pub(crate) const SUMMARIZE: &str = "Summarize this conversation in at most 5 short sentences, \
keeping the topics, names, identifiers and facts the user may refer back to.";

/// The heading line of one source: `[n] Title › Section › Subsection`.
pub(crate) fn source_heading(s: &Source) -> String {
    let mut line = format!("[{}] {}", s.n, s.title.trim());
    for h in &s.heading_path {
        if !h.trim().is_empty() && h.trim() != s.title.trim() {
            line.push_str(" › ");
            line.push_str(h.trim());
        }
    }
    line
}

/// What the prompt shows of a source: its excerpt, or all of its text.
pub(crate) fn prompt_text(s: &Source) -> &str {
    s.excerpt.as_deref().unwrap_or(&s.text)
}

/// The user message: the sources, then the question.
pub(crate) fn user_message(sources: &[Source], question: &str) -> String {
    let mut out = String::from("Sources:\n\n");
    for s in sources {
        out.push_str(&source_heading(s));
        out.push('\n');
        out.push_str(prompt_text(s).trim());
        out.push_str("\n\n");
    }
    out.push_str("Question: ");
    out.push_str(question.trim());
    out
}

/// The chat: system (with an assistant's instructions), the conversation summary and
/// recent turns, then sources + question.
pub(crate) fn messages(
    instructions: Option<&str>,
    summary: &str,
    history: &[Turn],
    sources: &[Source],
    question: &str,
) -> Vec<ChatMessage> {
    let mut system = SYSTEM.to_owned();
    if let Some(extra) = instructions.map(str::trim).filter(|i| !i.is_empty()) {
        system.push_str(
            "\n\nInstructions for this assistant (the rules above still apply, and win \
             where they disagree): ",
        );
        system.push_str(extra);
    }
    if !summary.trim().is_empty() {
        system.push_str("\n\nEarlier in this conversation: ");
        system.push_str(summary.trim());
    }
    let mut out = vec![ChatMessage::new(Role::System, system)];
    for t in history {
        let role = match t.role {
            MessageRole::User => Role::User,
            MessageRole::Assistant => Role::Assistant,
        };
        out.push(ChatMessage::new(role, t.content.clone()));
    }
    out.push(ChatMessage::new(
        Role::User,
        user_message(sources, question),
    ));
    out
}

/// The history as plain text (for the condense and summarize prompts).
pub(crate) fn transcript(summary: &str, history: &[Turn]) -> String {
    let mut out = String::new();
    if !summary.trim().is_empty() {
        out.push_str("Summary of earlier turns: ");
        out.push_str(summary.trim());
        out.push('\n');
    }
    for t in history {
        out.push_str(match t.role {
            MessageRole::User => "User: ",
            MessageRole::Assistant => "Assistant: ",
        });
        out.push_str(t.content.trim());
        out.push('\n');
    }
    out
}

/// Keeps the best sources whose prompt text fits `budget` tokens (counted by `count`).
/// A source that alone exceeds what is left has its excerpt cut at a line or word
/// boundary to fit, so the strongest evidence is never dropped for being long.
pub(crate) fn fit_sources(
    mut sources: Vec<Source>,
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<Source> {
    let mut left = budget;
    let mut kept = Vec::new();
    for mut s in sources.drain(..) {
        let head = count(&source_heading(&s)) + 4;
        if left <= head + 16 {
            break;
        }
        let text = prompt_text(&s).to_owned();
        let need = count(&text);
        if need + head <= left {
            left -= need + head;
            kept.push(s);
            continue;
        }
        // Cut to the share of characters that fits, then back to a boundary.
        let room = left - head;
        let keep_chars = text.len() * room / need.max(1);
        let mut cut = floor_boundary(&text, keep_chars);
        while cut > 0 && count(&text[..cut]) > room {
            cut = floor_boundary(&text, cut * 9 / 10);
        }
        if cut == 0 {
            break;
        }
        s.excerpt = Some(format!("{} …", &text[..cut]));
        kept.push(s);
        break;
    }
    for (i, s) in kept.iter_mut().enumerate() {
        s.n = i + 1;
    }
    kept
}

/// The largest char boundary ≤ `at` that ends a line or a word, if there is one.
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    let head = &text[..at];
    head.rfind('\n')
        .filter(|&i| i > at / 2)
        .or_else(|| head.rfind(char::is_whitespace))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_source as src;

    fn words(s: &str) -> usize {
        s.split_whitespace().count()
    }

    #[test]
    fn sources_are_numbered_and_headed_with_their_sections() {
        let m = user_message(
            &[src(1, "VACUUM reclaims storage.")],
            "what does vacuum do?",
        );
        assert!(m.starts_with("Sources:\n\n[1] VACUUM › Notes\nVACUUM reclaims storage."));
        assert!(m.ends_with("Question: what does vacuum do?"));
    }

    #[test]
    fn the_budget_keeps_the_best_sources_and_cuts_the_last_at_a_word() {
        let long = "word ".repeat(200);
        let kept = fit_sources(
            vec![src(7, "short one"), src(8, &long), src(9, "never")],
            100,
            &words,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].n, 1);
        assert_eq!(kept[1].n, 2);
        assert!(prompt_text(&kept[1]).ends_with(" …"));
        assert_eq!(kept[1].text, long, "the stored text stays whole");
        let total: usize = kept
            .iter()
            .map(|s| words(prompt_text(s)) + words(&source_heading(s)) + 4)
            .sum();
        assert!(total <= 101, "{total}");
    }

    #[test]
    fn history_and_summary_go_before_the_question() {
        let h = vec![
            Turn {
                role: MessageRole::User,
                content: "what is vacuum?".into(),
            },
            Turn {
                role: MessageRole::Assistant,
                content: "It reclaims storage [1].".into(),
            },
        ];
        let msgs = messages(None, "talked about tables", &h, &[src(1, "x")], "and full?");
        assert_eq!(msgs.len(), 4);
        assert!(msgs[0].content.contains("talked about tables"));
        assert!(!msgs[0].content.contains("Instructions for this assistant"));
        assert_eq!(msgs[2].role, Role::Assistant);
        assert!(msgs[3].content.ends_with("Question: and full?"));
    }

    #[test]
    fn an_assistants_instructions_follow_the_grounding_rules_in_the_system_message() {
        let msgs = messages(Some("  Answer in French. "), "", &[], &[src(1, "x")], "q?");
        let system = &msgs[0].content;
        assert!(system.starts_with(SYSTEM), "the rules come first");
        assert!(system.ends_with("Answer in French."), "{system}");
        assert!(system.contains("the rules above still apply"));
        let blank = messages(Some(" "), "", &[], &[src(1, "x")], "q?");
        assert_eq!(blank[0].content, SYSTEM);
    }
}
