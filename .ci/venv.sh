# shellcheck shell=bash
# Python venvs for the servers that install from PyPI (.ci/s3-server's
# LocalStack and moto, .ci/gcs-server's fake-gcs-server). Sourced after
# lib.sh; the caller sets:
#   KIND       the venv's name: <TOOLS_DIR>/<KIND>-<sha256 prefix of REQ>
#   REQ        the pinned requirements file
#   MIN_PY     the least Python 3 minor version that will do
#   PY_PREF    the Python versions to look for first, e.g. "3.13 3.12"
#   TOOLS_DIR  where venvs live
# S3SQLITE_PYTHON, when set, is the interpreter to build the venv with.

curl_() { curl --noproxy '*' --silent --show-error --max-time 5 "$@"; }

# ---------------------------------------------------------------- python/venv

py_ok() { # py_ok INTERPRETER -> true if it is >= 3.$MIN_PY and has venv
    "$1" -c "import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, $MIN_PY) else 1)" \
        >/dev/null 2>&1
}

find_python() {
    local cand v root=""
    if [[ -n "${S3SQLITE_PYTHON:-}" ]]; then
        py_ok "$S3SQLITE_PYTHON" && { echo "$S3SQLITE_PYTHON"; return 0; }
        die "S3SQLITE_PYTHON=$S3SQLITE_PYTHON is not a usable Python >= 3.$MIN_PY with venv"
    fi
    if command -v pyenv >/dev/null 2>&1; then root="$(pyenv root 2>/dev/null || true)"; fi
    root="${root:-${PYENV_ROOT:-$HOME/.pyenv}}"
    for v in $PY_PREF; do
        # pyenv-installed versions, newest patch release first
        # shellcheck disable=SC2012  # pyenv version dirs are plain names
        for cand in $(ls -d "$root"/versions/"$v"*/bin/python3 2>/dev/null | sort -rV); do
            py_ok "$cand" && { echo "$cand"; return 0; }
        done
    done
    for v in $PY_PREF; do
        cand="$(command -v "python$v" 2>/dev/null || true)"
        [[ -n "$cand" ]] && py_ok "$cand" && { echo "$cand"; return 0; }
    done
    for cand in python3 python; do
        cand="$(command -v "$cand" 2>/dev/null || true)"
        [[ -n "$cand" ]] && py_ok "$cand" && { echo "$cand"; return 0; }
    done
    die "no Python >= 3.$MIN_PY (with venv/ensurepip) found for $KIND: looked in $root/versions/{$PY_PREF}*, python{$PY_PREF}, python3 on PATH. Install one (e.g. 'pyenv install 3.13') or set S3SQLITE_PYTHON."
}

ensure_venv() { # sets VENV
    [[ -f "$REQ" ]] || die "missing requirements file $REQ"
    local hash py attempt
    hash="$(sha256sum "$REQ" | cut -c1-16)"
    VENV="$TOOLS_DIR/$KIND-$hash"
    if [[ -x "$VENV/bin/python" && -f "$VENV/.s3sqlite-complete" ]] && "$VENV/bin/python" -c 'pass' 2>/dev/null; then
        return 0
    fi
    py="$(find_python)"
    log "installing $KIND into $VENV with $py ($("$py" --version 2>&1))"
    mkdir -p "$TOOLS_DIR"
    # drop stale venvs of this kind (other requirement hashes, failed attempts)
    rm -rf "$TOOLS_DIR/$KIND-"*
    local t0=$SECONDS
    for attempt in 1 2; do
        # Built in place (venv scripts embed their path); only a venv holding
        # the .s3sqlite-complete marker counts as installed.
        rm -rf "$VENV"
        if "$py" -m venv "$VENV" >&2 &&
            PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
                "$VENV/bin/python" -m pip install --quiet --no-input -r "$REQ" >&2; then
            touch "$VENV/.s3sqlite-complete"
            log "installed $KIND in $((SECONDS - t0)) s"
            return 0
        fi
        log "install attempt $attempt failed"
        rm -rf "$VENV"
        sleep 3
    done
    die "could not install $KIND from $REQ"
}
