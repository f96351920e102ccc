//! HTML: boilerplate removal and the decisions about which elements are kept.
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
//! The tree walk that turns the rest into blocks is in `html_walk`.

use cairn_types::ParsedDoc;
use scraper::{ElementRef, Html, Node, Selector};

use super::html_walk::{Walker, flat_text};
use crate::Result;
use crate::normalize::normalize;

pub(crate) fn parse(bytes: &[u8], name: &str) -> Result<ParsedDoc> {
    let mut doc = ParsedDoc::default();
    let source = decode_html(bytes, name, &mut doc.warnings);
    let html = Html::parse_document(&source);
    let root = html.root_element();
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| html.select(&s).next())
        .map(|t| normalize(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    let body = Selector::parse("body").ok().and_then(|s| html.select(&s).next()).unwrap_or(root);
    let stats = LinkStats::of(body);
    // On a page that is mostly links, keep them: the quality report decides what to do.
    let prune_link_dense = stats.link_chars * 2 < stats.chars;
    let mut walker = Walker::new(prune_link_dense);
    walker.walk(body);
    walker.flush();
    doc.title = title.or(walker.first_h1.take());
    doc.link_chars = walker.link_chars;
    doc.blocks = walker.blocks;
    Ok(doc)
}

/// Decodes HTML bytes: BOM, else UTF-8, else the `charset` the page declares, else
/// windows-1252 (the web's default for undeclared legacy pages).
fn decode_html(bytes: &[u8], name: &str, warnings: &mut Vec<String>) -> String {
    if encoding_rs::Encoding::for_bom(bytes).is_some() {
        return super::decode_text(bytes, name, warnings);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    let declared = head.find("charset").and_then(|i| {
        let rest = head[i + 7..].trim_start().strip_prefix('=')?.trim_start();
        let rest = rest.trim_start_matches(['"', '\'']);
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))?;
        encoding_rs::Encoding::for_label(rest[..end].as_bytes())
    });
    let encoding = declared.unwrap_or(encoding_rs::WINDOWS_1252);
    let (text, _, had_errors) = encoding.decode(bytes);
    if had_errors || declared.is_none() {
        warnings.push(format!("{name}: not valid UTF-8; decoded as {}", encoding.name()));
    }
    text.into_owned()
}

/// Elements that never hold body text.
const DROPPED_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "form", "nav", "footer", "aside",
    "iframe", "object", "embed", "canvas", "button", "select", "input", "textarea", "dialog",
    "head", "title", "meta", "link", "annotation", "annotation-xml", "map", "audio", "video",
];

/// Navigation words that mark a class/id token when they start or end it.
const NAV_WORDS: &[&str] = &[
    "nav", "navbar", "navigation", "navheader", "navfooter", "navlinks", "breadcrumb",
    "breadcrumbs", "menu", "menubar", "toc", "skip", "skiplink", "skiplinks", "cookie",
    "cookies", "pagination", "pager",
];

/// Whole tokens that mark navigation.
const NAV_TOKENS: &[&str] =
    &["table-of-contents", "tableofcontents", "share-buttons", "social-links"];

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
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else { return NavToken::No };
    if NAV_WORDS.contains(first) || NAV_WORDS.contains(last) {
        return NavToken::Nav;
    }
    let chrome = match parts.as_slice() {
        [one] => CHROME_WORDS.contains(one),
        [prefix, word] => CHROME_WORDS.contains(word) && CHROME_PREFIXES.contains(prefix),
        _ => false,
    };
    if chrome { NavToken::Chrome } else { NavToken::No }
}


/// Whether an element (and everything in it) is boilerplate, regardless of its text.
pub(crate) fn is_boilerplate(el: ElementRef<'_>) -> bool {
    let e = el.value();
    let tag = e.name();
    if DROPPED_TAGS.contains(&tag) {
        return true;
    }
    if tag == "header" && !el.ancestors().any(|a| is_element(a.value(), &["article", "main"])) {
        return true;
    }
    if e.attr("hidden").is_some() || e.attr("aria-hidden") == Some("true") {
        return true;
    }
    if let Some(style) = e.attr("style") {
        let style: String = style.chars().filter(|c| !c.is_whitespace()).collect();
        let style = style.to_ascii_lowercase();
        if style.contains("display:none") || style.contains("visibility:hidden") {
            return true;
        }
    }
    if let Some(role) = e.attr("role") {
        let role = role.to_ascii_lowercase();
        if ["navigation", "banner", "contentinfo", "search", "menu", "menubar"]
            .contains(&role.trim())
        {
            return true;
        }
    }
    let token = e.classes().chain(e.id()).map(nav_token).max().unwrap_or(NavToken::No);
    match token {
        NavToken::No => false,
        NavToken::Nav => true,
        NavToken::Chrome => {
            let page = el.ancestors().filter_map(ElementRef::wrap).last().unwrap_or(el);
            visible_chars(el) * 2 < visible_chars(page)
        }
    }
}

/// Non-whitespace characters of text outside scripts, styles and the head.
fn visible_chars(el: ElementRef<'_>) -> usize {
    let mut n = 0;
    for child in el.children() {
        match child.value() {
            Node::Text(t) => n += t.chars().filter(|c| !c.is_whitespace()).count(),
            Node::Element(e)
                if !matches!(e.name(), "script" | "style" | "head" | "noscript" | "template") =>
            {
                n += ElementRef::wrap(child).map_or(0, visible_chars);
            }
            _ => {}
        }
    }
    n
}

fn is_element(node: &Node, names: &[&str]) -> bool {
    matches!(node, Node::Element(e) if names.contains(&e.name()))
}

/// Text and link measurements of a subtree (boilerplate excluded, whitespace not counted).
#[derive(Default, Clone, Copy)]
pub(crate) struct LinkStats {
    pub chars: usize,
    pub link_chars: usize,
    pub links: usize,
}

impl LinkStats {
    pub(crate) fn of(el: ElementRef<'_>) -> Self {
        let mut stats = Self::default();
        stats.add(el, false);
        stats
    }

    fn add(&mut self, el: ElementRef<'_>, in_link: bool) {
        for child in el.children() {
            match child.value() {
                Node::Text(t) => {
                    let n = t.chars().filter(|c| !c.is_whitespace()).count();
                    self.chars += n;
                    if in_link {
                        self.link_chars += n;
                    }
                }
                Node::Element(_) => {
                    let Some(child) = ElementRef::wrap(child) else { continue };
                    if is_boilerplate(child) {
                        continue;
                    }
                    let is_link = child.value().name() == "a" && child.value().attr("href").is_some();
                    if is_link && !in_link {
                        self.links += 1;
                    }
                    self.add(child, in_link || is_link);
                }
                _ => {}
            }
        }
    }
}

/// A container whose text is mostly links: ≥ 3 links and ≥ 70 % link text.
pub(crate) fn is_link_dense(el: ElementRef<'_>) -> bool {
    let tag = el.value().name();
    if !["div", "table", "ul", "ol", "dl", "section", "menu", "p", "span"].contains(&tag) {
        return false;
    }
    let s = LinkStats::of(el);
    s.links >= 3 && s.link_chars * 10 >= s.chars * 7
}

/// The normalized text of an element, with sup/sub marks and no boilerplate.
pub(crate) fn element_text(el: ElementRef<'_>) -> (String, usize) {
    let (text, links) = flat_text(el);
    (normalize(&text), links)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nav_tokens() {
        for yes in ["navheader", "navfooter", "toc", "table-of-contents", "site-header", "nav-links",
            "breadcrumbs", "main_menu", "menu-left", "skip-link", "cookie-banner", "footer"]
        {
            assert_ne!(nav_token(yes), NavToken::No, "{yes}");
        }
        for no in ["header-anchor", "table-contents", "titlepage", "sect1", "navigable-content2",
            "content", "card-header", "tocify-ish"]
        {
            assert_eq!(nav_token(no), NavToken::No, "{no}");
        }
    }

    #[test]
    fn legacy_charset() {
        let mut w = Vec::new();
        let page = b"<meta charset=\"iso-8859-1\"><p>caf\xe9</p>";
        assert!(decode_html(page, "p.html", &mut w).contains("caf\u{e9}"));
    }
}
