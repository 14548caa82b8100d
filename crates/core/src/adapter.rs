//! What the two adapter crates share, written once as macros they expand in
//! their own types: the replica setters of their builders, and the error
//! variants that wrap this crate's errors and their driver's. Hidden from
//! the docs: they follow the adapters, not semver.

/// The setters of an adapter's builder that fill the [`ReplicaOptions`]
/// held in its field `$field`, with their docs.
///
/// [`ReplicaOptions`]: crate::ReplicaOptions
#[doc(hidden)]
#[macro_export]
macro_rules! __replica_setters {
    ($field:ident) => {
        /// Sets where the local copy lives.
        ///
        /// By default, a path under the system temp folder derived from the
        /// URL (see
        /// [`ReplicaOptions::with_local_path`](s3sqlite_core::ReplicaOptions::with_local_path)).
        pub fn with_local_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.$field = self.$field.with_local_path(path);
            self
        }

        /// Sets the policy for a remote that changed while the local copy did.
        ///
        /// By default, [`FailOnConflict`](s3sqlite_core::FailOnConflict): the
        /// sync or close fails with a conflict and nothing changes.
        pub fn with_policy(mut self, policy: impl $crate::SyncPolicy) -> Self {
            self.$field = self.$field.with_policy(policy);
            self
        }

        /// `true` makes the local copy win conflicts
        /// ([`Overwrite`](s3sqlite_core::Overwrite)), the original package's
        /// `ignore_conflicts=True`; `false` restores the default policy.
        ///
        /// By default, `false`.
        pub fn with_ignore_conflicts(self, ignore: bool) -> Self {
            if ignore {
                self.with_policy($crate::Overwrite)
            } else {
                self.with_policy($crate::FailOnConflict)
            }
        }

        /// Sets whether a sync of a large database may send only the 8 MiB
        /// parts its changes touch, the store copying the rest (see
        /// [`IncrementalUpload`](s3sqlite_core::IncrementalUpload)).
        ///
        /// By default, what `S3SQLITE_INCREMENTAL_UPLOAD` says, else
        /// [`Auto`](s3sqlite_core::IncrementalUpload::Auto): on Amazon S3
        /// only.
        pub fn with_incremental_upload(mut self, incremental: $crate::IncrementalUpload) -> Self {
            self.$field = self.$field.with_incremental_upload(incremental);
            self
        }

        /// Sets whether the database is only read: connections are opened
        /// with `PRAGMA query_only`, so a writing statement fails, and
        /// nothing is ever uploaded, so the credentials need no write
        /// permission (see
        /// [`ReplicaOptions::with_read_only`](s3sqlite_core::ReplicaOptions::with_read_only)).
        ///
        /// By default, off.
        pub fn with_read_only(mut self, read_only: bool) -> Self {
            self.$field = self.$field.with_read_only(read_only);
            self
        }

        /// Opens the version `id` of the database (a version id of a
        /// bucket with versioning, as `s3sqlite log` lists them) instead of
        /// the current one, read-only, verified against its stamp (see
        /// [`ReplicaOptions::with_version`](s3sqlite_core::ReplicaOptions::with_version)).
        ///
        /// By default, the current version.
        pub fn with_version(mut self, id: impl Into<String>) -> Self {
            self.$field = self.$field.with_version(id);
            self
        }

        /// Sets every replica option at once (local path, policy, transfer
        /// sizes…), replacing what the other setters set.
        pub fn with_replica_options(mut self, options: $crate::ReplicaOptions) -> Self {
            self.$field = options;
            self
        }
    };
}

/// An adapter's error enum: `Sync`, wrapping this crate's errors, and
/// `Database`, wrapping the driver's error type `$source` (named `$driver`
/// in the docs) for an operation of the adapter's `$what`, then the
/// adapter's own variants; and the methods that read the `Sync` variant.
///
/// The caller writes the `transparent` of `Sync`'s `#[error(transparent)]`:
/// thiserror names the field it forwards to after that keyword, and the
/// name must carry the caller's hygiene to resolve.
///
/// ```text
/// s3sqlite_core::__adapter_error! {
///     /// What can go wrong with a pool.
///     #[derive(Debug, thiserror::Error)]
///     #[non_exhaustive]
///     pub enum Error for "pool", "sqlx": sqlx::Error, transparent {
///         /// Its own variants.
///     }
/// }
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __adapter_error {
    (
        $(#[$attr:meta])*
        pub enum $name:ident for $what:literal, $driver:literal: $source:ty, $transparent:ident {
            $($variants:tt)*
        }
    ) => {
        $(#[$attr])*
        pub enum $name {
            /// Opening, pulling or pushing the replica failed: a conflict, a
            /// network error, a bad URL… (see [`s3sqlite_core::Error`]).
            #[error($transparent)]
            Sync(#[from] $crate::Error),

            #[doc = concat!("A database operation of the ", $what, "'s own failed.")]
            #[error("could not {op} {path}")]
            Database {
                /// What was being done, e.g. "checkpoint".
                op: &'static str,
                /// The local database file.
                path: std::path::PathBuf,
                #[doc = concat!($driver, "'s error.")]
                source: $source,
            },

            $($variants)*
        }

        impl $name {
            /// Whether this is a sync conflict: the remote moved while the
            /// local copy had changes of its own.
            pub fn is_conflict(&self) -> bool {
                matches!(self, $name::Sync($crate::Error::Conflict { .. }))
            }

            #[doc = concat!(
                "Whether the ", $what, "'s own policy dropped the local changes for the \
                 remote's copy ([`s3sqlite_core::Error::LocalDiscarded`]): the sync \
                 completed, and the open database now holds the remote's version."
            )]
            pub fn is_local_discarded(&self) -> bool {
                matches!(self, $name::Sync($crate::Error::LocalDiscarded { .. }))
            }
        }
    };
}
