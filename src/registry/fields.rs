//! Field values parsed once, at the edge: a value of these types is valid by
//! construction, so the rules live here and nowhere else. Create and update
//! hold the same types, and so share the rules. Each `parse` says what is
//! wrong in a sentence fragment for a `BadRequest` field violation.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::registry::servers::model::{HeaderInput, HeaderInputValue, MASK};
use crate::registry::servers::validate::{self, UrlPolicy};

/// Checks `[a-z0-9][a-z0-9_-]*` of at most `max` bytes.
fn slug(value: &str, max: usize) -> Result<(), String> {
    let Some(&first) = value.as_bytes().first() else {
        return Err("is required".into());
    };
    if value.len() > max {
        return Err(format!("must be at most {max} characters"));
    }
    let first_ok = first.is_ascii_lowercase() || first.is_ascii_digit();
    let rest_ok = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(
            "must match [a-z0-9][a-z0-9_-]* (lower-case ASCII letters, digits, '_' and '-', \
             starting with a letter or digit)"
                .into(),
        )
    }
}

/// Checks free text of at most `max` characters without control characters
/// other than newlines and tabs.
fn text(value: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks `[A-Za-z0-9][A-Za-z0-9_-]*` of at most 64 bytes: a secret's name
/// (usable as an environment variable's) or the name of one of its values.
fn secret_word(value: &str) -> Result<(), String> {
    let Some(&first) = value.as_bytes().first() else {
        return Err("is required".into());
    };
    if value.len() > 64 {
        return Err("must be at most 64 characters".into());
    }
    let rest_ok = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if first.is_ascii_alphanumeric() && rest_ok {
        Ok(())
    } else {
        Err(
            "must match [A-Za-z0-9][A-Za-z0-9_-]* (ASCII letters, digits, '_' and '-', \
             starting with a letter or digit)"
                .into(),
        )
    }
}

/// Declares a string newtype with `as_str`, `into_inner`, `Display`.
macro_rules! string_value {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Returns the value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Returns the value as an owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Declares a [`string_value!`] holding a slug of at most 64 bytes.
macro_rules! slug_value {
    ($(#[$meta:meta])* $name:ident) => {
        string_value!($(#[$meta])* $name);

        impl $name {
            /// Longest value.
            pub const MAX_LEN: usize = 64;

            /// Parses a value: `[a-z0-9][a-z0-9_-]*`, at most [`Self::MAX_LEN`].
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                slug(&value, Self::MAX_LEN).map(|()| Self(value))
            }
        }
    };
}

slug_value!(
    /// A server's name, unique in its scope: `[a-z0-9][a-z0-9_-]{0,63}`.
    ServerName
);

impl ServerName {
    /// Returns `name-2`, `name-3`, …: the `n`th alternative to a taken name,
    /// within [`ServerName::MAX_LEN`].
    pub fn alternative(&self, n: u32) -> Self {
        let suffix = format!("-{n}");
        let keep = Self::MAX_LEN.saturating_sub(suffix.len());
        let base: String = self.0.chars().take(keep).collect();
        Self(format!("{}{suffix}", base.trim_end_matches('-')))
    }

    /// Derives a name from a display name (the rule McpServer.name
    /// documents): accents go (NFKD, combining marks dropped), a few Latin
    /// letters without a decomposition are spelt out, ASCII letters are
    /// lower-cased, other letters and digits are dropped, and each run of
    /// anything else becomes one `-`; no `-` at either end, at most
    /// [`ServerName::MAX_LEN`]. An error when nothing is left.
    pub fn from_display_name(display_name: &DisplayName) -> Result<Self, String> {
        use unicode_normalization::UnicodeNormalization;
        use unicode_normalization::char::is_combining_mark;

        let mut name = String::new();
        // Whether a separator came since the last kept character.
        let mut gap = false;
        let keep = |c: char, name: &mut String, gap: &mut bool| {
            if *gap && !name.is_empty() {
                name.push('-');
            }
            *gap = false;
            name.push(c.to_ascii_lowercase());
        };
        for c in display_name.as_str().nfkd() {
            if c.is_ascii_alphanumeric() {
                keep(c, &mut name, &mut gap);
            } else if let Some(spelt) = spelt_out(c) {
                spelt.chars().for_each(|c| keep(c, &mut name, &mut gap));
            } else if is_combining_mark(c) || c.is_alphanumeric() {
                // An accent, or a letter or digit of another script: dropped.
            } else {
                gap = true;
            }
        }
        let cut: String = name.chars().take(Self::MAX_LEN).collect();
        let name = cut.trim_end_matches('-');
        if name.is_empty() {
            return Err("has no letter or digit to derive a name from; set name".into());
        }
        Self::parse(name)
    }
}

/// The ASCII spelling of Latin letters that NFKD does not decompose.
fn spelt_out(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' | 'ð' | 'Ð' => "d",
        'þ' | 'Þ' => "th",
        'ı' => "i",
        _ => return None,
    })
}

slug_value!(
    /// A pack's name, unique in its organization: `[a-z0-9][a-z0-9_-]{0,63}`.
    PackName
);

string_value!(
    /// A server's category: empty, or `[a-z0-9][a-z0-9_-]{0,63}`.
    Category
);

impl Category {
    /// Longest category.
    pub const MAX_LEN: usize = 64;

    /// Parses a category; the empty string means none.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            return Ok(Self(value));
        }
        slug(&value, Self::MAX_LEN).map(|()| Self(value))
    }
}

/// Declares a [`string_value!`] holding free text of at most `$max`
/// characters without control characters other than newlines and tabs.
macro_rules! text_value {
    ($(#[$meta:meta])* $name:ident, $max:literal) => {
        string_value!($(#[$meta])* $name);

        impl $name {
            /// Most characters.
            pub const MAX_CHARS: usize = $max;

            /// Parses a value; the empty string means none.
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                text(&value, Self::MAX_CHARS).map(|()| Self(value))
            }
        }
    };
}

text_value!(
    /// A human-readable name: at most 200 characters, no control characters.
    DisplayName,
    200
);

text_value!(
    /// A description: at most 2000 characters, no control characters other
    /// than newlines and tabs.
    Description,
    2000
);

impl Description {
    /// Parses a description that must be given (packs).
    pub fn parse_required(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            return Err("is required".into());
        }
        Self::parse(value)
    }
}

text_value!(
    /// A pack's replacement for a tool's description: at most 4000
    /// characters, no control characters other than newlines and tabs; empty
    /// means the upstream's.
    ToolDescription,
    4000
);

string_value!(
    /// A pack's alias for a tool: a valid MCP tool name (the specification's
    /// rule: 1 to 128 characters of `A-Z a-z 0-9 _ - .`).
    ToolAlias
);

impl ToolAlias {
    /// Longest alias.
    pub const MAX_LEN: usize = 128;

    /// Parses an alias.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(
                "must be a valid MCP tool name: only ASCII letters, digits, '_', '-' and '.'"
                    .into(),
            );
        }
        Ok(Self(value))
    }
}

string_value!(
    /// An absolute `https` URL (plain `http` only under
    /// `--allow-insecure-upstreams`) with a host, without user info or
    /// fragment, of at most 2048 characters. Which addresses it may reach is
    /// decided when connecting (`sync::guard`), not here.
    UpstreamUrl
);

impl UpstreamUrl {
    /// Longest URL.
    pub const MAX_LEN: usize = 2048;

    /// Parses an upstream URL under `policy`.
    pub fn parse(value: impl Into<String>, policy: UrlPolicy) -> Result<Self, String> {
        let value = value.into();
        Self::check(&value, policy).map(|()| Self(value))
    }

    /// Parses an optional URL (icons): empty means none.
    pub fn parse_optional(
        value: impl Into<String>,
        policy: UrlPolicy,
    ) -> Result<Option<Self>, String> {
        let value = value.into();
        if value.is_empty() {
            return Ok(None);
        }
        Self::parse(value, policy).map(Some)
    }

    /// Checks a URL without keeping it (token endpoints inside credentials).
    pub fn check(value: &str, policy: UrlPolicy) -> Result<(), String> {
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if value.trim() != value || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace or control characters".into());
        }
        let url =
            url::Url::parse(value).map_err(|err| format!("is not an absolute URL ({err})"))?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_insecure => {}
            "http" => {
                return Err("must use https (plain http needs the service flag \
                            --allow-insecure-upstreams)"
                    .into());
            }
            other => return Err(format!("must use https, not {other:?}")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must have a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not contain credentials (user:password@); use auth_type and credentials"
                    .into(),
            );
        }
        if url.fragment().is_some() {
            return Err("must not contain a fragment (#...)".into());
        }
        Ok(())
    }
}

string_value!(
    /// A server's icon: the name of one of [`Icon::NAMES`], or an
    /// [`UpstreamUrl`] (the service never fetches it).
    Icon
);

impl Icon {
    /// The icon names clients are expected to ship (McpServer.icon_url).
    pub const NAMES: [&'static str; 22] = [
        "ai",
        "analytics",
        "calendar",
        "chat",
        "cloud",
        "code",
        "custom",
        "database",
        "development",
        "docs",
        "email",
        "files",
        "finance",
        "git",
        "mcp",
        "monitoring",
        "search",
        "security",
        "server",
        "terminal",
        "tools",
        "web",
    ];

    /// Parses an optional icon under `policy`: empty means none.
    pub fn parse_optional(
        value: impl Into<String>,
        policy: UrlPolicy,
    ) -> Result<Option<Self>, String> {
        let value = value.into();
        if value.is_empty() {
            return Ok(None);
        }
        if Self::NAMES.contains(&value.as_str()) {
            return Ok(Some(Self(value)));
        }
        if !value.contains(':') {
            return Err(format!(
                "must be an icon name ({}) or an absolute https URL",
                Self::NAMES.join(", ")
            ));
        }
        UpstreamUrl::parse(value, policy).map(|url| Some(Self(url.into_inner())))
    }
}

string_value!(
    /// The pack gateway's base URL as MCP clients reach it
    /// (`--gateway-public-url`): absolute `http` or `https` with a host,
    /// without user info, query or fragment, of at most 2048 characters, kept
    /// without a trailing `/`. A pack's endpoint is
    /// [`GatewayUrl::pack_endpoint`].
    GatewayUrl
);

impl GatewayUrl {
    /// Parses a base URL.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.len() > UpstreamUrl::MAX_LEN {
            return Err(format!(
                "must be at most {} characters",
                UpstreamUrl::MAX_LEN
            ));
        }
        let url =
            url::Url::parse(value).map_err(|err| format!("is not an absolute URL ({err})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("must use http or https, not {:?}", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must have a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials (user:password@)".into());
        }
        if url.query().is_some() {
            return Err("must not contain a query (?...)".into());
        }
        if url.fragment().is_some() {
            return Err("must not contain a fragment (#...)".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The URL of a gateway listening on `addr`: `http://<addr>`, with an
    /// unspecified address (`0.0.0.0`, `[::]`) read as the loopback address
    /// of its family, since a client cannot connect to it.
    pub fn listening_on(addr: std::net::SocketAddr) -> Self {
        let mut addr = addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr.ip() {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        Self(format!("http://{addr}"))
    }

    /// Returns the pack's endpoint: `<base>/mcp/packs/<pack id>`.
    pub fn pack_endpoint(&self, pack_id: &str) -> String {
        format!("{}/mcp/packs/{pack_id}", self.0)
    }
}

string_value!(
    /// A stored secret's name, unique in its organization:
    /// `[A-Za-z0-9][A-Za-z0-9_-]{0,63}` (an environment variable's name).
    SecretName
);

impl SecretName {
    /// Parses a name.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        secret_word(&value).map(|()| Self(value))
    }
}

/// The values of a stored secret: 1 to [`SecretValues::MAX`], each named
/// (`[A-Za-z0-9][A-Za-z0-9_-]{0,63}`, unique) and 1 to 8192 characters without
/// CR, LF or NUL. Plaintext: deliberately not `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValues(Vec<(String, String)>);

impl SecretValues {
    /// Most values per secret.
    pub const MAX: usize = 16;

    /// Parses `(name, value)` pairs; each problem comes with the index of
    /// its value (`None` for the list as a whole) and whether it is the
    /// name's (else the value's).
    pub fn parse(
        values: Vec<(String, String)>,
    ) -> Result<Self, Vec<(Option<usize>, bool, String)>> {
        let mut problems = Vec::new();
        if values.is_empty() {
            problems.push((None, false, "must hold at least one value".to_owned()));
        }
        if values.len() > Self::MAX {
            problems.push((
                None,
                false,
                format!("must hold at most {} values", Self::MAX),
            ));
        }
        let mut seen = HashSet::new();
        for (i, (name, value)) in values.iter().enumerate() {
            if let Err(err) = secret_word(name) {
                problems.push((Some(i), true, err));
            } else if !seen.insert(name.as_str()) {
                problems.push((Some(i), true, format!("{name:?} is given twice")));
            }
            if value.is_empty() {
                problems.push((Some(i), false, "is required".into()));
            } else if value.chars().count() > 8192 {
                problems.push((Some(i), false, "must be at most 8192 characters".into()));
            } else if value.contains(['\r', '\n', '\0']) {
                problems.push((Some(i), false, "must not contain CR, LF or NUL".into()));
            }
        }
        if problems.is_empty() {
            Ok(Self(values))
        } else {
            Err(problems)
        }
    }

    /// Returns the value names, in the given order.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|(name, _)| name.clone()).collect()
    }

    /// Returns the values by name.
    pub fn into_map(self) -> std::collections::BTreeMap<String, String> {
        self.0.into_iter().collect()
    }
}

/// A server's request headers as a caller sends them: at most
/// [`HeaderSet::MAX`], valid names and values, each name once (ignoring
/// case), in name order. On update a value may be the mask, meaning "keep
/// the stored value" ([`HeaderInputValue::KeepStored`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSet(Vec<HeaderInput>);

impl HeaderSet {
    /// Most headers per server.
    pub const MAX: usize = 50;

    /// Parses the headers of a create: the mask is refused.
    pub fn parse(headers: HashMap<String, String>) -> Result<Self, Vec<String>> {
        Self::parse_with(headers, false)
    }

    /// Parses the headers of an update: the mask keeps a stored value.
    pub fn parse_update(headers: HashMap<String, String>) -> Result<Self, Vec<String>> {
        Self::parse_with(headers, true)
    }

    fn parse_with(
        mut headers: HashMap<String, String>,
        allow_keep: bool,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if headers.len() > Self::MAX {
            problems.push(format!("must hold at most {} headers", Self::MAX));
        }
        let mut names: Vec<String> = headers.keys().cloned().collect();
        names.sort();
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let value = headers.remove(&name).unwrap_or_default();
            if let Err(err) = validate::header_name(&name) {
                problems.push(err);
                continue;
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                problems.push(format!(
                    "{name:?} is given twice (header names ignore case)"
                ));
                continue;
            }
            let value = if allow_keep && value == MASK {
                HeaderInputValue::KeepStored
            } else {
                if let Err(err) = validate::header_value(&name, &value) {
                    problems.push(err);
                    continue;
                }
                HeaderInputValue::Value(value)
            };
            out.push(HeaderInput {
                name,
                value,
                secret: false,
            });
        }
        if problems.is_empty() {
            Ok(Self(out))
        } else {
            Err(problems)
        }
    }

    /// Adds headers whose values are stored secrets' values: the names obey
    /// the rules of the other headers and may not repeat one of them.
    pub fn add_secret_refs(
        &mut self,
        refs: HashMap<String, crate::registry::secrets::SecretRef>,
    ) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.0.len() + refs.len() > Self::MAX {
            problems.push(format!("must hold at most {} headers", Self::MAX));
        }
        let mut seen: HashSet<String> =
            self.0.iter().map(|h| h.name.to_ascii_lowercase()).collect();
        let mut refs: Vec<_> = refs.into_iter().collect();
        refs.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, reference) in refs {
            if let Err(err) = validate::header_name(&name) {
                problems.push(err);
                continue;
            }
            if !seen.insert(name.to_ascii_lowercase()) {
                problems.push(format!(
                    "{name:?} is given twice (header names ignore case; a name is in \
                     request_headers or secret_request_headers, not both)"
                ));
                continue;
            }
            self.0.push(HeaderInput {
                name,
                value: HeaderInputValue::Secret(reference),
                secret: true,
            });
        }
        self.0.sort_by(|a, b| a.name.cmp(&b.name));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Returns the headers in name order.
    pub fn iter(&self) -> impl Iterator<Item = &HeaderInput> {
        self.0.iter()
    }

    /// Returns the headers.
    pub fn into_inner(self) -> Vec<HeaderInput> {
        self.0
    }

    /// Returns the (name, value) pairs of a create; masks (only possible in
    /// an update) are left out.
    pub fn into_values(self) -> Vec<(String, String)> {
        self.0
            .into_iter()
            .filter_map(|h| match h.value {
                HeaderInputValue::Value(value) => Some((h.name, value)),
                HeaderInputValue::KeepStored | HeaderInputValue::Secret(_) => None,
            })
            .collect()
    }

    /// Marks the headers named in `names` (ignoring case) as declared
    /// secret: they are sealed whatever their names.
    pub fn mark_secret(&mut self, names: &[String]) {
        for header in &mut self.0 {
            if names.iter().any(|n| n.eq_ignore_ascii_case(&header.name)) {
                header.secret = true;
            }
        }
    }

    /// Whether the header `name` is sealed when stored: its name is
    /// sensitive or it was declared secret.
    pub fn is_secret(&self, name: &str) -> bool {
        validate::is_sensitive_header(name)
            || self
                .0
                .iter()
                .any(|h| h.secret && h.name.eq_ignore_ascii_case(name))
    }
}

string_value!(
    /// A server's name in the official MCP Registry (a `server.json`'s
    /// `name`): reverse-DNS namespace, one `/`, then the name
    /// (`^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`), 3 to 200 characters.
    RegistryName
);

impl RegistryName {
    /// Shortest name.
    pub const MIN_LEN: usize = 3;
    /// Longest name.
    pub const MAX_LEN: usize = 200;

    /// Parses a registry name.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.len() < Self::MIN_LEN || value.len() > Self::MAX_LEN {
            return Err(format!(
                "must be {} to {} characters",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        let valid = value.split_once('/').is_some_and(|(namespace, name)| {
            !namespace.is_empty()
                && !name.is_empty()
                && namespace
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
        if valid {
            Ok(Self(value))
        } else {
            Err("must be a reverse-DNS namespace, one '/' and a name \
                 (^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$, e.g. io.github.user/weather)"
                .into())
        }
    }
}

string_value!(
    /// A `server.json`'s `version`: 1 to 255 characters without whitespace
    /// or control characters, and not a range (`^1.2.3`, `~1.2`, `>=1`, `1.x`,
    /// `1.*`) or `latest`.
    RegistryVersion
);

impl RegistryVersion {
    /// Longest version.
    pub const MAX_LEN: usize = 255;

    /// Parses a version.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace or control characters".into());
        }
        let range = value.starts_with(['^', '~', '>', '<', '='])
            || value.contains('*')
            || value.contains("||")
            || value
                .split(['.', '-', '+'])
                .any(|part| part.eq_ignore_ascii_case("x"));
        if range || value == "latest" {
            return Err(format!(
                "must be one specific version, not a range or \"latest\": {value:?}"
            ));
        }
        Ok(Self(value))
    }
}

string_value!(
    /// The end user a service key acts for (metadata `x-mcp-registry-subject`,
    /// and the `created_by_subject` filters): 1 to 128 printable characters,
    /// without whitespace at either end. Opaque to the registry: the relaying
    /// service chooses it (a user id, an email, ...).
    Subject
);

impl Subject {
    /// Longest subject, in characters.
    pub const MAX_LEN: usize = 128;

    /// Parses a subject from raw metadata bytes (which must be UTF-8).
    pub fn parse_bytes(value: &[u8]) -> Result<Self, String> {
        match std::str::from_utf8(value) {
            Ok(value) => Self::parse(value),
            Err(_) => Err("must be UTF-8 text".into()),
        }
    }

    /// Parses a subject.
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() {
            return Err("is required".into());
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if value.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
            return Err("must not start or end with whitespace".into());
        }
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_SLUGS: [&str; 8] = [
        "GitHub", "-lead", "_lead", "sp ace", "ünï", "gіthub", "a.b", "a/b",
    ];

    #[test]
    fn subjects_are_printable_trimmed_and_at_most_128_characters() {
        for ok in [
            "alice",
            "Alice Doe",
            "user:42",
            "ü@example.com",
            &"é".repeat(128),
        ] {
            assert!(Subject::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", " alice", "alice\t", "a\u{0}b", "a\nb", &"x".repeat(129)] {
            assert!(Subject::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Subject::parse_bytes(b"\xff").is_err());
    }

    #[test]
    fn registry_names_follow_the_schema_pattern() {
        for ok in ["io.github.user/weather", "com.example/a_b.c-d", "a/b"] {
            assert!(RegistryName::parse(ok).is_ok(), "{ok}");
        }
        let long = format!("a/{}", "b".repeat(199));
        for bad in [
            "",
            "ab",
            "weather",
            "a/b/c",
            "/x",
            "x/",
            "io.github/we ather",
            "ü.io/x",
            &long,
        ] {
            assert!(RegistryName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registry_versions_refuse_ranges() {
        for ok in ["1.0.2", "2.1.0-alpha", "2025.12.01", "v3"] {
            assert!(RegistryVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "^1.2.3", "~1.2", ">=1.0", "1.x", "1.*", "latest", "1 0"] {
            assert!(RegistryVersion::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_names_follow_the_slug_rule() {
        for ok in ["a", "github", "my-server_2", "0x", &"a".repeat(64)] {
            assert_eq!(
                ServerName::parse(ok).map(ServerName::into_inner),
                Ok(ok.into())
            );
        }
        for bad in BAD_SLUGS.into_iter().chain(["", &"a".repeat(65)]) {
            assert!(ServerName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_names_say_what_is_wrong() {
        assert_eq!(ServerName::parse(""), Err("is required".into()));
        assert_eq!(
            ServerName::parse("a".repeat(65)),
            Err("must be at most 64 characters".into())
        );
    }

    #[test]
    fn alternative_server_names_are_valid_names() {
        let name = ServerName::parse("search").map(|n| n.alternative(2));
        assert_eq!(name.map(ServerName::into_inner), Ok("search-2".into()));
        let long = ServerName::parse("a".repeat(64)).map(|n| n.alternative(12).into_inner());
        assert_eq!(long.map(|a| a.len()), Ok(64));
    }

    fn derived(display_name: &str) -> Result<String, String> {
        let display_name = DisplayName::parse(display_name)?;
        ServerName::from_display_name(&display_name).map(ServerName::into_inner)
    }

    #[test]
    fn names_derived_from_display_names_follow_the_documented_rule() {
        for (display_name, name) in [
            ("Everything MCP Server", "everything-mcp-server"),
            ("Café Straße", "cafe-strasse"),
            ("  GitHub (prod) -- v2!  ", "github-prod-v2"),
            ("snake_case and-dashes", "snake-case-and-dashes"),
            ("Ærø Łódź Þing", "aero-lodz-thing"),
            ("ＦＵＬＬ　ｗｉｄｔｈ ①", "full-width-1"),
            ("🚀 Rocket", "rocket"),
            ("北京 Search", "search"),
            ("Re\u{301}sume\u{301}", "resume"),
            ("a😀b", "a-b"),
        ] {
            assert_eq!(derived(display_name), Ok(name.into()), "{display_name:?}");
        }
    }

    #[test]
    fn derived_names_are_cut_to_the_longest_name_without_a_trailing_dash() {
        let long = format!("{} {}", "a".repeat(63), "b".repeat(10));
        assert_eq!(derived(&long), Ok("a".repeat(63)));
        let name = derived(&"x".repeat(200)).expect("derived");
        assert_eq!(name.len(), ServerName::MAX_LEN);
        assert!(ServerName::parse(name).is_ok());
    }

    #[test]
    fn a_display_name_without_letters_or_digits_derives_no_name() {
        for display_name in ["🚀✨", "---", "北京", " "] {
            let problem = derived(display_name).expect_err(display_name);
            assert!(problem.contains("set name"), "{problem}");
        }
    }

    #[test]
    fn icons_are_a_known_name_or_a_url() {
        let strict = UrlPolicy::default();
        for ok in ["search", "database", "https://cdn.example.com/i.png"] {
            let icon = Icon::parse_optional(ok, strict).map(|i| i.map(Icon::into_inner));
            assert_eq!(icon, Ok(Some(ok.to_owned())));
        }
        assert_eq!(Icon::parse_optional("", strict), Ok(None));
        for bad in [
            "Search",
            "rocket",
            "ftp://x.example.com/i.png",
            "http://x.example.com/i.png",
            "//x.example.com/i.png",
        ] {
            assert!(Icon::parse_optional(bad, strict).is_err(), "{bad}");
        }
        let problem = Icon::parse_optional("rocket", strict).expect_err("unknown name");
        assert!(problem.contains("database"), "{problem}");
    }

    #[test]
    fn pack_names_follow_the_slug_rule() {
        assert!(PackName::parse("tools-2").is_ok());
        for bad in BAD_SLUGS.into_iter().chain(["", &"a".repeat(65)]) {
            assert!(PackName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn categories_are_empty_or_a_slug() {
        assert!(Category::parse("").is_ok());
        assert!(Category::parse("dev-tools").is_ok());
        for bad in BAD_SLUGS.into_iter().chain([&*"a".repeat(65)]) {
            assert!(Category::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_count_characters_not_bytes() {
        assert!(DisplayName::parse("é".repeat(200)).is_ok());
        assert!(DisplayName::parse("é".repeat(201)).is_err());
        assert!(DisplayName::parse("").is_ok());
    }

    #[test]
    fn free_text_refuses_control_characters_but_newlines_and_tabs() {
        assert!(Description::parse("two\nlines\tand a tab").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
        assert!(DisplayName::parse("nul\0").is_err());
    }

    #[test]
    fn descriptions_are_at_most_2000_characters() {
        assert!(Description::parse("d".repeat(2000)).is_ok());
        assert!(Description::parse("d".repeat(2001)).is_err());
    }

    #[test]
    fn pack_descriptions_are_required() {
        assert_eq!(Description::parse_required(""), Err("is required".into()));
        assert!(Description::parse_required("x").is_ok());
        assert!(Description::parse_required("d".repeat(2001)).is_err());
    }

    #[test]
    fn upstream_urls_must_be_https_absolute_without_userinfo_or_fragment() {
        let strict = UrlPolicy::default();
        let lax = UrlPolicy {
            allow_insecure: true,
        };
        assert!(UpstreamUrl::parse("https://mcp.example.com/mcp", strict).is_ok());
        for bad in [
            "",
            "mcp.example.com",
            "/relative",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://x.example.com",
            "https://user:pw@x.example.com",
            "https://user@x.example.com",
            "https://x.example.com/#frag",
            " https://x.example.com",
            "https://x.example.com/a b",
        ] {
            assert!(UpstreamUrl::parse(bad, lax).is_err(), "{bad}");
        }
    }

    #[test]
    fn gateway_urls_are_http_bases_without_query_or_fragment() {
        let url = GatewayUrl::parse("https://MCP.example.com/registry/").expect("valid");
        assert_eq!(url.as_str(), "https://mcp.example.com/registry");
        assert_eq!(
            url.pack_endpoint("pack_1"),
            "https://mcp.example.com/registry/mcp/packs/pack_1"
        );
        let plain = GatewayUrl::parse("http://127.0.0.1:8080").expect("plain http is fine");
        assert_eq!(plain.as_str(), "http://127.0.0.1:8080");
        for bad in [
            "",
            "mcp.example.com",
            "/relative",
            "ftp://x.example.com",
            "https://user:pw@x.example.com",
            "https://x.example.com/?a=b",
            "https://x.example.com/#frag",
        ] {
            assert!(GatewayUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_gateway_on_every_interface_is_reached_on_loopback() {
        let url = |addr: &str| GatewayUrl::listening_on(addr.parse().expect("addr")).into_inner();
        assert_eq!(url("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(url("[::]:8080"), "http://[::1]:8080");
        assert_eq!(url("10.0.0.5:9000"), "http://10.0.0.5:9000");
    }

    #[test]
    fn plain_http_upstream_urls_need_the_insecure_policy() {
        let lax = UrlPolicy {
            allow_insecure: true,
        };
        assert!(UpstreamUrl::parse("http://127.0.0.1:8080/mcp", UrlPolicy::default()).is_err());
        assert!(UpstreamUrl::parse("http://127.0.0.1:8080/mcp", lax).is_ok());
    }

    #[test]
    fn upstream_urls_are_at_most_2048_characters() {
        let long = format!("https://x.example.com/{}", "a".repeat(2100));
        assert_eq!(
            UpstreamUrl::parse(long, UrlPolicy::default()),
            Err("must be at most 2048 characters".into())
        );
    }

    #[test]
    fn optional_urls_may_be_empty() {
        assert_eq!(
            UpstreamUrl::parse_optional("", UrlPolicy::default()),
            Ok(None)
        );
        assert!(UpstreamUrl::parse_optional("ftp://x", UrlPolicy::default()).is_err());
    }

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn header_sets_are_kept_in_name_order() {
        let set =
            HeaderSet::parse(headers(&[("X-B", "2"), ("X-A", "1")])).map(HeaderSet::into_values);
        assert_eq!(
            set,
            Ok(vec![("X-A".into(), "1".into()), ("X-B".into(), "2".into())])
        );
    }

    #[test]
    fn header_sets_refuse_a_name_given_twice_in_another_case() {
        let problems = HeaderSet::parse(headers(&[("X-A", "1"), ("x-a", "2")])).err();
        assert_eq!(problems.map(|p| p.len()), Some(1));
    }

    #[test]
    fn header_sets_hold_at_most_50_headers() {
        let many: HashMap<String, String> = (0..51)
            .map(|i| (format!("X-{i}"), "v".to_owned()))
            .collect();
        assert!(HeaderSet::parse(many).is_err());
    }

    #[test]
    fn the_mask_keeps_a_stored_header_only_on_update() {
        assert!(HeaderSet::parse(headers(&[("X-Key", MASK)])).is_err());
        let update =
            HeaderSet::parse_update(headers(&[("X-Key", MASK)])).map(HeaderSet::into_inner);
        let value = update
            .ok()
            .and_then(|h| h.into_iter().next())
            .map(|h| h.value);
        assert!(matches!(value, Some(HeaderInputValue::KeepStored)));
    }

    #[test]
    fn header_sets_report_every_bad_header() {
        let problems = HeaderSet::parse(headers(&[("Host", "x"), ("X-A", "a\r\nb")])).err();
        assert_eq!(problems.map(|p| p.len()), Some(2));
    }
}
