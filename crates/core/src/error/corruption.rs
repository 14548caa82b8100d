//! [`Corruption`]: how a remote object differs from the database it
//! should be.

use std::fmt;

use crate::hash::ContentHash;

/// How a remote object differs from the database it should be; see
/// [`Error::Corrupt`](super::Error::Corrupt).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Corruption {
    /// The object is not the size its uploader's stamp announced: a torn
    /// upload that the store kept.
    SizeMismatch {
        /// The size the stamp announced.
        expected: u64,
        /// The object's size.
        actual: u64,
    },
    /// The bytes do not hash to the stamp's content hash.
    HashMismatch {
        /// The hash the stamp announced.
        expected: ContentHash,
        /// The hash of the bytes received.
        actual: ContentHash,
    },
    /// The object is shorter than a database header.
    ShortHeader {
        /// The object's size.
        actual: u64,
    },
    /// The header's page size times page count is not the object's size.
    HeaderSize {
        /// The page size the header gives.
        page_size: u32,
        /// The page count the header gives.
        page_count: u32,
        /// The object's size.
        actual: u64,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::SizeMismatch { expected, actual } => write!(
                f,
                "it holds {actual} bytes where its upload sent {expected} (a torn upload)"
            ),
            Corruption::HashMismatch { expected, actual } => write!(
                f,
                "its bytes hash to {actual} where its upload recorded {expected}"
            ),
            Corruption::ShortHeader { actual } => write!(
                f,
                "it holds {actual} bytes, fewer than a database header's 100"
            ),
            Corruption::HeaderSize {
                page_size,
                page_count,
                actual,
            } => write!(
                f,
                "its header says {page_count} pages of {page_size} bytes ({} bytes) and it holds {actual}",
                u64::from(*page_size) * u64::from(*page_count)
            ),
        }
    }
}
