//! The text query language of SearchTools and the `query` filters of
//! ListMcpServers and ListPacks, and what a tool search asks and answers.
//!
//! A query is whitespace-separated terms, all of which must match: a word
//! (`jira`), a prefix (`iss*`), or a phrase in double quotes (`"create issue"`).
//! Text is split into tokens the way the indexes split it (migration 11): a
//! token is a maximal run of letters and digits, compared in lower case, so
//! `create_issue` is the phrase `create issue`. The caller's text never reaches
//! the database as an expression: [`TextQuery::fts5`] and
//! [`TextQuery::tsquery`] build one from the tokens alone.

use std::fmt;

use crate::registry::servers::ToolApproval;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 256;
/// Most terms in one query.
pub const MAX_TERMS: usize = 16;

/// One term: tokens that must appear next to each other, in order; the last
/// one may be a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    tokens: Vec<String>,
    prefix: bool,
}

/// A parsed, valid text query. Its `Display` spelling is canonical (the
/// tokens, lower case), so page tokens can be bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    terms: Vec<Term>,
}

/// Splits `text` into lower-case runs of letters and digits.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl TextQuery {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() > MAX_QUERY_CHARS {
            return Err(format!("must be at most {MAX_QUERY_CHARS} characters"));
        }
        let mut terms = Vec::new();
        let mut rest = text.trim_start();
        while !rest.is_empty() {
            let (term, after) = if let Some(quoted) = rest.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or("has a phrase without its closing double quote")?;
                let phrase = Term {
                    tokens: tokens(&quoted[..end]),
                    prefix: false,
                };
                (phrase, &quoted[end + 1..])
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                let word = &rest[..end];
                let term = Term {
                    tokens: tokens(word),
                    prefix: word.ends_with('*'),
                };
                (term, &rest[end..])
            };
            if !term.tokens.is_empty() {
                terms.push(term);
            }
            rest = after.trim_start();
        }
        if terms.is_empty() {
            return Err(
                "must hold at least one word of letters or digits (words, prefix*, \"a phrase\")"
                    .into(),
            );
        }
        if terms.len() > MAX_TERMS {
            return Err(format!("must have at most {MAX_TERMS} terms"));
        }
        Ok(Self { terms })
    }

    /// The query as an SQLite FTS5 expression: each term a quoted string (a
    /// phrase), `*` after a prefix, joined by `AND`. Tokens hold only letters
    /// and digits, so nothing in them is FTS5 syntax.
    pub fn fts5(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|term| {
                let phrase = term.tokens.join(" ").replace('"', "\"\"");
                let star = if term.prefix { " *" } else { "" };
                format!("\"{phrase}\"{star}")
            })
            .collect();
        terms.join(" AND ")
    }

    /// `text` as one FTS5 phrase of its tokens (`"org 0189ab"`), for values
    /// the service made (scopes), not for queries.
    pub fn phrase_fts5(text: &str) -> String {
        format!("\"{}\"", tokens(text).join(" ").replace('"', "\"\""))
    }

    /// The query as a PostgreSQL `tsquery` literal, to be cast with
    /// `::tsquery` (no parsing, no normalization): each token quoted,
    /// the tokens of a term joined by `<->`, a prefix marked `:*`, the terms
    /// joined by `&`.
    pub fn tsquery(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|term| {
                let last = term.tokens.len() - 1;
                let lexemes: Vec<String> = term
                    .tokens
                    .iter()
                    .enumerate()
                    .map(|(i, token)| {
                        let quoted = format!("'{}'", token.replace('\'', "''"));
                        if term.prefix && i == last {
                            format!("{quoted}:*")
                        } else {
                            quoted
                        }
                    })
                    .collect();
                format!("({})", lexemes.join(" <-> "))
            })
            .collect();
        terms.join(" & ")
    }
}

impl fmt::Display for TextQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "\"{}\"", term.tokens.join(" "))?;
            if term.prefix {
                f.write_str("*")?;
            }
        }
        Ok(())
    }
}

/// A tool search: the text and the filters. Its `Debug` spelling is
/// canonical, so page tokens can be bound to it.
#[derive(Debug, Clone)]
pub struct ToolSearch {
    pub query: TextQuery,
    /// Only tools of this server.
    pub server_id: Option<String>,
    /// Only tools of servers with exactly this category.
    pub category: Option<String>,
    /// Only tools in one of these approval states (as ListServerTools
    /// reports them); empty keeps every tool. Sorted, each once.
    pub approval: Vec<ToolApproval>,
    /// Only tools of this pack's current member servers.
    pub pack_id: Option<String>,
    /// Whether each hit lists the caller's packs holding its server.
    pub include_packs: bool,
}

/// The key of a hit in rank order: best score first (the bits of the
/// `f64`, to compare exactly), then server id, then tool name.
pub type HitKey = (u64, String, String);

/// One tool found.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolHit {
    pub server_id: String,
    pub server_name: String,
    pub tool_name: String,
    pub title: String,
    pub description: String,
    /// Relevance, higher is better; comparable within one search only.
    pub score: f64,
    /// The caller's packs whose current members include the server, when
    /// asked for.
    pub pack_ids: Vec<String>,
}

impl ToolHit {
    /// This hit's place in rank order, for page cursors.
    pub fn key(&self) -> HitKey {
        (
            self.score.to_bits(),
            self.server_id.clone(),
            self.tool_name.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_words_prefixes_and_phrases() {
        let q = TextQuery::parse(r#"  Jira iss* "Create_Issue now"  x-y "#).expect("valid");
        assert_eq!(q.to_string(), r#""jira" "iss"* "create issue now" "x y""#);
        assert_eq!(
            q.fts5(),
            r#""jira" AND "iss" * AND "create issue now" AND "x y""#
        );
        assert_eq!(
            q.tsquery(),
            "('jira') & ('iss':*) & ('create' <-> 'issue' <-> 'now') & ('x' <-> 'y')"
        );
    }

    #[test]
    fn syntax_in_the_text_stays_text() {
        let q = TextQuery::parse(r#"a' OR NEAR(b) c:* d&e !f"#).expect("valid");
        assert_eq!(
            q.tsquery(),
            "('a') & ('or') & ('near' <-> 'b') & ('c':*) & ('d' <-> 'e') & ('f')"
        );
        assert_eq!(
            q.fts5(),
            r#""a" AND "or" AND "near b" AND "c" * AND "d e" AND "f""#
        );
    }

    #[test]
    fn empty_unclosed_and_long_queries_are_refused() {
        for bad in ["", "   ", "*", "-- ..", "\"\"", "\"open"] {
            assert!(TextQuery::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TextQuery::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
        assert!(TextQuery::parse(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(TextQuery::parse(&many).is_err());
    }

    #[test]
    fn letters_of_any_script_are_tokens() {
        let q = TextQuery::parse("Éclair über_Straße").expect("valid");
        assert_eq!(q.to_string(), r#""éclair" "über straße""#);
    }
}
