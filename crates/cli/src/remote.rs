//! Remotes from URLs and the `--endpoint`, `--profile` and `--region` flags, and the local paths named
//! for them.

use std::path::PathBuf;

use s3sqlite_core::ObjectStoreRemote;

use crate::error::Error;

/// The store flags every command takes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StoreFlags<'a> {
    /// `--endpoint`.
    pub(crate) endpoint: Option<&'a str>,
    /// `--profile`.
    pub(crate) profile: Option<&'a str>,
    /// `--region`.
    pub(crate) region: Option<&'a str>,
}

/// The remote at `url`, with the store `flags` given: an `http://`
/// endpoint allows plain HTTP.
pub(crate) fn open(url: &str, flags: &StoreFlags<'_>) -> Result<ObjectStoreRemote, Error> {
    let mut builder = ObjectStoreRemote::builder(url);
    if let Some(endpoint) = flags.endpoint {
        builder = builder.with_endpoint(endpoint);
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
    }
    if let Some(region) = flags.region {
        builder = builder.with_region(region);
    }
    if let Some(profile) = flags.profile {
        #[cfg(feature = "aws-config")]
        {
            builder = builder.with_profile(profile);
        }
        #[cfg(not(feature = "aws-config"))]
        return Err(Error::NoProfiles {
            profile: profile.to_owned(),
        });
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
