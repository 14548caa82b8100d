//! Remotes from URLs and the `--endpoint` flag, and the local paths named
//! for them.

use std::path::PathBuf;

use s3sqlite_core::ObjectStoreRemote;

use crate::error::Error;

/// The remote at `url`, through `endpoint` when one is given (an `http://`
/// endpoint allows plain HTTP).
pub(crate) fn open(url: &str, endpoint: Option<&str>) -> Result<ObjectStoreRemote, Error> {
    let mut builder = ObjectStoreRemote::builder(url);
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
    }
    Ok(builder.build()?)
}

/// The local path `pull` uses for `url` when none is given: the key's file
/// name, in the current folder.
pub(crate) fn local_path_for(url: &str) -> Result<PathBuf, Error> {
    let no_name = || Error::NoFileName {
        url: url.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|_| no_name())?;
    let name = parsed
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty() && *name != "." && *name != "..")
        .ok_or_else(no_name)?;
    Ok(PathBuf::from(name))
}
