//! [`Encryption`]: server-side encryption of what an S3 remote writes.

/// Server-side encryption of the objects an S3 remote writes: the
/// database, its manifests, and the parts of an incremental upload. Set it
/// with [`ObjectStoreRemoteBuilder::with_encryption`](crate::ObjectStoreRemoteBuilder::with_encryption),
/// or in the environment as object_store reads it:
/// `AWS_SERVER_SIDE_ENCRYPTION` (`AES256` or `aws:kms`),
/// `AWS_SSE_KMS_KEY_ID`, `AWS_SSE_BUCKET_KEY_ENABLED`.
///
/// Reads need nothing: S3 decrypts for any caller allowed to read the
/// object (and, for SSE-KMS, to use the key: `kms:Decrypt`; writes need
/// `kms:GenerateDataKey`). A bucket with default encryption encrypts
/// without this; set it to choose the key, or to make sure.
///
/// ```
/// use s3sqlite_core::{Encryption, ObjectStoreRemote};
///
/// let remote = ObjectStoreRemote::builder("s3://my-bucket/app.db")
///     .with_region("eu-west-1")
///     .with_encryption(Encryption::Kms {
///         key_id: Some("arn:aws:kms:eu-west-1:111122223333:key/1234abcd".to_owned()),
///         bucket_key: true,
///     })
///     .build()?;
/// # let _ = remote;
/// # Ok::<(), s3sqlite_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encryption {
    /// SSE-S3: keys S3 manages (`x-amz-server-side-encryption: AES256`).
    S3,
    /// SSE-KMS (`aws:kms`): keys in AWS KMS.
    Kms {
        /// The key's id or ARN; `None`: the account's default key for S3
        /// (`aws/s3`).
        key_id: Option<String>,
        /// Whether S3 uses a bucket key, which cuts the requests to KMS
        /// (and their cost) for busy objects.
        bucket_key: bool,
    },
}

impl Encryption {
    /// The object_store settings (`AmazonS3ConfigKey` names) it stands for.
    pub(super) fn into_options(self) -> Vec<(&'static str, String)> {
        match self {
            Encryption::S3 => vec![("aws_server_side_encryption", "AES256".to_owned())],
            Encryption::Kms { key_id, bucket_key } => {
                let mut options = vec![("aws_server_side_encryption", "aws:kms".to_owned())];
                if let Some(key_id) = key_id {
                    options.push(("aws_sse_kms_key_id", key_id));
                }
                if bucket_key {
                    options.push(("aws_sse_bucket_key_enabled", "true".to_owned()));
                }
                options
            }
        }
    }
}
