//! [`ErrorChain`]: an error and its causes on one line.

use std::fmt;

/// An error and every cause under it, for a log line or a terminal where
/// nobody walks [`source`](std::error::Error::source): its `Display` is
/// `error; caused by: cause; caused by: …`, each message said once (a
/// cause whose text a message above it already holds is left out, as this
/// crate's messages end with their root cause).
///
/// ```
/// use s3sqlite_core::{ErrorChain, ObjectStoreRemote};
///
/// let err = ObjectStoreRemote::from_url("ftp://bucket/app.db").unwrap_err();
/// println!("{}", ErrorChain::new(&err));
/// assert_eq!(ErrorChain::new(&err).to_string(), err.to_string());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl<'a> ErrorChain<'a> {
    /// The chain of `err`.
    pub fn new(err: &'a (dyn std::error::Error + 'static)) -> Self {
        ErrorChain(err)
    }

    /// The messages of the causes under the error, outermost first, each
    /// said once.
    pub fn causes(&self) -> impl Iterator<Item = String> + 'a {
        let mut shown = vec![self.0.to_string()];
        let mut next = self.0.source();
        std::iter::from_fn(move || {
            while let Some(cause) = next {
                next = cause.source();
                let text = cause.to_string();
                if !shown.iter().any(|above| above.contains(&text)) {
                    shown.push(text.clone());
                    return Some(text);
                }
            }
            None
        })
    }
}

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        for cause in self.causes() {
            write!(f, "; caused by: {cause}")?;
        }
        Ok(())
    }
}
