#!/usr/bin/env bash
# The web UI's page weight and speed on loopback: starts `ghl-connector demo` (SQLite, the
# built-in sandboxes; its demo data makes runs to list), signs in with the one-time link it prints,
# then fetches each page 20 times and reports the median and worst time to the last byte,
# and the bytes a first visit loads (the page, its stylesheet and its script); then the flow
# editor's live preview (`POST /api/preview` of a mapping on a trigger's sample), 20 times. Stops the demo
# at the end. SKIP_BUILD=1 uses the release binary already built; BIN=path another build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-}" = 1 ] || cargo build --release --locked -q -p ghl-connector
bin=${BIN:-target/release/ghl-connector}
work=$(mktemp -d)
trap 'kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" demo >"$work/demo.log" 2>&1 &
demo=$!
for _ in $(seq 1 600); do
  grep -q "web UI:" "$work/demo.log" 2>/dev/null && grep -q "in your-app:" "$work/demo.log" && break
  sleep 0.1
done
line=$(grep "web UI:" "$work/demo.log")
link=$(echo "$line" | grep -o 'http://[^ ]*/ui/sign-in/link?token=[^ ]*' | head -n1)
ui=${link%%/sign-in/*}
jar="$work/cookies"
curl -s -o /dev/null -c "$jar" "$link"
css=$(curl -s -b "$jar" "$ui/assets/app.css" | wc -c)
js=$(curl -s -b "$jar" "$ui/assets/app.js" | wc -c)
printf '| Page | Median | Worst (20) | Page bytes | First visit (page + CSS + JS) |\n|---|---|---|---|---|\n'
for page in "" /connections /templates /templates/contact-to-your-app /runs /flows /flows/new /flows/contact-to-your-app/edit; do
  times=()
  for _ in $(seq 1 20); do
    times+=("$(curl -s -o /dev/null -b "$jar" -w '%{time_total}' "$ui$page")")
  done
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  median=$(echo "$sorted" | sed -n 10p)
  worst=$(echo "$sorted" | tail -n1)
  bytes=$(curl -s -b "$jar" "$ui$page" | wc -c)
  status=$(curl -s -o /dev/null -b "$jar" -w '%{http_code}' "$ui$page")
  [ "$status" = 200 ] || { echo "GET /ui$page answered $status (not signed in?)" >&2; exit 1; }
  printf '| /ui%s | %.1f ms | %.1f ms | %s | %s |\n' "$page" "$(echo "$median*1000" | bc)" \
    "$(echo "$worst*1000" | bc)" "$bytes" "$((bytes + css + js))"
done

# The editor's live preview: what each keystroke (after 200 ms of quiet) asks the server.
token=$(grep "ghl-connector:" "$work/demo.log" | sed -E 's/.*admin token ([^ )]*).*/\1/')
api=${ui%/ui}/api
body='{"expression": ".trigger.email | ascii_downcase", "trigger": "highlevel.ContactCreate"}'
times=()
for _ in $(seq 1 20); do
  times+=("$(curl -s -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d "$body" -w '%{time_total}' "$api/preview")")
done
status=$(curl -s -o /dev/null -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "$body" -w '%{http_code}' "$api/preview")
[ "$status" = 200 ] || { echo "POST /api/preview answered $status" >&2; exit 1; }
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
printf '| POST /api/preview (a mapping on the last ContactCreate) | %.1f ms | %.1f ms | | |\n' \
  "$(echo "$(echo "$sorted" | sed -n 10p)*1000" | bc)" "$(echo "$(echo "$sorted" | tail -n1)*1000" | bc)"
