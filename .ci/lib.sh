# Sourced by the scripts in .ci/: one way to log, fail, mark a step and
# print the variables that reach a started server. A script sets LOG_NAME
# (the prefix of its messages) and, for `step`, T0 (its start, in SECONDS)
# before using them.

# log MESSAGE...: one line on stderr, prefixed with the script's name.
log() { printf '%s: %s\n' "${LOG_NAME:-ci}" "$*" >&2; }

# die MESSAGE...: log it as an error and exit 1.
die() {
    log "error: $*"
    exit 1
}

# step TITLE...: a heading on stderr with the seconds since T0.
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - ${T0:-0}))" "$*" >&2; }

# print_s3_exports ENDPOINT BUCKET ACCESS_KEY SECRET_KEY [NAME=VALUE...]:
# the `export` lines that `eval "$(...)"` runs to reach a server: its own
# variables, the test bucket, and the AWS_* variables that object_store and
# the aws CLI read.
print_s3_exports() {
    local endpoint=$1 bucket=$2 key=$3 secret=$4 var
    shift 4
    for var in "$@"; do
        echo "export $var"
    done
    echo "export S3SQLITE_TEST_BUCKET=$bucket"
    echo "export AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true"
}
