// ghl-connector's web UI script: small and optional (every page so far works without it);
// the pages to come (live runs, mapping previews) call the REST API through it. It is served
// from this origin only (the Content-Security-Policy forbids inline scripts).
"use strict";

// The REST API, called as the signed-in user: the session cookie goes along, and the
// session's CSRF token (from the page's <meta name="csrf-token">) in x-csrf-token.
window.ghl = {
  async api(method, path, body) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    const headers = { "x-csrf-token": meta ? meta.content : "" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const answer = await fetch("/api" + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await answer.json();
    if (!answer.ok) throw new Error(json.error || answer.statusText);
    return json;
  },
};

// The live run list: each change the stream reports fetches that run's row, rendered by the
// server, and puts it first (new) or in place (changed).
function followRuns(body) {
  const stream = new EventSource(body.dataset.stream);
  const status = document.getElementById("live-status");
  stream.addEventListener("run", async (event) => {
    const run = JSON.parse(event.data);
    const answer = await fetch("/ui/runs/" + encodeURIComponent(run.id) + "/row", { credentials: "same-origin" });
    if (!answer.ok) return;
    const holder = document.createElement("tbody");
    holder.innerHTML = await answer.text();
    const row = holder.querySelector("tr");
    if (!row) return;
    row.classList.add("fresh");
    const old = document.getElementById(row.id);
    if (old) old.replaceWith(row); else body.prepend(row);
    const none = document.getElementById("no-runs");
    if (none) none.remove();
  });
  stream.addEventListener("error", () => { if (status) status.textContent = "Live updates paused; retrying."; });
  stream.addEventListener("open", () => { if (status) status.textContent = "Live: new runs appear as they happen."; });
}

// The dashboard's live part: fetched again every five seconds while the page is shown.
function refreshEvery(section, ms) {
  setInterval(async () => {
    if (document.hidden) return;
    const answer = await fetch(section.dataset.live, { credentials: "same-origin" });
    if (answer.ok) section.innerHTML = await answer.text();
  }, ms);
}

document.addEventListener("DOMContentLoaded", () => {
  const runs = document.querySelector("tbody[data-stream]");
  if (runs) followRuns(runs);
  const live = document.querySelector("[data-live]");
  if (live) refreshEvery(live, 5000);
});
