// ghl-connector's web UI script: small and optional (every page works without it, less
// quickly): live runs, the dashboard's refresh, and the flow editor's search, previews and
// field picking, which call the REST API through it. It is served from this origin only (the
// Content-Security-Policy forbids inline scripts).
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

// The flow editor: a search box filters its catalog list; picking a trigger or an action
// shows the form again with its fields; each field's preview follows its text (the server
// evaluates it on the trigger's sample); a field picked from a sample's tree goes into the
// field last edited.
function flowEditor(form) {
  const context = document.getElementById("preview-context");
  const sample = JSON.parse(context.dataset.sample || "null");
  const steps = JSON.parse(context.dataset.steps || "[]");
  const refresh = form.querySelector('button[name="op"][value="refresh"]');
  let lastEdited = null;

  form.querySelectorAll("input[data-filter-for]").forEach((search) => {
    const list = document.getElementById(search.dataset.filterFor);
    search.addEventListener("input", () => {
      const words = search.value.toLowerCase().trim();
      list.querySelectorAll("option").forEach((option) => {
        option.hidden = words !== "" && !option.textContent.toLowerCase().includes(words);
      });
    });
  });
  form.querySelectorAll("select[data-refresh]").forEach((list) => {
    list.addEventListener("change", () => {
      // The page comes back at the step (or the trigger) just changed.
      const step = list.closest("fieldset.step");
      refresh.formAction = "/ui/flows/editor#" + (step ? step.id : list.id);
      form.requestSubmit(refresh);
    });
  });

  // A sample read from a file goes into its field, and the form is shown again with it.
  form.querySelectorAll("input[type=file][data-into]").forEach((picker) => {
    picker.addEventListener("change", async () => {
      const file = picker.files[0];
      if (!file) return;
      document.getElementById(picker.dataset.into).value = await file.text();
      form.requestSubmit(document.getElementById("use-sample"));
    });
  });

  // The latest preview asked for each field: an older answer arriving late is dropped.
  const asked = new Map();
  async function preview(field) {
    const input = field.querySelector("input.value");
    const mode = field.querySelector("select.mode").value;
    const output = field.querySelector("output.preview");
    const ticket = (asked.get(field) || 0) + 1;
    asked.set(field, ticket);
    output.classList.remove("error");
    if (input.value.trim() === "") { output.textContent = "not set"; return; }
    if (mode === "constant") { output.textContent = "= " + JSON.stringify(input.value); return; }
    if (sample === null) { output.textContent = "Pick a trigger to see its value."; return; }
    try {
      const answer = await ghl.api("POST", "/preview", { expression: input.value, sample, steps });
      if (asked.get(field) === ticket) output.textContent = "= " + JSON.stringify(answer.value);
    } catch (err) {
      if (asked.get(field) !== ticket) return;
      output.classList.add("error");
      output.textContent = err.message;
    }
  }
  form.querySelectorAll("div.mapping").forEach((field) => {
    const input = field.querySelector("input.value");
    let timer = null;
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => preview(field), 200); });
    input.addEventListener("focus", () => { lastEdited = input; });
    field.querySelector("select.mode").addEventListener("change", () => preview(field));
    preview(field);
  });
  form.querySelectorAll("button.pick").forEach((button) => {
    button.addEventListener("click", () => {
      const step = button.closest("fieldset.step");
      let input = lastEdited && (!step || step.contains(lastEdited)) ? lastEdited : null;
      if (!input && step) input = step.querySelector("div.mapping input.value");
      if (!input) return;
      const path = button.dataset.path;
      const start = input.selectionStart ?? input.value.length;
      const end = input.selectionEnd ?? input.value.length;
      input.value = input.value.slice(0, start) + path + input.value.slice(end);
      const field = input.closest("div.mapping");
      field.querySelector("select.mode").value = "mapping";
      input.focus();
      input.setSelectionRange(start + path.length, start + path.length);
      preview(field);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const editor = document.getElementById("editor");
  if (editor) flowEditor(editor);
  const runs = document.querySelector("tbody[data-stream]");
  if (runs) followRuns(runs);
  const live = document.querySelector("[data-live]");
  if (live) refreshEvery(live, 5000);
});
