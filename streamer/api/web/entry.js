// One watchlist entry on the admin page: its facts, images, negative examples and history, and what an admin changes
// there (edit its fields, switch it off or on, add or delete images and negatives, remove it). Loaded after app.js,
// whose helpers it uses (call, el, say, sayFailure, sayStored, path, fmtTime, show, state); app.js opens an entry with
// openEntry and drops its thumbnails with forgetImages. As in app.js, every string from the server goes in as text, never markup.
"use strict";

function forgetImages() {
  for (const url of state.objectUrls) URL.revokeObjectURL(url);
  state.objectUrls = [];
}

function thumbnail(entryId, image, collection) {
  const img = el("img", { alt: `${image.source} (${image.width}×${image.height})`, width: 128, loading: "lazy" });
  call("GET", `/watchlist/${path(entryId, collection, String(image.id))}`, { blob: true })
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      state.objectUrls.push(url);
      img.src = url;
    })
    .catch((failure) => img.replaceWith(el("span", { class: "message error" }, `${failure.code}: ${failure.message}`)));
  const what = collection === "images" ? "reference image" : "negative example";
  const remove = el(
    "button",
    {
      type: "button",
      class: "link danger admin-only",
      "aria-label": `Delete ${what} #${image.id}`,
      onclick: () => removeImage(entryId, image, collection, what),
    },
    "Delete",
  );
  return el("figure", {}, img, el("figcaption", {}, `#${image.id} ${image.source}`), remove);
}

/** Delete one image or negative after a confirmation; the service refuses an entry's last reference image. */
async function removeImage(entryId, image, collection, what) {
  const result = $(`entry-${collection}-result`);
  if (!window.confirm(`Delete ${what} #${image.id} (${image.source})? This cannot be undone.`)) return;
  say(result, "info", "Deleting…"); // not the previous deletion's message while this one is under way
  try {
    await call("DELETE", `/watchlist/${path(entryId, collection, String(image.id))}`);
  } catch (failure) {
    sayFailure(result, failure, { wrote: true, nothing: "Nothing was deleted." });
    return;
  }
  await renderEntry();
  say(result, "ok", `Deleted ${what} #${image.id}.`);
}

async function openEntry(entryId) {
  state.entryId = entryId;
  const results = ["add-references-result", "add-negatives-result", "entry-images-result", "entry-negatives-result"];
  for (const id of [...results, "edit-entry-result", "entry-status"]) {
    $(id).replaceChildren();
  }
  show("entry");
  await renderEntry();
}

/** How an entry is matched: a person's posture, its trained head (few-shot adaptation) or cosine similarity. */
function matchedBy(entry, adaptation, posture) {
  if (posture) {
    return `posture, not its photos: a person lying down (within ${posture.lying_within_deg} degrees of flat), ` +
      `person score at least ${posture.threshold}` +
      (posture.after_standing_threshold > 0 ? ` (${posture.after_standing_threshold} where someone stood a keyframe before)` : "");
  }
  if (adaptation) {
    const share = (v) => (v === null ? "n/a" : `${(100 * v).toFixed(1)}%`);
    return `trained head (adaptation ${adaptation.version}, ${fmtTime(adaptation.trained_at)}): threshold ` +
      `${adaptation.threshold}, held-back recall ${share(adaptation.validation_recall)}, false positives ` +
      `${share(adaptation.validation_fpr)}` +
      (adaptation.concepts && adaptation.concepts.length
        ? `; or ImageNet: ${adaptation.concepts.join(", ")} at ${adaptation.concept_threshold} or more`
        : "");
  }
  return entry.kind === "anomaly" ? "cosine similarity (no trained head yet)" : "cosine similarity";
}

async function renderEntry() {
  const entryId = state.entryId;
  let detail;
  try {
    detail = await call("GET", `/watchlist/${path(entryId)}`);
  } catch (failure) {
    sayFailure($("entry-status"), failure);
    return;
  }
  const { entry, adaptation, posture, images, negatives, audit } = detail;
  state.entry = entry;
  forgetImages();
  $("entry-title").textContent = `${entry.label} (${entry.kind})`;
  const cosine = entry.threshold === null ? `${entry.effective_threshold} (the kind's default)` : `${entry.threshold}`;
  const otherwise = posture ? "posture" : adaptation ? "its trained head" : null;
  const facts = [
    ["Id", entry.id],
    ["Threshold", otherwise ? `${cosine}: cosine similarity, not used while matched by ${otherwise}` : cosine],
    ["Matched by", matchedBy(entry, adaptation, posture)],
    ...(adaptation && adaptation.advice ? [["Advice", adaptation.advice]] : []),
    ["Cameras", entry.cameras.length ? entry.cameras.join(", ") : "all"],
    ["Enabled", entry.enabled ? "yes" : "no (never matches)"],
    ["Notes", entry.notes || "—"],
    ["Created", fmtTime(entry.created_at)],
  ];
  const pairs = facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]);
  $("entry-facts").replaceChildren(...pairs);
  $("entry-toggle").textContent = entry.enabled ? "Disable entry" : "Enable entry";
  $("entry-toggle").dataset.enabled = String(entry.enabled);
  fillEditForm(entry);
  $("entry-images").replaceChildren(...images.map((i) => thumbnail(entry.id, i, "images")));
  const shownNegatives = negatives.map((i) => thumbnail(entry.id, i, "negatives"));
  if (!shownNegatives.length) shownNegatives.push(el("p", { class: "help" }, "None."));
  $("entry-negatives").replaceChildren(...shownNegatives);
  const cells = (a) => [el("td", {}, fmtTime(a.at)), el("td", {}, a.actor), el("td", {}, auditWhat(a))];
  const rows = audit.map((a) => el("tr", {}, ...cells(a)));
  $("entry-audit").querySelector("tbody").replaceChildren(...rows);
}

/** An audit row's action; for an update, each changed field's old and new value ("threshold 0.9 → default"). */
function auditWhat(record) {
  const changes = record.detail && record.detail.changes;
  if (!changes) return record.action;
  const shown = (value) => {
    if (value === null) return "default";
    if (Array.isArray(value)) return value.length ? value.join(", ") : "all";
    if (typeof value === "boolean") return value ? "yes" : "no";
    return value === "" ? "—" : String(value);
  };
  const parts = Object.entries(changes).map(([name, [before, after]]) => `${name} ${shown(before)} → ${shown(after)}`);
  return `${record.action}: ${parts.join("; ")}`;
}

// ---- changing it ----

/** Put the entry's current values in the edit form (after every load, so the form starts from what is stored). */
function fillEditForm(entry) {
  const fields = $("edit-entry").elements;
  fields.label.value = entry.label;
  fields.threshold.value = entry.threshold === null ? "" : String(entry.threshold);
  fields.cameras.value = entry.cameras.join(", ");
  fields.notes.value = entry.notes;
  fields.enabled.checked = entry.enabled;
}

/** The form's fields whose value differs from the entry as last loaded: exactly what the PATCH sends. An empty
 * threshold is null (the kind's default), empty cameras are [] (every camera). */
function editedFields(fields, entry) {
  const typed = {
    label: fields.label.value.trim(),
    threshold: fields.threshold.value.trim() === "" ? null : Number(fields.threshold.value),
    cameras: fields.cameras.value
      .split(",")
      .map((camera) => camera.trim())
      .filter(Boolean),
    notes: fields.notes.value.trim(),
    enabled: fields.enabled.checked,
  };
  const stored = (name) => (typeof entry[name] === "string" ? entry[name].trim() : entry[name]);
  const same = (name) => JSON.stringify(typed[name]) === JSON.stringify(stored(name));
  return Object.fromEntries(Object.entries(typed).filter(([name]) => !same(name)));
}

async function saveEdits(event) {
  event.preventDefault();
  const fields = event.target.elements;
  const result = $("edit-entry-result");
  const threshold = fields.threshold.value.trim();
  if (fields.threshold.validity.badInput || (threshold && !Number.isFinite(Number(threshold)))) {
    // the browser cannot hand over what was typed (a comma for a point, letters): say so rather than send "default"
    say(result, "error", "threshold: not a number (a cosine similarity such as 0.8; empty for the kind's default).");
    return;
  }
  const changes = editedFields(fields, state.entry);
  const names = Object.keys(changes);
  if (!names.length) {
    say(result, "info", "Nothing to change.");
    return;
  }
  say(result, "info", "Saving…");
  try {
    await call("PATCH", `/watchlist/${path(state.entryId)}`, { body: changes });
  } catch (failure) {
    sayFailure(result, failure, { wrote: true, nothing: "Nothing was changed." });
    return;
  }
  say(result, "ok", `Saved: ${names.join(", ")}.`);
  await renderEntry();
}

async function toggleEntry() {
  const enabled = $("entry-toggle").dataset.enabled !== "true";
  try {
    await call("PATCH", `/watchlist/${path(state.entryId)}`, { body: { enabled } });
    say($("entry-status"), "ok", enabled ? "Enabled." : "Disabled: it keeps its images and never matches.");
  } catch (failure) {
    sayFailure($("entry-status"), failure, { wrote: true, nothing: "Nothing was changed." });
  }
  await renderEntry();
}

async function removeEntry() {
  const label = $("entry-title").textContent;
  if (!window.confirm(`Remove ${label} with all its images? This cannot be undone.`)) return;
  try {
    const removed = await call("DELETE", `/watchlist/${path(state.entryId)}`);
    history.replaceState(null, "", "#/watchlist"); // Back never returns to a removed entry
    await show("watchlist");
    say($("entries-status"), "ok", `Removed ${removed.label}.`);
  } catch (failure) {
    sayFailure($("entry-status"), failure, { wrote: true });
  }
}

async function addToEntry(event, collection, what) {
  event.preventDefault();
  const form = event.target;
  const result = form.querySelector(".result");
  const data = new FormData();
  for (const file of form.elements.images.files) data.append("images", file, file.name);
  say(result, "info", "Uploading…");
  try {
    sayStored(result, await call("POST", `/watchlist/${path(state.entryId, collection)}`, { body: data }), what);
    form.reset();
  } catch (failure) {
    sayFailure(result, failure, { wrote: true });
  }
  await renderEntry();
}

document.addEventListener("DOMContentLoaded", () => {
  $("entry-back").addEventListener("click", () => go("#/watchlist"));
  $("edit-entry").addEventListener("submit", saveEdits);
  $("entry-toggle").addEventListener("click", toggleEntry);
  $("entry-remove").addEventListener("click", removeEntry);
  $("add-references").addEventListener("submit", (event) => addToEntry(event, "images", "image"));
  $("add-negatives").addEventListener("submit", (event) => addToEntry(event, "negatives", "negative"));
});
