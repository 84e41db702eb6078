# Sourced by scripts/run and scripts/test, from the repository's root: installs only what
# changed since the last start, so that starting again costs nothing. The hash of what was
# installed is written only after a successful install, so a failed one is tried again.

# The SHA-256 of a file, with the system's Python (no sha256sum on every system), which
# need not wait for .venv.
_file_hash() {
    python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

# ensure_venv SPEC NAME: create .venv when missing, and `pip install -e SPEC` into it when
# pyproject.toml is new or changed since SPEC was installed (kept in .venv/.installed-NAME).
# pip's output goes to .venv/install.log and is shown only when it fails: setuptools'
# notes about editable installs look like errors and are not.
ensure_venv() {
    local spec=$1 stamp=.venv/.installed-$2 log=.venv/install.log hash
    [ -x .venv/bin/python ] || python3 -m venv .venv
    hash=$(_file_hash pyproject.toml)
    [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ] && return 0
    echo "installing $spec into .venv (pyproject.toml is new or changed)..." >&2
    rm -f "$stamp"
    # The pip that `venv` bundles with Python 3.11+ installs editable projects, so it is not
    # upgraded first. --no-compile: Python compiles the modules it imports on first use,
    # instead of pip compiling every file of every package up front.
    if ! .venv/bin/python -m pip install --disable-pip-version-check --no-compile -e "$spec" \
        >"$log" 2>&1; then
        cat "$log" >&2
        echo "installing $spec failed (pip's output above, also in $log)" >&2
        return 1
    fi
    echo "$hash" >"$stamp"
}

# ensure_node_packages DIR: `npm ci` in DIR when its package-lock.json is new or changed.
ensure_node_packages() {
    local stamp=$1/node_modules/.installed hash
    hash=$(_file_hash "$1/package-lock.json")
    [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ] && return 0
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$hash" >"$stamp"
}
