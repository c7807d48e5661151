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
