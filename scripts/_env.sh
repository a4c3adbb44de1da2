# Shared by scripts/*: find Python 3.11+, create .venv, install when needed.
# Usage: source scripts/_env.sh; ensure_venv [dev]

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "replaydeck needs Python 3.11 or newer; none was found on PATH." >&2
    return 1
}

ensure_venv() {
    local extra="${1:-}"
    if [ ! -x "$VENV/bin/python" ]; then
        local python
        python="$(find_python)"
        echo "Creating $VENV with $("$python" --version)…"
        "$python" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp="$VENV/.installed-${extra:-runtime}"
    local digest
    digest="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        local target="$ROOT"
        [ -n "$extra" ] && target="$ROOT[$extra]"
        echo "Installing replaydeck${extra:+ with $extra extras} into .venv…"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
        echo "$digest" >"$stamp"
    fi
}
