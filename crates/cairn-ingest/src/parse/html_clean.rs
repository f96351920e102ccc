//! HTML boilerplate removal: which elements the walk skips, decided once per page.
//!
//! Removed: script/style/noscript/template/svg/form/nav/footer/aside and similar elements;
//! `header` outside `article`/`main`; hidden elements (`hidden`, `aria-hidden`,
//! `display:none`); elements with role navigation/banner/contentinfo/search; elements
//! whose class or id names navigation (see [`nav_token`]: `navheader`, `toc`,
//! `table-of-contents`, `breadcrumb`... but not `header-anchor` or `table-contents`);
//! elements whose class or id names page chrome (`header`, `site-footer`, `sidebar`)
//! unless they wrap at least half of the page's text (old sites wrap whole pages in
//! `div#header`); and, unless the page as a whole is mostly links (a table of
//! contents or a back-of-book index, which the quality report flags instead), link-dense
//! blocks: a div/table/list with at least 3 links whose text is ≥ 70 % link text.
//!
//! All passes are iterative (no recursion), so a pathologically deep tree cannot exhaust
//! the stack.

use std::collections::{HashMap, HashSet};

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Node};

/// Elements that never hold body text.
#[rustfmt::skip]
const DROPPED_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "form", "nav", "footer", "aside", "iframe",
    "object", "embed", "canvas", "button", "select", "input", "textarea", "dialog", "head",
    "title", "meta", "link", "annotation", "annotation-xml", "map", "audio", "video",
];

/// Navigation words that mark a class/id token when they start or end it.
#[rustfmt::skip]
const NAV_WORDS: &[&str] = &[
    "nav", "navbar", "navigation", "navheader", "navfooter", "navlinks", "breadcrumb",
    "breadcrumbs", "menu", "menubar", "toc", "skip", "skiplink", "skiplinks", "cookie", "cookies",
    "pagination", "pager",
];

/// Whole tokens that mark navigation.
const NAV_TOKENS: &[&str] = &[
    "table-of-contents",
    "tableofcontents",
    "share-buttons",
    "social-links",
];

/// Page-chrome words: sometimes misused for a wrapper around the whole page, so an
/// element they mark is removed only while it holds less than half the page's text.
const CHROME_WORDS: &[&str] = &["header", "footer", "sidebar", "masthead"];

/// Prefixes that make `header`/`footer` tokens page chrome (`site-header`...).
const CHROME_PREFIXES: &[&str] = &["site", "page", "global", "top", "bottom", "main"];

/// How surely a class or id token names boilerplate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NavToken {
    No,
    /// Page chrome (header, footer, sidebar): removed unless it wraps most of the page.
    Chrome,
    /// Navigation: always removed.
    Nav,
}

/// Classifies one class or id token (`navheader`, `toc`, `table-of-contents`,
/// `breadcrumb`, `site-footer`... but not `header-anchor`, `table-contents`).
pub(crate) fn nav_token(token: &str) -> NavToken {
    let t = token.to_ascii_lowercase();
    if NAV_TOKENS.contains(&t.as_str()) {
        return NavToken::Nav;
    }
    let parts: Vec<&str> = t.split(['-', '_']).filter(|p| !p.is_empty()).collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return NavToken::No;
    };
    if NAV_WORDS.contains(first) || NAV_WORDS.contains(last) {
        return NavToken::Nav;
    }
    let chrome = match parts.as_slice() {
        [one] => CHROME_WORDS.contains(one),
        [prefix, word] => CHROME_WORDS.contains(word) && CHROME_PREFIXES.contains(prefix),
        _ => false,
    };
    if chrome {
        NavToken::Chrome
    } else {
        NavToken::No
    }
}

/// What the element's own markup says about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    Remove,
    /// Page chrome by class/id: removed unless it wraps most of the page.
    Chrome,
}

fn verdict(el: ElementRef<'_>) -> Verdict {
    let e = el.value();
    let tag = e.name();
    if DROPPED_TAGS.contains(&tag) {
        return Verdict::Remove;
    }
    if tag == "header"
        && !el
            .ancestors()
            .any(|a| is_element(a.value(), &["article", "main"]))
    {
        return Verdict::Remove;
    }
    if e.attr("hidden").is_some() || e.attr("aria-hidden") == Some("true") {
        return Verdict::Remove;
    }
    if let Some(style) = e.attr("style") {
        let style: String = style.chars().filter(|c| !c.is_whitespace()).collect();
        let style = style.to_ascii_lowercase();
        if style.contains("display:none") || style.contains("visibility:hidden") {
            return Verdict::Remove;
        }
    }
    if let Some(role) = e.attr("role") {
        let role = role.trim().to_ascii_lowercase();
        if [
            "navigation",
            "banner",
            "contentinfo",
            "search",
            "menu",
            "menubar",
        ]
        .contains(&role.as_str())
        {
            return Verdict::Remove;
        }
    }
    match e
        .classes()
        .chain(e.id())
        .map(nav_token)
        .max()
        .unwrap_or(NavToken::No)
    {
        NavToken::No => Verdict::Keep,
        NavToken::Nav => Verdict::Remove,
        NavToken::Chrome => Verdict::Chrome,
    }
}

fn is_element(node: &Node, names: &[&str]) -> bool {
    matches!(node, Node::Element(e) if names.contains(&e.name()))
}

/// Non-whitespace characters of text outside scripts and styles (iterative: no recursion
/// however deep the tree).
fn visible_chars(el: ElementRef<'_>) -> usize {
    el.descendants()
        .filter_map(|n| {
            let text = n.value().as_text()?;
            let parent = n.parent()?;
            (!is_element(
                parent.value(),
                &["script", "style", "noscript", "template", "title"],
            ))
            .then(|| text.chars().filter(|c| !c.is_whitespace()).count())
        })
        .sum()
}

/// Text and link measurements of a subtree (removed parts excluded, whitespace not counted).
#[derive(Default, Clone, Copy)]
struct LinkStats {
    chars: usize,
    link_chars: usize,
    links: usize,
}

/// Which elements of a page are boilerplate, decided once per page in iterative passes.
pub(crate) struct Cleaner {
    removed: HashSet<NodeId>,
}

impl Cleaner {
    pub(crate) fn new(body: ElementRef<'_>) -> Self {
        let page_chars = visible_chars(body);
        let mut removed = HashSet::new();
        let mut skip: Option<NodeId> = None;
        for edge in body.traverse() {
            match edge {
                Edge::Open(node) if skip.is_none() => {
                    let Some(el) = ElementRef::wrap(node) else {
                        continue;
                    };
                    let remove = match verdict(el) {
                        Verdict::Keep => false,
                        Verdict::Remove => true,
                        Verdict::Chrome => visible_chars(el) * 2 < page_chars,
                    };
                    if remove && node.id() != body.id() {
                        removed.insert(node.id());
                        skip = Some(node.id());
                    }
                }
                Edge::Close(node) if skip == Some(node.id()) => skip = None,
                _ => {}
            }
        }
        let mut cleaner = Self { removed };
        let stats = cleaner.link_stats(body);
        // On a page that is mostly links (a table of contents, a back-of-book index) keep
        // them: the quality report decides what to do with such pages.
        let page = stats.get(&body.id()).copied().unwrap_or_default();
        if page.link_chars * 2 < page.chars {
            for (id, s) in stats {
                if s.links >= 3 && s.link_chars * 10 >= s.chars * 7 {
                    cleaner.removed.insert(id);
                }
            }
        }
        cleaner
    }

    /// Whether the walk must skip this element and everything in it.
    pub(crate) fn removed(&self, el: ElementRef<'_>) -> bool {
        self.removed.contains(&el.id())
    }

    /// Link statistics of every link-density candidate container under `root`.
    fn link_stats(&self, root: ElementRef<'_>) -> HashMap<NodeId, LinkStats> {
        let mut out = HashMap::new();
        // Open elements: (id, is candidate, stats so far, inside a link).
        let mut stack: Vec<(NodeId, bool, LinkStats, bool)> = Vec::new();
        let mut skip: Option<NodeId> = None;
        for edge in root.traverse() {
            match edge {
                Edge::Open(node) => {
                    if skip.is_some() {
                        continue;
                    }
                    match node.value() {
                        Node::Element(e) => {
                            if self.removed.contains(&node.id()) {
                                skip = Some(node.id());
                                continue;
                            }
                            let in_link = stack.last().is_some_and(|f| f.3);
                            let is_link = e.name() == "a" && e.attr("href").is_some();
                            let mut stats = LinkStats::default();
                            if is_link && !in_link {
                                stats.links = 1;
                            }
                            let candidate =
                                LINK_DENSE_TAGS.contains(&e.name()) || node.id() == root.id();
                            stack.push((node.id(), candidate, stats, in_link || is_link));
                        }
                        Node::Text(t) => {
                            if let Some(frame) = stack.last_mut() {
                                let n = t.chars().filter(|c| !c.is_whitespace()).count();
                                frame.2.chars += n;
                                if frame.3 {
                                    frame.2.link_chars += n;
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Edge::Close(node) => {
                    if skip == Some(node.id()) {
                        skip = None;
                        continue;
                    }
                    if skip.is_some() || !node.value().is_element() {
                        continue;
                    }
                    let Some((id, candidate, stats, _)) = stack.pop() else {
                        continue;
                    };
                    if let Some(parent) = stack.last_mut() {
                        parent.2.chars += stats.chars;
                        parent.2.link_chars += stats.link_chars;
                        parent.2.links += stats.links;
                    }
                    if candidate {
                        out.insert(id, stats);
                    }
                }
            }
        }
        out
    }
}

/// Containers that are removed when their text is mostly links.
const LINK_DENSE_TAGS: &[&str] = &["div", "table", "ul", "ol", "dl", "section", "menu", "p"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nav_tokens() {
        for yes in [
            "navheader",
            "navfooter",
            "toc",
            "table-of-contents",
            "site-header",
            "nav-links",
            "breadcrumbs",
            "main_menu",
            "menu-left",
            "skip-link",
            "cookie-banner",
            "footer",
        ] {
            assert_ne!(nav_token(yes), NavToken::No, "{yes}");
        }
        for no in [
            "header-anchor",
            "table-contents",
            "titlepage",
            "sect1",
            "navigable-content2",
            "content",
            "card-header",
            "tocify-ish",
        ] {
            assert_eq!(nav_token(no), NavToken::No, "{no}");
        }
    }
}
