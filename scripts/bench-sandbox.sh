#!/usr/bin/env bash
# Benchmark of the HighLevel sandbox (`ghl-connector sandbox`), results in BENCHMARKS.md.
#
#   scripts/bench-sandbox.sh
#
# 1. GET /contacts/{id} and POST /contacts/ with wrk (sandbox seeded with 1000 contacts,
#    rate limits raised out of the way), then the request counts from /_sandbox/stats.
# 2. Start-up time with 100k seeded contacts (process start until its JSON line), 5 runs,
#    and the RSS of the process once started.
#
# Talks only to 127.0.0.1; stops by itself; kills everything it started on exit.
# Knobs (environment): WRK_THREADS (2), WRK_CONNECTIONS (32), WRK_DURATION (15s),
# STARTUP_CONTACTS (100000), STARTUP_RUNS (5), READY_TIMEOUT (60 seconds),
# SKIP_BUILD (unset: set to 1 to measure the binary already in target/release).
#
# Latency percentiles are wrk's: wrk 4 corrects for coordinated omission, so one stall of
# the server shows up as many slow samples (an open-loop client's view). Max is the
# slowest real response.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNECTIONS="${WRK_CONNECTIONS:-32}"
WRK_DURATION="${WRK_DURATION:-15s}"
STARTUP_CONTACTS="${STARTUP_CONTACTS:-100000}"
STARTUP_RUNS="${STARTUP_RUNS:-5}"
READY_TIMEOUT="${READY_TIMEOUT:-60}"
BIN="$ROOT/target/release/ghl-connector"

WORK="$(mktemp -d -t bench-sandbox.XXXXXX)"
PIDS=()

cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------
for tool in curl jq; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get update
    apt-get install -y wrk
fi

if [ "${SKIP_BUILD:-}" != 1 ]; then
    log "building ghl-connector (release)"
    cargo build --release -p ghl-connector
fi
[ -x "$BIN" ] || die "$BIN is missing"
SOURCE="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    SOURCE="$SOURCE + uncommitted changes"
fi

# --- sandbox -----------------------------------------------------------------------------
# start_sandbox ARGS...: starts the sandbox on 127.0.0.1, port 0, and waits (READY_TIMEOUT)
# for its JSON line. Sets SB_PID, SB_JSON, SB_STARTUP_MS (fork until the line was read) and
# SB_FD (the read end of its stdout, kept open so the sandbox never gets SIGPIPE).
SB_SEQ=0
start_sandbox() {
    SB_SEQ=$((SB_SEQ + 1))
    local fifo="$WORK/stdout.$SB_SEQ"
    mkfifo "$fifo"
    local t0=$EPOCHREALTIME
    "$BIN" sandbox --host 127.0.0.1 --port 0 "$@" >"$fifo" 2>"$WORK/stderr.$SB_SEQ" &
    SB_PID=$!
    PIDS+=("$SB_PID")
    exec {SB_FD}<"$fifo"
    if ! IFS= read -r -t "$READY_TIMEOUT" -u "$SB_FD" SB_JSON; then
        cat "$WORK/stderr.$SB_SEQ" >&2 || true
        die "sandbox exited, or printed no JSON line within ${READY_TIMEOUT}s"
    fi
    local t1=$EPOCHREALTIME
    SB_STARTUP_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
}

stop_sandbox() {
    kill -TERM "$SB_PID" 2>/dev/null || true
    wait "$SB_PID" 2>/dev/null || true
    exec {SB_FD}<&-
}

rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

# run_wrk NAME LUA URL ARGS...: runs wrk, keeps its output, prints its WRK_RESULT json.
run_wrk() {
    local name=$1 script=$2 url=$3
    shift 3
    log "wrk $name: -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency \
        -s "$script" "$url" -- "$@" >"$WORK/wrk-$name.txt"
    sed -n '1,/^Requests\/sec/p' "$WORK/wrk-$name.txt" | grep -v '^WRK_RESULT' >&2
    sed -n 's/^WRK_RESULT //p' "$WORK/wrk-$name.txt"
}

summary_row() { # NAME JSON
    jq -r --arg name "$1" '"\($name)\t\(.rps) req/s\tp50 \(.p50_us / 1000) ms\tp99 \(.p99_us / 1000) ms\tmax \(.max_us / 1000) ms\trequests \(.requests)\twrk errors \(.errors | tostring)"' <<<"$2"
}

# --- 1. throughput and latency -----------------------------------------------------------
log "starting the sandbox with 1000 contacts"
start_sandbox --contacts 1000 --rate-burst 100000000 --rate-daily 2000000000
BASE_URL=$(jq -r .base_url <<<"$SB_JSON")
LOCATION_ID=$(jq -r .location_id <<<"$SB_JSON")
TOKEN=$(jq -r .private_integration_token <<<"$SB_JSON")
case "$BASE_URL" in
    http://127.0.0.1:*) ;;
    *) die "unexpected base_url $BASE_URL" ;;
esac
api() {
    curl -fsS -H "Authorization: Bearer $TOKEN" -H "Version: 2021-07-28" "$@"
}
CONTACT_ID=$(api "$BASE_URL/contacts/?locationId=$LOCATION_ID&limit=5" | jq -r '.contacts[0].id')
[ -n "$CONTACT_ID" ] && [ "$CONTACT_ID" != null ] || die "no contact id from the list endpoint"
api "$BASE_URL/contacts/$CONTACT_ID" >/dev/null
log "sandbox at $BASE_URL, contact $CONTACT_ID"

GET_RESULT=$(run_wrk get-contact scripts/bench/get-contact.lua "$BASE_URL/contacts/$CONTACT_ID" "$TOKEN")
CREATE_RESULT=$(run_wrk create-contact scripts/bench/create-contact.lua "$BASE_URL" \
    "$TOKEN" "$LOCATION_ID" "$(date +%s)")

STATS=$(curl -fsS "$BASE_URL/_sandbox/stats")
CREATE_STATUSES=$(jq -c '.requests["create-contact"] // {}' <<<"$STATS")
GET_STATUSES=$(jq -c '.requests["get-contact"] // {}' <<<"$STATS")
CREATE_NON_201=$(jq '[.requests["create-contact"] // {} | to_entries[] | select(.key != "201") | .value] | add // 0' <<<"$STATS")
RATE_LIMITED=$(jq '.rateLimited' <<<"$STATS")
CREATED_EFFECTS=$(jq '.effects["contact.created"] // 0' <<<"$STATS")
SB1_RSS=$(rss_kib "$SB_PID" VmRSS)
stop_sandbox

# --- 2. start-up with many contacts ------------------------------------------------------
STARTUP_MS=()
STARTUP_RSS=()
STARTUP_HWM=()
for run in $(seq 1 "$STARTUP_RUNS"); do
    start_sandbox --contacts "$STARTUP_CONTACTS"
    STARTUP_MS+=("$SB_STARTUP_MS")
    STARTUP_RSS+=("$(rss_kib "$SB_PID" VmRSS)")
    STARTUP_HWM+=("$(rss_kib "$SB_PID" VmHWM)")
    log "start-up run $run: ${SB_STARTUP_MS} ms, VmRSS ${STARTUP_RSS[-1]} kB, VmHWM ${STARTUP_HWM[-1]} kB"
    stop_sandbox
done
read -r STARTUP_MIN STARTUP_MEDIAN < <(printf '%s\n' "${STARTUP_MS[@]}" | sort -n |
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print v[1], m }')
RSS_MEDIAN=$(printf '%s\n' "${STARTUP_RSS[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
HWM_MEDIAN=$(printf '%s\n' "${STARTUP_HWM[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

# --- 3. search paging over many contacts -------------------------------------------------
# SEARCH_PAGES pages of 500 with searchAfter, sequentially, as a sync would read them.
SEARCH_PAGES="${SEARCH_PAGES:-20}"
start_sandbox --contacts "$STARTUP_CONTACTS" --rate-burst 100000000 --rate-daily 2000000000
S_BASE=$(jq -r .base_url <<<"$SB_JSON")
S_LOCATION=$(jq -r .location_id <<<"$SB_JSON")
S_TOKEN=$(jq -r .private_integration_token <<<"$SB_JSON")
SEARCH_MS=()
AFTER=null
for page in $(seq 1 "$SEARCH_PAGES"); do
    body=$(jq -cn --arg l "$S_LOCATION" --argjson a "$AFTER" \
        '{locationId: $l, pageLimit: 500} + (if $a == null then {} else {searchAfter: $a} end)')
    out=$(curl -fsS -w '\n%{time_total}' -X POST "$S_BASE/contacts/search" -H "Authorization: Bearer $S_TOKEN" \
        -H "Version: 2021-07-28" -H "content-type: application/json" -d "$body")
    SEARCH_MS+=("$(tail -n 1 <<<"$out" | awk '{ printf "%.1f", $1 * 1000 }')")
    AFTER=$(head -n -1 <<<"$out" | jq -c '.contacts[-1].searchAfter')
done
stop_sandbox
read -r SEARCH_MEDIAN SEARCH_MAX < <(printf '%s\n' "${SEARCH_MS[@]}" | sort -n |
    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)], v[NR] }')

# --- summary -----------------------------------------------------------------------------
echo
echo "== HighLevel sandbox benchmark ($(date -u +%F), nproc $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))"
echo "source: $SOURCE"
echo "wrk $(wrk -v 2>/dev/null | awk 'NR == 1 { print $2 }') -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION, sandbox --contacts 1000"
summary_row "GET /contacts/{id}" "$GET_RESULT"
summary_row "POST /contacts/" "$CREATE_RESULT"
echo "stats get-contact statuses:    $GET_STATUSES"
echo "stats create-contact statuses: $CREATE_STATUSES (non-201: $CREATE_NON_201, contact.created effects: $CREATED_EFFECTS, rate limited: $RATE_LIMITED; contacts after: $((1000 + CREATED_EFFECTS)))"
echo "sandbox VmRSS after both runs: $((SB1_RSS / 1024)) MiB"
echo "start-up with $STARTUP_CONTACTS contacts ($STARTUP_RUNS runs): min ${STARTUP_MIN} ms, median ${STARTUP_MEDIAN} ms (all: ${STARTUP_MS[*]})"
echo "search, $SEARCH_PAGES pages of 500 by searchAfter over $STARTUP_CONTACTS contacts: median ${SEARCH_MEDIAN} ms, max ${SEARCH_MAX} ms per page"
echo "VmRSS after start-up: median $((RSS_MEDIAN / 1024)) MiB (VmHWM median $((HWM_MEDIAN / 1024)) MiB; all VmRSS kB: ${STARTUP_RSS[*]})"

if [ "$CREATE_NON_201" != 0 ]; then
    die "the create benchmark got $CREATE_NON_201 non-201 answers: $CREATE_STATUSES"
fi
