#!/usr/bin/env bash
# The web UI's page weight and speed on loopback: starts `ghl-connector demo` (SQLite, the
# built-in sandboxes; its demo data makes runs to list), signs in with the one-time link it prints,
# then fetches each page 20 times and reports the median and worst time to the last byte,
# and the bytes a first visit loads (the page, its stylesheet and its script). Stops the demo
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
