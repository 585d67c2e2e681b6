// Search footage on the admin page: the archived keyframes that look like an image (POST /api/v1/search), shown as a
// grid of thumbnails with camera, local time and score, best first. Loaded after app.js, whose helpers it uses ($,
// call, el, say, sayFailure, fmtTime, fmtScore); app.js calls forgetSearch on sign-out. A thumbnail needs the bearer
// header, so each is fetched as a blob and shown through an object URL, revoked when the next search replaces it.
// As in app.js, every string from the server goes in as text, never markup.
"use strict";

const searchUrls = [];
const API_PATH = "/api/v1"; // the prefix of a result's thumbnail path; call() adds the page-relative one itself

function forgetSearch() {
  for (const url of searchUrls.splice(0)) URL.revokeObjectURL(url);
}

/** A datetime-local value (the admin's local time, no zone) as ISO 8601 UTC, which the server reads unambiguously. */
function localToIso(value) {
  return new Date(value).toISOString();
}

/** One result: its thumbnail (fetched with the token), camera, local time and score. */
function keyframeCard(keyframe) {
  const when = fmtTime(keyframe.frame_time);
  const img = el("img", { alt: `${keyframe.camera}, ${when}`, width: 192, height: 108 });
  const thumbnailPath = keyframe.thumbnail.startsWith(`${API_PATH}/`)
    ? keyframe.thumbnail.slice(API_PATH.length)
    : `/archive/${encodeURIComponent(String(keyframe.id))}/thumbnail`;
  call("GET", thumbnailPath, { blob: true })
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      searchUrls.push(url);
      img.src = url;
    })
    .catch((failure) => img.replaceWith(el("span", { class: "message error" }, `${failure.code}: ${failure.message}`)));
  const caption = el(
    "figcaption",
    {},
    el("span", { class: "camera" }, keyframe.camera),
    el("span", {}, when),
    el("span", { class: "score" }, `score ${fmtScore(keyframe.score)}`),
  );
  return el("figure", { "data-keyframe-id": keyframe.id }, img, caption);
}

/** The form as the API's multipart fields: empty fields left out, times converted to UTC. */
function searchForm(fields) {
  const data = new FormData();
  const file = fields.image.files[0];
  data.append("image", file, file.name);
  const camera = fields.camera.value.trim();
  if (camera) data.append("camera", camera);
  for (const name of ["since", "until"]) if (fields[name].value) data.append(name, localToIso(fields[name].value));
  const topK = fields.top_k.value.trim();
  if (topK) data.append("top_k", topK);
  return data;
}

async function searchFootage(event) {
  event.preventDefault();
  const fields = event.target.elements;
  const result = $("search-result");
  if (fields.top_k.validity.badInput) {
    say(result, "error", "How many: not a whole number (1 to 100; empty for 20).");
    return;
  }
  const name = fields.image.files[0].name;
  const data = searchForm(fields);
  forgetSearch();
  say(result, "info", "Searching…");
  let found;
  try {
    found = await call("POST", "/search", { body: data });
  } catch (failure) {
    sayFailure(result, failure);
    return;
  }
  const results = [...found.results].sort((a, b) => b.score - a.score); // the server sends them best first already
  const heading = el("p", { class: "help" }, `${name}: ${results.length} keyframe(s), best first (${found.model})`);
  if (!results.length) {
    result.replaceChildren(heading, el("p", { class: "message info" }, "No keyframe looks like this."));
    return;
  }
  const grid = el("div", { id: "keyframes", class: "thumbs keyframes" }, ...results.map(keyframeCard));
  result.replaceChildren(heading, grid);
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", searchFootage);
});
