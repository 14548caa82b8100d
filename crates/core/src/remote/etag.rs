//! [`EtagQuoting`]: how an entity tag is sent back in `If-Match`.

use std::fmt::{self, Display};
use std::str::FromStr;

/// The variable that sets [`EtagQuoting`] for remotes built from a URL,
/// when the builder does not: `auto`, `quoted` or `unquoted`.
pub const ETAG_QUOTING_VAR: &str = "S3SQLITE_ETAG_QUOTING";

/// How a conditional update sends the object's entity tag in `If-Match`.
///
/// Stores return the tag quoted (`"5d41…"`), and RFC 9110 and Amazon S3
/// expect it back that way. Ceph's RADOS Gateway (and stores built on it,
/// such as DigitalOcean Spaces) compare `If-Match` on PUT with the tag
/// *without* its quotes and refuse the quoted form with `412 Precondition
/// Failed` even when the tag is current.
///
/// In the default [`Auto`](Self::Auto) mode a remote sends the tag as the
/// store returned it; when a conditional update is refused and a HEAD then
/// shows the very tag that was sent, the store wants it unquoted: the remote
/// retries once without the quotes and, if that lands, sends every later
/// update of that remote unquoted. A store that follows the RFC never takes
/// that path, so it costs nothing there.
///
/// Set it with [`ObjectStoreRemoteBuilder::with_etag_quoting`](crate::ObjectStoreRemoteBuilder::with_etag_quoting)
/// or, for remotes built from a URL, the environment variable
/// `S3SQLITE_ETAG_QUOTING` ([`ETAG_QUOTING_VAR`]).
///
/// ```
/// use s3sqlite_core::EtagQuoting;
///
/// assert_eq!("unquoted".parse::<EtagQuoting>(), Ok(EtagQuoting::Unquoted));
/// assert_eq!(EtagQuoting::default(), EtagQuoting::Auto);
/// assert!("sometimes".parse::<EtagQuoting>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EtagQuoting {
    /// As returned by the store, learning the unquoted form from a refusal
    /// of the current tag (see above). The default.
    #[default]
    Auto,
    /// Always as returned by the store, never retried unquoted.
    Quoted,
    /// Always without quotes: for a store known to want them so.
    Unquoted,
}

impl EtagQuoting {
    /// The name `FromStr` accepts: `auto`, `quoted` or `unquoted`.
    pub fn name(self) -> &'static str {
        match self {
            EtagQuoting::Auto => "auto",
            EtagQuoting::Quoted => "quoted",
            EtagQuoting::Unquoted => "unquoted",
        }
    }
}

impl Display for EtagQuoting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value other than `auto`, `quoted` or `unquoted` given for
/// [`EtagQuoting`]; holds the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseEtagQuotingError(pub String);

impl Display for ParseEtagQuotingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown ETag quoting {:?}: expected auto, quoted or unquoted",
            self.0
        )
    }
}

impl std::error::Error for ParseEtagQuotingError {}

impl FromStr for EtagQuoting {
    type Err = ParseEtagQuotingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(EtagQuoting::Auto),
            "quoted" => Ok(EtagQuoting::Quoted),
            "unquoted" => Ok(EtagQuoting::Unquoted),
            _ => Err(ParseEtagQuotingError(s.to_owned())),
        }
    }
}

/// The tag without its surrounding quotes, or `None` when it is not a
/// quoted strong tag (a weak `W/"…"` tag is never sent in `If-Match`).
pub(crate) fn unquoted(tag: &str) -> Option<&str> {
    tag.strip_prefix('"')?.strip_suffix('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_exactly_one_pair_of_quotes() {
        assert_eq!(unquoted("\"abc\""), Some("abc"));
        assert_eq!(unquoted("abc"), None);
        assert_eq!(unquoted("\"abc"), None);
        assert_eq!(unquoted("W/\"abc\""), None);
        assert_eq!(unquoted("\"\""), Some(""));
    }

    #[test]
    fn parses_names_case_insensitively() {
        for mode in [
            EtagQuoting::Auto,
            EtagQuoting::Quoted,
            EtagQuoting::Unquoted,
        ] {
            assert_eq!(mode.name().parse::<EtagQuoting>(), Ok(mode));
            assert_eq!(mode.name().to_uppercase().parse::<EtagQuoting>(), Ok(mode));
        }
        let err = "yes".parse::<EtagQuoting>().unwrap_err();
        assert!(err.to_string().contains("\"yes\""), "{err}");
    }
}
