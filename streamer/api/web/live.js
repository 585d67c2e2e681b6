// The live console: an alert feed and a camera grid that follow GET /api/v1/events, and one alert's page
// (#/alerts/<id>). Loaded after app.js, whose helpers it uses ($, call, el, say, sayFailure, fmtTime, fmtScore, path,
// show, API, TOKEN_KEY); app.js starts the stream on sign-in (startLive) and ends it on sign-out (stopLive).
//
// EventSource cannot send a bearer header, so the stream is read with fetch() and parsed here: the token stays in a
// header, never in a URL. After a drop it reconnects with Last-Event-ID, and the server replays what was missed.
// Pictures need the header too: each is fetched as a blob and shown through an object URL, revoked when replaced.
"use strict";

const FEED_MAX = 200; // alerts kept in the feed, newest first
const THUMB_REFRESH_MS = 3000;
const live = {
  alerts: new Map(), cameras: new Map(), lastId: null, abort: null, timer: null, urls: new Map(), pending: new Set(),
};

/** Sign-in: the feed's history, then the stream and the grid's refresh. */
function startLive() {
  stopLive();
  live.abort = new AbortController();
  streamEvents(live.abort.signal);
  loadFeedHistory();
  live.timer = setInterval(refreshThumbnails, THUMB_REFRESH_MS);
}

/** Sign-out: end the stream, forget every alert, camera and picture. */
function stopLive() {
  if (live.abort) live.abort.abort();
  clearInterval(live.timer);
  for (const url of live.urls.values()) URL.revokeObjectURL(url);
  live.urls.clear();
  live.alerts.clear();
  live.cameras.clear();
  live.lastId = null;
  $("live-feed").replaceChildren();
  $("live-cameras").replaceChildren();
  setStreamState("off", "not connected");
}

function setStreamState(kind, text) {
  const badge = $("live-state");
  badge.className = `stream stream-${kind}`;
  badge.textContent = text;
}

/** Read the event stream until it ends, then reconnect (resuming after the last id) unless signed out. */
async function streamEvents(signal) {
  while (!signal.aborted) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
    if (live.lastId) headers["Last-Event-ID"] = live.lastId;
    try {
      const response = await fetch(`${API}/events`, { headers, signal, cache: "no-store", credentials: "omit" });
      if (response.status === 401 || response.status === 403) {
        setStreamState("off", `not connected: the token was refused (HTTP ${response.status})`);
        return; // retrying cannot help; signing in again does
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setStreamState("on", "live");
      await readEvents(response.body.pipeThrough(new TextDecoderStream()).getReader());
    } catch (err) {
      if (signal.aborted) return;
      setStreamState("off", `reconnecting (${err.message})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function readEvents(reader) {
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the stream ended");
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

/** One server-sent event's lines: id, event, data (comments and retry ignored). */
function dispatch(block) {
  const fields = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    fields[line.slice(0, at)] = line.slice(at + 1).replace(/^ /, "");
  }
  if (fields.id) live.lastId = fields.id;
  if (!fields.data) return;
  const data = JSON.parse(fields.data);
  if (fields.event === "alert") applyAlert(data, true);
  else if (fields.event === "ack") applyAck(data);
  else if (fields.event === "camera") applyCamera(data);
}

/** The newest 100 alert events, oldest first, under what the stream already brought (that is newer). */
async function loadFeedHistory() {
  try {
    const rows = (await call("GET", "/alerts?limit=100")).alerts;
    for (const row of rows.reverse()) applyAlert(row, false);
  } catch (failure) {
    sayFailure($("live-status"), failure);
  }
}

// ---- the feed ----

/** An alert event into its row: the first event opens it, later ones update it; `fresh`: from the stream. */
function applyAlert(payload, fresh) {
  let alert = live.alerts.get(payload.alert_id);
  if (alert && !fresh && alert.fresh) return; // history older than what the stream brought
  if (!alert) {
    alert = { id: payload.alert_id, first: payload, last: payload, ack: null, fresh, row: null };
    live.alerts.set(alert.id, alert);
  }
  if (payload.event === "open") alert.first = payload;
  alert.last = payload;
  alert.fresh = alert.fresh || fresh;
  if (payload.ack) alert.ack = payload.ack;
  renderAlert(alert);
  while (live.alerts.size > FEED_MAX) dropAlert(live.alerts.keys().next().value);
}

function applyAck(ack) {
  const alert = live.alerts.get(ack.alert_id);
  if (!alert) return;
  alert.ack = ack;
  renderAlert(alert);
  if (location.hash === `#/alerts/${ack.alert_id}`) renderAlertPage(alert);
}

function dropAlert(alertId) {
  const alert = live.alerts.get(alertId);
  live.alerts.delete(alertId);
  if (alert && alert.row) alert.row.remove();
  for (const picture of ["crop", "snapshot"]) forgetUrl(`${alertId}/${picture}`);
}

const fmtDuration = (seconds) =>
  seconds < 60 ? `${Math.round(seconds)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;

/** What an alert's state line says: open / updated, or closed with how long it lasted. */
function alertState(alert) {
  if (alert.last.event !== "close") return alert.last.event === "open" ? "open" : "updated";
  const lasted = (new Date(alert.last.frame_time) - new Date(alert.first.frame_time)) / 1000;
  return `closed after ${fmtDuration(Math.max(0, lasted))}`;
}

function renderAlert(alert) {
  const { last } = alert;
  const label = last.entry ? last.entry.label : "unknown";
  const row = el(
    "article",
    {
      class: `alert-row event-${last.event}`,
      "data-alert-id": alert.id,
      "data-camera": last.camera,
      "data-kind": last.kind,
      "data-label": label.toLowerCase(),
    },
    el("div", { class: "pictures" }, picture(alert, "crop"), picture(alert, "snapshot")),
    el(
      "div",
      { class: "facts" },
      el("a", { class: "label", href: `#/alerts/${encodeURIComponent(alert.id)}` }, label),
      el("span", { class: "state" }, alertState(alert)),
      el("span", {}, `${last.camera} · ${last.kind} · score ${fmtScore(last.score)}`),
      el("span", { class: "help" }, `opened ${fmtTime(alert.first.frame_time)}`),
      ackControl(alert),
    ),
  );
  if (alert.row) alert.row.replaceWith(row);
  else $("live-feed").prepend(row);
  alert.row = row;
  filterRow(row);
}

/** "Acknowledge", or who acknowledged and when. */
function ackControl(alert) {
  if (alert.ack) return el("span", { class: "ack" }, `acknowledged by ${alert.ack.by} at ${fmtTime(alert.ack.at)}`);
  const button = el("button", { type: "button", class: "ack-button" }, "Acknowledge");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      applyAck(await call("POST", `/alerts/${path(alert.id)}/ack`));
    } catch (failure) {
      button.disabled = false;
      sayFailure($("live-status"), failure);
    }
  });
  return button;
}

/** A crop or snapshot thumbnail (fetched once per alert and picture; the close event keeps the update's). */
function picture(alert, which) {
  const img = el("img", { alt: `${which} of ${alert.last.entry ? alert.last.entry.label : "alert"}`, class: which });
  const url = alert.last[`${which}_url`];
  if (!url) return el("span", { class: `no-picture ${which}` }, `no ${which}`);
  const key = `${alert.id}/${which}`;
  const known = live.urls.get(key);
  if (known) img.src = known;
  else if (!live.pending.has(key)) loadPicture(key, url.replace(/^\/api\/v1/, ""));
  return img;
}

/** Fetch a picture once, then show it in every row or page of its alert that waits for it. */
async function loadPicture(key, apiPath) {
  const [alertId, which] = key.split("/");
  const shown = () => document.querySelectorAll(`[data-alert-id="${CSS.escape(alertId)}"] img.${which}`);
  live.pending.add(key);
  try {
    const url = URL.createObjectURL(await call("GET", apiPath, { blob: true }));
    forgetUrl(key);
    live.urls.set(key, url);
    for (const img of shown()) img.src = url;
  } catch {
    for (const img of shown()) img.replaceWith(el("span", { class: "no-picture" }, `no ${which}`));
  } finally {
    live.pending.delete(key);
  }
}

function forgetUrl(key) {
  const url = live.urls.get(key);
  if (url) URL.revokeObjectURL(url);
  live.urls.delete(key);
}

/** Show only the rows that pass the camera, kind and label filters. */
function filterRow(row) {
  const camera = $("live-camera").value;
  const kind = $("live-kind").value;
  const label = $("live-label").value.trim().toLowerCase();
  row.hidden = Boolean(
    (camera && row.dataset.camera !== camera) || (kind && row.dataset.kind !== kind) ||
      (label && !row.dataset.label.includes(label)),
  );
}

function filterFeed() {
  for (const row of $("live-feed").children) filterRow(row);
}

// ---- the camera grid ----

function applyCamera(camera) {
  const known = live.cameras.get(camera.camera);
  const card =
    (known && known.card) ||
    el(
      "figure",
      { class: "camera-card", "data-camera": camera.camera },
      el("img", { alt: `${camera.camera}, latest keyframe` }),
    );
  card.className = `camera-card state-${camera.state}`;
  const caption = el(
    "figcaption",
    {},
    el("strong", {}, camera.camera),
    el("span", { class: "state" }, camera.state),
    el("span", { class: "help" }, camera.reason || `since ${fmtTime(camera.since)}`),
  );
  const old = card.querySelector("figcaption");
  if (old) old.replaceWith(caption);
  else card.append(caption);
  if (!known) {
    $("live-cameras").append(card);
    $("live-camera").append(el("option", { value: camera.camera }, camera.camera));
  }
  live.cameras.set(camera.camera, { data: camera, card });
  if (!known) refreshThumbnail(camera.camera);
}

async function refreshThumbnail(name) {
  const camera = live.cameras.get(name);
  if (!camera) return;
  const img = camera.card.querySelector("img");
  try {
    const url = URL.createObjectURL(await call("GET", `/cameras/${path(name)}/latest.jpg`, { blob: true }));
    forgetUrl(`camera/${name}`);
    live.urls.set(`camera/${name}`, url);
    img.src = url;
    img.hidden = false;
  } catch {
    img.hidden = true; // no keyframe yet (404): the state says why
  }
}

function refreshThumbnails() {
  if ($("view-live").hidden) return;
  for (const name of live.cameras.keys()) refreshThumbnail(name);
}

// ---- one alert's page ----

async function openAlert(alertId) {
  show("alert");
  let alert = live.alerts.get(alertId);
  if (!alert) {
    try {
      const rows = (await call("GET", "/alerts?limit=1000")).alerts.filter((a) => a.alert_id === alertId);
      for (const row of rows.reverse()) applyAlert(row, false);
    } catch (failure) {
      sayFailure($("alert-status"), failure);
      return;
    }
    alert = live.alerts.get(alertId);
  }
  if (!alert) {
    say($("alert-status"), "error", `alert ${alertId} is not in the history`);
    $("alert-title").textContent = "Alert";
    $("alert-body").replaceChildren();
    return;
  }
  $("alert-status").replaceChildren();
  renderAlertPage(alert);
}

function renderAlertPage(alert) {
  const { last } = alert;
  $("alert-title").textContent = `${last.entry ? last.entry.label : "unknown"} on ${last.camera}`;
  const facts = [
    ["State", alertState(alert)],
    ["Kind", last.kind],
    ["Entry", last.entry ? el("a", { href: entryHash(last.entry.id) }, last.entry.label) : "—"],
    ["Opened", fmtTime(alert.first.frame_time)],
    ["Last event", `${last.event} at ${fmtTime(last.frame_time)}`],
    ["Score", `${fmtScore(last.score)} (threshold ${fmtScore(last.threshold)})`],
    ["Alert id", alert.id],
  ];
  const terms = facts.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]);
  const list = el("dl", { class: "facts" }, ...terms);
  const pictures = el(
    "div",
    { class: "pictures large", "data-alert-id": alert.id },
    picture(alert, "crop"),
    picture(alert, "snapshot"),
  );
  $("alert-body").replaceChildren(list, el("p", {}, ackControl(alert)), pictures);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["live-camera", "live-kind", "live-label"]) $(id).addEventListener("input", filterFeed);
  $("alert-back").addEventListener("click", () => go("#/live"));
});
