//! What makes a file a whole SQLite database: the header checks, and the
//! verification of every download before it replaces anything.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Corruption, Error, Result};
use crate::hash::ContentHash;
use crate::version::{Downloaded, RemoteVersion};

/// The 16 bytes every SQLite database file starts with.
pub(crate) const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// The length of a SQLite database header.
pub(crate) const HEADER_LEN: usize = 100;

/// The header bytes SQLite rewrites without changing any data: the file
/// format versions that say rollback or WAL mode (18–19), the change counter
/// (24–27), the schema cookie (40–43, which the backup API bumps so that
/// open connections reread a schema that may have changed), the
/// version-valid-for number (92–95) and the version of the SQLite that last
/// wrote the file (96–99). Whoever compares headers this way compares every
/// byte after the header too.
pub(crate) fn is_bookkeeping(offset: usize) -> bool {
    matches!(offset, 18..20 | 24..28 | 40..44 | 92..100)
}

/// The first bytes of the file at `path`, up to a header's length.
pub(crate) fn read_header(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    file.take(HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(|e| Error::io("read", path, e))?;
    Ok(header)
}

/// Whether `header` (a file's first bytes) starts a database; an empty file
/// is one too, as SQLite treats it as an empty database.
fn is_sqlite(header: &[u8]) -> bool {
    header.is_empty() || header.starts_with(SQLITE_MAGIC)
}

/// Whether the file at `path` starts like a SQLite database.
pub(crate) fn has_sqlite_header(path: &Path) -> Result<bool> {
    Ok(is_sqlite(&read_header(path)?))
}

/// A local file about to be adopted or uploaded must be a database.
pub(crate) fn check_local_header(path: &Path) -> Result<()> {
    if has_sqlite_header(path)? {
        Ok(())
    } else {
        Err(Error::LocalNotSqlite {
            path: path.to_owned(),
        })
    }
}

/// What the header of a database of `len` bytes says against its size:
/// the page size times the in-header page count must be `len`, where that
/// count is valid (non-zero, and the change counter at offset 24 equal to
/// the version-valid-for number at offset 92, as SQLite requires; files
/// from SQLite before 3.7.0 lack it and pass on their first bytes alone).
fn check_header_size(header: &[u8], len: u64) -> Result<(), Corruption> {
    if len == 0 {
        return Ok(());
    }
    if header.len() < HEADER_LEN {
        return Err(Corruption::ShortHeader { actual: len });
    }
    let be32 = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536,
        n => u32::from(n),
    };
    let page_count = be32(28);
    let count_valid = page_count != 0 && be32(24) == be32(92);
    if count_valid && u64::from(page_size) * u64::from(page_count) != len {
        return Err(Corruption::HeaderSize {
            page_size,
            page_count,
            actual: len,
        });
    }
    Ok(())
}

/// Verifies the download of `version` of `url` into `path` before it goes
/// anywhere, and returns the hash of its bytes: the size the store reported;
/// the SQLite magic; for an object s3sqlite uploaded, the size and content
/// hash of its stamp; for one another tool wrote, the header's page size
/// times page count. The file is fsynced once it passes.
pub(crate) fn verify_download(
    url: &str,
    path: &Path,
    version: &RemoteVersion,
    downloaded: &Downloaded,
) -> Result<ContentHash> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io("read metadata of", path, e))?
        .len();
    if downloaded.size != version.size || len != version.size {
        return Err(Error::Truncated {
            url: url.to_owned(),
            expected: version.size,
            actual: downloaded.size.min(len),
        });
    }
    let corrupt = |problem| Error::Corrupt {
        url: url.to_owned(),
        problem,
    };
    let header = read_header(path)?;
    if !is_sqlite(&header) {
        return Err(Error::NotSqlite {
            url: url.to_owned(),
        });
    }
    if let Some(stamp) = &version.stamp
        && stamp.size != len
    {
        return Err(corrupt(Corruption::SizeMismatch {
            expected: stamp.size,
            actual: len,
        }));
    }
    let hash = match downloaded.hash {
        Some(hash) => hash,
        None => ContentHash::of_file(path)?,
    };
    match &version.stamp {
        Some(stamp) if stamp.content_hash != hash => {
            return Err(corrupt(Corruption::HashMismatch {
                expected: stamp.content_hash,
                actual: hash,
            }));
        }
        Some(_) => {}
        None => check_header_size(&header, len).map_err(corrupt)?,
    }
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync", path, e))?;
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(page_size: u16, pages: u32, counter: u32, valid_for: u32) -> Vec<u8> {
        let mut h = SQLITE_MAGIC.to_vec();
        h.resize(HEADER_LEN, 0);
        h[16..18].copy_from_slice(&page_size.to_be_bytes());
        h[24..28].copy_from_slice(&counter.to_be_bytes());
        h[28..32].copy_from_slice(&pages.to_be_bytes());
        h[92..96].copy_from_slice(&valid_for.to_be_bytes());
        h
    }

    #[test]
    fn header_size_must_match_when_the_count_is_valid() {
        assert_eq!(check_header_size(&header(4096, 3, 7, 7), 3 * 4096), Ok(()));
        assert_eq!(
            check_header_size(&header(4096, 3, 7, 7), 2 * 4096),
            Err(Corruption::HeaderSize {
                page_size: 4096,
                page_count: 3,
                actual: 2 * 4096
            })
        );
        assert_eq!(check_header_size(&header(1, 2, 1, 1), 2 * 65536), Ok(()));
    }

    #[test]
    fn an_invalid_count_is_not_checked() {
        assert_eq!(check_header_size(&header(4096, 3, 8, 7), 4096), Ok(()));
        assert_eq!(check_header_size(&header(4096, 0, 7, 7), 4096), Ok(()));
    }

    #[test]
    fn a_short_header_is_corrupt() {
        assert_eq!(
            check_header_size(SQLITE_MAGIC, 16),
            Err(Corruption::ShortHeader { actual: 16 })
        );
    }
}
