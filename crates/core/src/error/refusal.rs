//! What a store's refusal of the credentials or of the region means, and
//! what fixes it, in words for [`Error`](super::Error)'s messages.

/// The S3 error codes that refuse the credentials themselves.
pub(crate) const CREDENTIAL_CODES: [&str; 5] = [
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
];

/// What refusal `code` (one of [`CREDENTIAL_CODES`]) means.
pub(super) fn hint(code: &str) -> &'static str {
    match code {
        "SignatureDoesNotMatch" => {
            "access denied: the signature does not match, so the secret access key is not the \
             one that belongs to the access key id; fix the secret where the credentials come from"
        }
        "InvalidAccessKeyId" => {
            "access denied: the store knows no such access key id; check the key, and the \
             endpoint and account it belongs to"
        }
        "ExpiredToken" | "TokenRefreshRequired" => {
            "access denied: the session token has expired; sign in again (e.g. `aws sso login`)"
        }
        _ => "access denied: the session token is not valid for these keys",
    }
}

/// What a redirect to another region means, and how to set the region.
pub(super) fn region_hint(region: &str, bucket_region: Option<&str>) -> String {
    let fix = "set AWS_REGION, the profile's `region`, `--region` on the command line, or \
               ObjectStoreRemoteBuilder::with_region";
    match bucket_region {
        Some(bucket) => format!(
            "the bucket is in region {bucket}, not {region} (S3 redirected the request; \
             x-amz-bucket-region: {bucket}): {fix} to {bucket}"
        ),
        None => format!(
            "the bucket is not in region {region} (S3 redirected the request without naming \
             the bucket's region): {fix} to the bucket's region"
        ),
    }
}
