#!/usr/bin/env bash
# Client-side instructions per request, manifest runtime against the typed HighLevel client
# (issue 10), counted by callgrind, so that the machine's load does not move them.
#
#   scripts/bench-runtime-instructions.sh
#
# Builds `cargo bench -p ghl-app-runtime --bench overhead` and runs it under
# `valgrind --tool=callgrind --separate-threads=yes` with OVERHEAD_ONLY=<kind>:<client>:<n>
# for n = N and 2N (N: the environment's N, default 200), for each kind (get, create,
# list) and client (runtime, typed). The clients run on the bench's main thread and the
# sandboxes on threads of their own, so the main thread's count is the clients' (the whole
# process's, sandboxes included, is printed beside it); the
# difference between 2N and N requests, divided by N, is one request's (set-up cancels out).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${N:-200}"
JOBS="${JOBS:-2}"

BIN="$(cargo bench --locked --no-run -j "$JOBS" -p ghl-app-runtime --bench overhead \
    --message-format=json-render-diagnostics |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "overhead" and .executable != null) | .executable')"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# The main thread's instruction count for one run, and that of the whole process.
counts() {
    OVERHEAD_ONLY="$1" valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$OUT/cg.out" "$BIN" >/dev/null 2>"$OUT/valgrind.log"
    local file
    file="$(ls "$OUT"/cg.out*-01 2>/dev/null || true)"
    [[ -n "$file" ]] || { cat "$OUT/valgrind.log" >&2; exit 1; }
    local main all=0 count
    main="$(awk '/^(summary|totals):/ { print $2; exit }' "$file")"
    for file in "$OUT"/cg.out*; do
        count="$(awk '/^(summary|totals):/ { print $2; exit }' "$file")"
        all=$((all + ${count:-0}))
    done
    echo "$main $all"
    rm -f "$OUT"/cg.out*
}

echo "instructions per request ((2N - N requests) / N, N = $N): the clients (main thread), and the whole process (clients and sandboxes)"
echo "| request | runtime, client | typed, client | runtime / typed | runtime + Your App sandbox | typed + HighLevel sandbox |"
echo "| --- | --- | --- | --- | --- | --- |"
for kind in get create list; do
    declare -A per=() whole=()
    for client in runtime typed; do
        read -r one one_all < <(counts "$kind:$client:$N")
        read -r two two_all < <(counts "$kind:$client:$((2 * N))")
        per[$client]=$(( (two - one) / N ))
        whole[$client]=$(( (two_all - one_all) / N ))
    done
    printf '| %s | %d | %d | %s | %d | %d |\n' "$kind" "${per[runtime]}" "${per[typed]}" \
        "$(awk -v a="${per[runtime]}" -v b="${per[typed]}" 'BEGIN { printf "%.2f", a / b }')" \
        "${whole[runtime]}" "${whole[typed]}"
done
