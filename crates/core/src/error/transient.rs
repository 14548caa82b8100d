//! Which errors a new attempt may not meet.

use super::Error;

impl Error {
    /// Whether the error is a transport failure that a new attempt may not
    /// meet: a connection reset or closed mid-request, a timeout. The engine
    /// tries such an upload or download again by itself (an upload that did
    /// land is recognised by its stamp); what reaches the caller had no
    /// success left to try for.
    pub fn is_transient(&self) -> bool {
        let Error::Remote { source, .. } = self else {
            return false;
        };
        let source: &(dyn std::error::Error + 'static) = source;
        let mut at = Some(source);
        while let Some(err) = at {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::TimedOut
                )
            {
                return true;
            }
            #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
            if let Some(http) = err.downcast_ref::<object_store::client::HttpError>() {
                use object_store::client::HttpErrorKind;
                if matches!(
                    http.kind(),
                    HttpErrorKind::Connect
                        | HttpErrorKind::Request
                        | HttpErrorKind::Timeout
                        | HttpErrorKind::Interrupted
                ) {
                    return true;
                }
            }
            at = err.source();
        }
        false
    }
}
