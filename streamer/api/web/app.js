// Vigil's admin page: signing in, the watchlist, a match test, alerts and cameras, all through the REST API (/api/v1).
// One entry's view and the changes made there live in entry.js, the footage search in search.js, the live console in
// live.js, deep links in routes.js, all loaded after this file; they share the page's globals (classic scripts, no
// build step): they use call, el, say, sayFailure, sayStored, path, fmtTime, fmtScore, show and state from here, and
// this file calls forgetImages (entry.js), forgetSearch (search.js), loadUnknown and forgetUnknown (unknown.js), startLive and stopLive (live.js), go and route
// (routes.js). Plain DOM, no framework. Every string from the
// server is put in the page as text (textContent or append), never as markup: labels, notes, file names and error
// messages are user input.
"use strict";

const API = "../api/v1";
const TOKEN_KEY = "vigil.apiToken"; // sessionStorage: this tab only, gone when it closes, never in a URL
const AUTH_MESSAGES = { 401: "token missing or unknown", 403: "this token is read-only (viewer)" };

const $ = (id) => document.getElementById(id);
const state = { entryId: null, entry: null, objectUrls: [] };

/** An API error: the HTTP status and the server's {"error": {"code", "message", "problems"}}. */
class ApiFailure extends Error {
  constructor(status, code, message, problems) {
    super(message);
    this.status = status;
    this.code = code;
    this.problems = problems || [];
  }
}

/** Call the API with the pasted token; JSON (or a Blob when asked) on success, an ApiFailure otherwise. */
async function call(method, path, { body = undefined, blob = false } = {}) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch (err) {
    throw new ApiFailure(0, "no_answer", `the service did not answer (${err.message})`);
  }
  if (response.ok) return blob ? response.blob() : response.json();
  let error = null;
  try {
    error = (await response.json()).error;
  } catch {
    // not the API's envelope (a proxy's page): the status says what we know
  }
  const failure = new ApiFailure(
    response.status,
    (error && error.code) || `http_${response.status}`,
    (error && error.message) || response.statusText,
    error && error.problems,
  );
  if (failure.status === 401) showAuthProblem(failure);
  throw failure;
}

/** A DOM element with attributes and children; strings become text nodes, so nothing is parsed as HTML. */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== false && value != null) node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

/** Replace a container's content with a message (kind: "ok", "error" or "info"). */
function say(container, kind, ...parts) {
  container.replaceChildren(el("p", { class: `message ${kind}` }, ...parts));
}

/** Show an API failure where it happened: the role message for 401/403, else the server's code and message
 * verbatim, with one line per refused file. `wrote` says whether the request would have changed the watchlist;
 * `nothing` is what a refused write then says (an upload stores, an edit changes). */
function sayFailure(container, failure, { wrote = false, nothing = "Nothing was stored." } = {}) {
  const { status = 0, code = "error", message = String(failure), problems = [] } = failure;
  const parts = [];
  if (AUTH_MESSAGES[status]) parts.push(el("strong", {}, AUTH_MESSAGES[status]), ` — ${code}: ${message}`);
  else parts.push(el("code", { class: "code" }, code), `: ${message}`);
  if (wrote && status >= 400) parts.push(el("span", { class: "note" }, nothing));
  if (wrote && status === 0) parts.push(el("span", { class: "note" }, "Whether anything was stored is unknown."));
  container.replaceChildren(el("p", { class: "message error" }, ...parts));
  if (problems.length) {
    const items = problems.map((p) => el("li", {}, `${p.source}: `, el("code", {}, p.code), ` ${p.reason}`));
    container.append(el("ul", { class: "problems" }, ...items));
  }
}

function showAuthProblem(failure) {
  const banner = $("auth-status");
  banner.textContent = `${AUTH_MESSAGES[401]} (${failure.message}). Sign out and paste a valid token.`;
  banner.hidden = false;
}

/** The outcome of an upload, file by file, as the server reports it. */
function sayStored(container, result, what) {
  const items = [
    ...result.added.map((i) => el("li", {}, `${i.source}: stored as ${what} #${i.id} (${i.width}×${i.height})`)),
    ...result.duplicates.map((d) =>
      el("li", {}, `${d.source}: already stored (entry ${d.entry_id}, #${d.image_id}); skipped`),
    ),
  ];
  const summary = `${result.entry.label}: ${result.added.length} ${what}(s) stored`;
  container.replaceChildren(el("p", { class: "message ok" }, summary), el("ul", { class: "files" }, ...items));
}

/** An "Open" button that names its entry for screen readers. */
const openButton = (label, entryId) =>
  el("button", { type: "button", "aria-label": `Open ${label}`, onclick: () => go(entryHash(entryId)) }, "Open");
const entryHash = (entryId) => `#/entries/${encodeURIComponent(entryId)}`;

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const fmtScore = (value) => (typeof value === "number" ? value.toFixed(3) : "—");
const path = (...parts) => parts.map(encodeURIComponent).join("/");

// ---- signing in and out ----

function signedIn(yes) {
  $("signin").hidden = yes;
  $("signedin").hidden = !yes;
  $("nav").hidden = !yes;
  if (!yes) for (const view of document.querySelectorAll(".view")) view.hidden = true;
}

/** Who signed in; a viewer gets the page read-only from the start (the forms that would write are not offered)
 * rather than finding out from the first refused write. `who` is GET /whoami's answer, or null when signed out. */
function applyRole(who) {
  const readOnly = who !== null && who.role !== "admin";
  $("whoami").textContent = who ? `${who.name} (${who.role})` : "";
  $("read-only").hidden = !readOnly;
  document.body.classList.toggle("read-only", readOnly);
}

/** Ask the service whose token this tab holds: signed in with its role when it answers, else signed out, saying why
 * (a bad token is refused here, before any view is shown). */
async function startSession() {
  const banner = $("auth-status");
  let who;
  try {
    who = await call("GET", "/whoami");
  } catch (failure) {
    sessionStorage.removeItem(TOKEN_KEY);
    signedIn(false);
    banner.textContent = AUTH_MESSAGES[failure.status] || `${failure.code}: ${failure.message}`;
    banner.hidden = false;
    $("token").focus();
    return;
  }
  banner.hidden = true;
  applyRole(who);
  signedIn(true);
  startLive();
  await route();
}

async function signIn(event) {
  event.preventDefault();
  const token = $("token").value.trim();
  $("token").value = "";
  const banner = $("auth-status");
  if (!/^[\x21-\x7e]+$/.test(token)) {
    // a header cannot carry it (fetch would fail as if the service were down): no token any server issued
    banner.textContent = `${AUTH_MESSAGES[401]} (a token is printable ASCII without spaces, like vgl_…)`;
    banner.hidden = false;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  banner.hidden = true;
  await startSession();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  forgetImages();
  forgetSearch();
  forgetUnknown();
  stopLive();
  applyRole(null);
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  for (const box of document.querySelectorAll(".result, .status, .thumbs, .facts")) box.replaceChildren();
  for (const form of document.querySelectorAll("form")) form.reset();
  $("auth-status").hidden = true;
  state.entryId = null;
  state.entry = null;
  signedIn(false);
  $("token").focus();
}

// ---- views ----

const loaders = {
  watchlist: loadEntries,
  alerts: loadAlerts,
  cameras: loadCameras,
  unknown: () => loadUnknown(), // unknown.js loads after this file
  match: null,
  search: null,
  entry: null,
  live: null,
  alert: null,
};

function show(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  for (const button of document.querySelectorAll("nav button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (name !== "entry") forgetImages();
  return loaders[name] ? loaders[name]() : Promise.resolve();
}

async function loadEntries() {
  const kind = $("filter-kind").value;
  const status = $("entries-status");
  let entries;
  try {
    entries = await call("GET", `/watchlist${kind ? `?kind=${kind}` : ""}`);
  } catch (failure) {
    sayFailure(status, failure);
    return;
  }
  const rows = entries.map((e) =>
    el(
      "tr",
      { "data-entry-id": e.id },
      el("td", { class: "label" }, e.label),
      el("td", {}, e.kind),
      el("td", {}, e.threshold === null ? `${e.effective_threshold} (default)` : String(e.threshold)),
      el("td", {}, e.cameras.length ? e.cameras.join(", ") : "all"),
      el("td", {}, e.enabled ? "yes" : "no"),
      el("td", {}, String(e.image_count)),
      el("td", {}, openButton(e.label, e.id)),
    ),
  );
  $("entries").querySelector("tbody").replaceChildren(...rows);
  $("entries-empty").hidden = entries.length > 0;
  status.replaceChildren();
}

async function addEntry(event) {
  event.preventDefault();
  const form = event.target;
  const result = $("add-entry-result");
  const data = new FormData();
  for (const name of ["kind", "label", "threshold", "notes"]) data.append(name, form.elements[name].value.trim());
  for (const camera of form.elements.cameras.value.split(",")) if (camera.trim()) data.append("cameras", camera.trim());
  for (const file of form.elements.images.files) data.append("images", file, file.name);
  say(result, "info", "Uploading…");
  try {
    sayStored(result, await call("POST", "/watchlist", { body: data }), "image");
    form.reset();
  } catch (failure) {
    sayFailure(result, failure, { wrote: true });
  }
  loadEntries();
}

// ---- match, alerts, cameras ----

async function matchImage(event) {
  event.preventDefault();
  const form = event.target;
  const result = $("match-result");
  const data = new FormData();
  if (form.elements.kind.value) data.append("kind", form.elements.kind.value);  // none: the service infers it
  if (form.elements.camera.value.trim()) data.append("camera", form.elements.camera.value.trim());
  const file = form.elements.image.files[0];
  data.append("image", file, file.name);
  say(result, "info", "Matching…");
  let found;
  try {
    found = await call("POST", "/match", { body: data });
  } catch (failure) {
    sayFailure(result, failure);
    return;
  }
  const heading = el("p", { class: "help" }, `${file.name} against ${found.kind} entries (${found.model_version})`);
  if (!found.matches.length) {
    const none = "No entry matches this image at or over its threshold.";
    result.replaceChildren(heading, el("p", { class: "message info" }, none));
    return;
  }
  const head = el("tr", {}, ...["Entry", "Score", "Threshold", ""].map((h) => el("th", { scope: "col" }, h)));
  const rows = found.matches.map((m) =>
    el(
      "tr",
      {},
      el("td", { class: "label" }, m.label),
      el("td", {}, fmtScore(m.score)),
      el("td", {}, fmtScore(m.threshold)),
      el("td", {}, openButton(m.label, m.entry_id)),
    ),
  );
  const caption = el("caption", { class: "visually-hidden" }, "Matches, best first");
  const table = el("table", { id: "matches" }, caption, el("thead", {}, head), el("tbody", {}, ...rows));
  result.replaceChildren(heading, table);
}

async function loadAlerts() {
  const camera = $("alerts-camera").value.trim();
  const query = new URLSearchParams({ limit: "100" });
  if (camera) query.set("camera", camera);
  let alerts;
  try {
    alerts = (await call("GET", `/alerts?${query}`)).alerts;
  } catch (failure) {
    sayFailure($("alerts-status"), failure);
    return;
  }
  const rows = alerts.map((a) =>
    el(
      "tr",
      {},
      el("td", {}, fmtTime(a.frame_time)),
      el("td", {}, a.camera),
      el("td", {}, a.kind),
      el("td", {}, a.event),
      el("td", { class: "label" }, a.entry ? a.entry.label : "—"),
      el("td", {}, fmtScore(a.score)),
      el("td", {}, fmtScore(a.threshold)),
      el("td", {}, a.ack ? `${a.ack.by}, ${fmtTime(a.ack.at)}` : ""),
    ),
  );
  $("alerts").querySelector("tbody").replaceChildren(...rows);
  if (alerts.length) $("alerts-status").replaceChildren();
  else say($("alerts-status"), "info", "No alerts.");
}

async function loadCameras() {
  let cameras;
  try {
    cameras = (await call("GET", "/cameras")).cameras;
  } catch (failure) {
    sayFailure($("cameras-status"), failure);
    return;
  }
  const rows = cameras.map((c) =>
    el(
      "tr",
      { class: `state-${c.state}` },
      el("td", {}, c.camera),
      el("td", {}, el("span", { class: "state" }, c.state)),
      el("td", {}, fmtTime(c.since)),
      el("td", {}, fmtTime(c.last_frame_at)),
      el("td", {}, c.reason || ""),
    ),
  );
  $("cameras").querySelector("tbody").replaceChildren(...rows);
  if (cameras.length) $("cameras-status").replaceChildren();
  else say($("cameras-status"), "info", "No cameras configured.");
}

// ---- start ----

async function showNode() {
  try {
    const response = await fetch(`${API}/healthz`, { cache: "no-store", credentials: "omit" });
    if (response.ok) $("node").textContent = (await response.json()).node_id;
  } catch {
    // the node id is decoration; the first API call reports a service that does not answer
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => go(`#/${button.dataset.view}`));
  }
  $("filter-kind").addEventListener("change", loadEntries);
  $("refresh-entries").addEventListener("click", loadEntries);
  $("add-entry").addEventListener("submit", addEntry);
  $("match-form").addEventListener("submit", matchImage);
  $("refresh-alerts").addEventListener("click", loadAlerts);
  $("alerts-camera").addEventListener("change", loadAlerts);
  $("refresh-cameras").addEventListener("click", loadCameras);
  showNode();
  signedIn(false);
  if (sessionStorage.getItem(TOKEN_KEY)) startSession(); // a reload: the role may have changed meanwhile
  else $("token").focus();
});
