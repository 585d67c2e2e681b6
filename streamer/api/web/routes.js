// Deep links and Back/Forward: every view has a hash (#/watchlist, #/live, #/entries/<id>, #/alerts/<id>), so a
// view can be bookmarked or shared, and the browser's history moves between views. Loaded last: it routes to
// show (app.js), openEntry (entry.js) and openAlert (live.js); app.js calls route() once signed in.
"use strict";

/** Go to a view by its hash (a new history entry); the same hash again reloads the view. */
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** Show what the hash names; an unknown or empty one shows the watchlist. Nothing while signed out. */
function route() {
  if ($("nav").hidden) return Promise.resolve();
  const [, where, id] = location.hash.match(/^#\/([a-z]+)(?:\/(.+))?$/) || [];
  if (where === "entries" && id) return openEntry(decodeURIComponent(id));
  if (where === "alerts" && id) return openAlert(decodeURIComponent(id));
  if (where && !id && Object.hasOwn(loaders, where) && where !== "entry" && where !== "alert") return show(where);
  return show("watchlist");
}

window.addEventListener("hashchange", route);
