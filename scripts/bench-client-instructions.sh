#!/usr/bin/env bash
# The HighLevel client's instructions per GET /contacts/{id}, beside plain reqwest's doing
# the same request (the `client` bench's part 2), counted by callgrind, so that the
# machine's load does not move them.
#
#   scripts/bench-client-instructions.sh [BIN...]
#
# Without BIN, builds `cargo bench -p ghl-client --bench client` of this tree. A BIN is a
# `client` bench executable, of this tree or of another commit's (one built from a tree whose
# crates/ghl-client/benches/client.rs has the OVERHEAD_ONLY knob: 387040a's file is this one
# without it, so copy this one over it before building there). Each runs under
# `valgrind --tool=callgrind --separate-threads=yes` with OVERHEAD_ONLY=<way>:<n> for
# n = N and 2N (N: the environment's N, default 200) and way `client` and `plain`. Both ways
# run on the bench's main thread (a current-thread runtime: reqwest's connection tasks
# included) and the sandbox on a thread of its own, so the main thread's count is the
# client side; the difference between 2N and N requests, divided by N, is one request's
# (set-up and warm-up cancel out). The whole process's count (the sandbox's thread included)
# is printed beside it. CALLGRIND_KEEP=DIR keeps every run's main-thread profile
# there as <k>-<way>-<n>.out, k the BIN's place in the list from 1 (for callgrind_annotate).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-200}"
JOBS="${JOBS:-2}"

BINS=("$@")
if [[ ${#BINS[@]} -eq 0 ]]; then
    BINS=("$(cargo bench --locked --no-run -j "$JOBS" -p ghl-client --bench client \
        --message-format=json-render-diagnostics |
        jq -r 'select(.reason == "compiler-artifact" and .target.name == "client" and .executable != null) | .executable')")
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# The main thread's instruction count for one run of binary $1 with OVERHEAD_ONLY=$2, and the
# whole process's; $3 is the binary's place in the list.
count() {
    (cd "$ROOT/crates/ghl-client" && OVERHEAD_ONLY="$2" valgrind --tool=callgrind \
        --separate-threads=yes --callgrind-out-file="$OUT/cg.out" "$1" >/dev/null \
        2>"$OUT/valgrind.log")
    local file
    file="$(ls "$OUT"/cg.out*-01 2>/dev/null || true)"
    [[ -n "$file" ]] || { cat "$OUT/valgrind.log" >&2; exit 1; }
    local main all=0 thread count
    main="$(awk '/^(summary|totals):/ { print $2; exit }' "$file")"
    for thread in "$OUT"/cg.out*; do
        count="$(awk '/^(summary|totals):/ { print $2; exit }' "$thread")"
        all=$((all + ${count:-0}))
    done
    echo "$main $all"
    if [[ -n "${CALLGRIND_KEEP:-}" ]]; then
        mkdir -p "$CALLGRIND_KEEP"
        cp "$file" "$CALLGRIND_KEEP/$3-${2/:/-}.out"
    fi
    rm -f "$OUT"/cg.out*
}

echo "instructions per GET /contacts/{id} ((2N - N requests) / N, N = $N): the client side (main thread), and the whole process (the sandbox's thread too)"
echo "| bench binary | ghl-client | plain reqwest | client - plain | ghl-client + sandbox | plain + sandbox |"
echo "| --- | --- | --- | --- | --- | --- |"
for place in "${!BINS[@]}"; do
    bin="$(realpath "${BINS[$place]}")"
    declare -A per=() whole=()
    for way in client plain; do
        read -r one one_all < <(count "$bin" "$way:$N" $((place + 1)))
        read -r two two_all < <(count "$bin" "$way:$((2 * N))" $((place + 1)))
        per[$way]=$(( (two - one) / N ))
        whole[$way]=$(( (two_all - one_all) / N ))
    done
    printf '| %s | %d | %d | %d | %d | %d |\n' "$bin" "${per[client]}" "${per[plain]}" \
        "$(( per[client] - per[plain] ))" "${whole[client]}" "${whole[plain]}"
done
