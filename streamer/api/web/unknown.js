// Unknown faces on the admin page: the strangers the node has clustered (GET /api/v1/unknown), each with its best
// crop, how often and where it was seen, and, for admins, "add to watchlist" as a new face entry or into an existing
// one (POST /api/v1/unknown/{id}/promote). Loaded after app.js, whose helpers it uses ($, call, el, say, sayFailure,
// fmtTime, path, entryHash). Crops need the bearer header, so each is fetched as a blob and shown through an object
// URL, revoked when the list is drawn again or on sign-out (forgetUnknown). Server strings go in as text, never markup.
"use strict";

const unknownUrls = [];

function forgetUnknown() {
  for (const url of unknownUrls.splice(0)) URL.revokeObjectURL(url);
}

/** A crop of a cluster (its API path, as the server lists it), fetched with the token. */
function cropImage(cluster, crop) {
  const img = el("img", { alt: `${cluster.label}, seen on ${crop.camera}`, width: 120, height: 120 });
  call("GET", crop.path.replace(/^\/api\/v1/, ""), { blob: true })
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      unknownUrls.push(url);
      img.src = url;
    })
    .catch((failure) => img.replaceWith(el("span", { class: "message error" }, `${failure.code}: ${failure.message}`)));
  return img;
}

/** The admin's form: a new entry's label, or an existing face entry's id. */
function promoteForm(cluster) {
  const named = `Name for ${cluster.label}`;
  const label = el("input", { name: "label", placeholder: "new entry's name", "aria-label": named });
  const entry = el("input", { name: "entry_id", placeholder: "or an entry id", "aria-label": "Existing entry id" });
  const result = el("div", { class: "result", role: "status" });
  const form = el(
    "form",
    { class: "panel admin-only promote", "data-cluster": cluster.id },
    label,
    entry,
    el("button", { type: "submit" }, "Add to watchlist"),
    result,
  );
  form.addEventListener("submit", (event) => promote(event, cluster, label, entry, result));
  return form;
}

async function promote(event, cluster, label, entry, result) {
  event.preventDefault();
  const body = entry.value.trim() ? { entry_id: entry.value.trim() } : { label: label.value.trim() };
  if (!body.entry_id && !body.label) {
    say(result, "error", "Give a name for a new entry, or the id of an existing face entry.");
    return;
  }
  say(result, "info", "Adding…");
  let answer;
  try {
    answer = await call("POST", `/unknown/${path(cluster.id)}/promote`, { body });
  } catch (failure) {
    sayFailure(result, failure);
    return;
  }
  const stored = answer.enrolled.entry;
  const link = el("a", { href: entryHash(stored.id) }, stored.label);
  say(result, "ok", `${cluster.label}: ${answer.enrolled.added.length} crop(s) stored in `, link, ".");
}

function clusterCard(cluster) {
  const seen = `${cluster.count} sighting(s), ${fmtTime(cluster.first_seen)} to ${fmtTime(cluster.last_seen)}`;
  const caption = el(
    "figcaption",
    {},
    el("strong", {}, cluster.label),
    el("span", {}, seen),
    el("span", {}, `cameras: ${cluster.cameras.join(", ") || "—"}`),
  );
  const crops = cluster.crops.slice(0, 3).map((crop) => cropImage(cluster, crop));
  return el("figure", { class: "cluster", "data-cluster": cluster.id }, ...crops, caption, promoteForm(cluster));
}

async function loadUnknown() {
  const status = $("unknown-status");
  let answer;
  try {
    answer = await call("GET", "/unknown");
  } catch (failure) {
    sayFailure(status, failure, { nothing: "" });
    return;
  }
  forgetUnknown();
  const clusters = answer;
  const count = clusters.length ? `${clusters.length} stranger(s), most recently seen first.` : "No stranger seen.";
  say(status, "info", count);
  $("unknown-clusters").replaceChildren(...clusters.map(clusterCard));
}

document.addEventListener("DOMContentLoaded", () => {
  $("refresh-unknown").addEventListener("click", loadUnknown);
});
