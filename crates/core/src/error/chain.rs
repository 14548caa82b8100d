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

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    /// An error with a message and an optional source.
    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_chain_says_each_cause_once() {
        let root = Layer("connection refused", None);
        let middle = Layer("request failed", Some(Box::new(root)));
        let top = Layer(
            "could not push s3://b/k: connection refused",
            Some(Box::new(middle)),
        );
        let chain = ErrorChain::new(&top);
        assert_eq!(chain.causes().collect::<Vec<_>>(), ["request failed"]);
        assert_eq!(
            chain.to_string(),
            "could not push s3://b/k: connection refused; caused by: request failed"
        );
    }
}
