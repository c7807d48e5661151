#!/usr/bin/env bash
# The benchmarks of an earlier commit and of this tree, side by side in one session.
#
#   scripts/bench-compare.sh BASE [BENCH...]
#
# BASE is any commit (`387040a`). A BENCH is a bench target's name (`ingest`, `steps`,
# `client`, `backlog`) or `crate:name` (`ghl-server:ingest`); by default every bench target
# that exists both at BASE and in this tree.
#
# 1. Builds the bench binaries of BASE in a git worktree of its own (BASE_DIR, default
#    /work/bench-base-<commit>, with its own target dir; kept and reused by later runs), and
#    those of this tree in its target dir. Release (bench profile) builds only.
# 2. Runs each bench alternately, this tree first: after, before, after, before, ... (ROUNDS
#    rounds), so both see the same machine, and prints each output line labelled
#    `[after N]` / `[before N]`. Compare within a round, and the ratios across rounds: a
#    shared machine moves absolute numbers by tens of percent between minutes.
# 3. Drops the PostgreSQL schemas the benches leave in the database `test` on 127.0.0.1:5432
#    (387040a's ingest bench and this tree's benches name theirs `b_<id>`): after each bench,
#    every `b_` schema that was not there before it started.
#
# Knobs (environment): ROUNDS (2), JOBS (2: cargo -j), BASE_DIR, SKIP_BUILD (1: use the
# binaries built by an earlier run of this script; they are listed in BASE_DIR/.bench-bins
# and target/.bench-bins), PGURL (postgres://postgres@127.0.0.1:5432/test, for the schema
# clean-up only: the benches themselves use that database).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ $# -lt 1 ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
BASE_REV="$(git rev-parse --verify "$1^{commit}")"
shift
ROUNDS="${ROUNDS:-2}"
JOBS="${JOBS:-2}"
BASE_DIR="${BASE_DIR:-/work/bench-base-${BASE_REV:0:7}}"
PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432/test}"
AFTER_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BASE_TARGET="$BASE_DIR/target"

for tool in cargo git jq psql; do
    command -v "$tool" >/dev/null || { echo "bench-compare: needs $tool on PATH" >&2; exit 1; }
done

# The bench targets of a tree, as `crate:name`, from crates/*/benches/*.rs.
benches_in() {
    (cd "$1" && for file in crates/*/benches/*.rs; do
        [[ -e "$file" ]] || continue
        local crate="${file#crates/}"
        echo "${crate%%/*}:$(basename "$file" .rs)"
    done)
}

if [[ ! -d "$BASE_DIR" ]]; then
    echo "bench-compare: worktree of ${BASE_REV:0:7} at $BASE_DIR" >&2
    git worktree add --detach "$BASE_DIR" "$BASE_REV" >&2
elif [[ "$(git -C "$BASE_DIR" rev-parse HEAD)" != "$BASE_REV" ]]; then
    echo "bench-compare: $BASE_DIR holds another commit; remove it or set BASE_DIR" >&2
    exit 1
fi

mapfile -t IN_AFTER < <(benches_in "$ROOT")
mapfile -t IN_BASE < <(benches_in "$BASE_DIR")
WANTED=()
if [[ $# -eq 0 ]]; then
    for bench in "${IN_AFTER[@]}"; do
        if printf '%s\n' "${IN_BASE[@]}" | grep -qx "$bench"; then
            WANTED+=("$bench")
        else
            echo "bench-compare: $bench is not at ${BASE_REV:0:7}; left out" >&2
        fi
    done
else
    for name in "$@"; do
        if [[ "$name" == *:* ]]; then pattern="^$name$"; else pattern="^[^:]*:$name$"; fi
        match="$(printf '%s\n' "${IN_AFTER[@]}" | grep -E "$pattern" | head -1 || true)"
        if [[ -z "$match" ]] || ! printf '%s\n' "${IN_BASE[@]}" | grep -qx "$match"; then
            echo "bench-compare: no bench \`$name\` in both trees (here: ${IN_AFTER[*]}; at ${BASE_REV:0:7}: ${IN_BASE[*]})" >&2
            exit 1
        fi
        WANTED+=("$match")
    done
fi

# Builds `crate:name` in tree $1 with target dir $2; answers the executable's path.
build() {
    local tree="$1" target="$2" bench="$3"
    (cd "$tree" && CARGO_TARGET_DIR="$target" cargo bench --locked --no-run -j "$JOBS" \
        -p "${bench%%:*}" --bench "${bench#*:}" --message-format=json-render-diagnostics) |
        jq -r --arg name "${bench#*:}" \
            'select(.reason == "compiler-artifact" and .target.name == $name and (.target.kind | index("bench")) and .executable != null) | .executable' |
        tail -1
}

declare -A BIN_AFTER BIN_BASE
for bench in "${WANTED[@]}"; do
    if [[ "${SKIP_BUILD:-}" == 1 ]]; then
        BIN_AFTER[$bench]="$(grep "^$bench " "$AFTER_TARGET/.bench-bins" | tail -1 | cut -d' ' -f2)"
        BIN_BASE[$bench]="$(grep "^$bench " "$BASE_TARGET/.bench-bins" | tail -1 | cut -d' ' -f2)"
    else
        echo "bench-compare: building $bench here and at ${BASE_REV:0:7}" >&2
        BIN_AFTER[$bench]="$(build "$ROOT" "$AFTER_TARGET" "$bench")"
        BIN_BASE[$bench]="$(build "$BASE_DIR" "$BASE_TARGET" "$bench")"
        echo "$bench ${BIN_AFTER[$bench]}" >>"$AFTER_TARGET/.bench-bins"
        echo "$bench ${BIN_BASE[$bench]}" >>"$BASE_TARGET/.bench-bins"
    fi
    for bin in "${BIN_AFTER[$bench]}" "${BIN_BASE[$bench]}"; do
        [[ -x "$bin" ]] || { echo "bench-compare: no binary for $bench ($bin)" >&2; exit 1; }
    done
done

schemas() {
    psql "$PGURL" -Atc "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'b\\_%' ORDER BY 1"
}

# Drops the `b_` schemas that are not in the list $1 (those there before the bench).
drop_new_schemas() {
    local before="$1" schema
    for schema in $(schemas); do
        if ! grep -qx "$schema" <<<"$before"; then
            psql "$PGURL" -qc "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null
        fi
    done
}

# Runs one bench binary from its crate's folder (as cargo bench does), labelled.
run() {
    local label="$1" tree="$2" bin="$3" bench="$4" before status=0
    before="$(schemas)"
    echo "== [$label] $bench ($(git -C "$tree" rev-parse --short HEAD)$(git -C "$tree" diff --quiet HEAD -- . ':!target' || echo '+changes'); load $(cut -d' ' -f1-3 /proc/loadavg))"
    (cd "$tree/crates/${bench%%:*}" && "$bin" --bench) 2>&1 | sed -u "s/^/[$label] /" || status=$?
    drop_new_schemas "$before"
    return "$status"
}

echo "bench-compare: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); after = $(git rev-parse --short HEAD) (this tree), before = ${BASE_REV:0:7}; $ROUNDS rounds; $(date -u '+%F %H:%M UTC')"
for bench in "${WANTED[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do
        run "after $round" "$ROOT" "${BIN_AFTER[$bench]}" "$bench"
        run "before $round" "$BASE_DIR" "${BIN_BASE[$bench]}" "$bench"
    done
done
