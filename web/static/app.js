// Hearth's own script: keyboard navigation, filters that apply themselves, and the codec
// probes the player (player.js) sends to the server.  No inline scripts anywhere.
"use strict";

// What this browser decodes, asked the way players ask; the server decides from the answer.
const VIDEO_PROBES = {
  h264: ['video/mp4; codecs="avc1.640028"'],
  hevc: ['video/mp4; codecs="hvc1.1.6.L120.90"', 'video/mp4; codecs="hev1.1.6.L120.90"'],
  vp9: ['video/webm; codecs="vp9"', 'video/mp4; codecs="vp09.00.10.08"'],
  av1: ['video/mp4; codecs="av01.0.05M.08"'],
  vp8: ['video/webm; codecs="vp8"'],
};
const TEN_BIT_PROBES = {
  hevc: ['video/mp4; codecs="hvc1.2.4.L120.90"'],
  vp9: ['video/mp4; codecs="vp09.02.10.10"'],
  av1: ['video/mp4; codecs="av01.0.05M.10"'],
};
const AUDIO_PROBES = {
  aac: ['audio/mp4; codecs="mp4a.40.2"'],
  mp3: ["audio/mpeg"],
  opus: ['audio/webm; codecs="opus"', 'audio/mp4; codecs="opus"'],
  vorbis: ['audio/webm; codecs="vorbis"'],
  flac: ['audio/mp4; codecs="flac"', "audio/flac"],
  ac3: ['audio/mp4; codecs="ac-3"'],
  eac3: ['audio/mp4; codecs="ec-3"'],
};
// Containers the <video> element opens by itself (direct play), so canPlayType only.
const CONTAINER_PROBES = {
  mp4: 'video/mp4; codecs="avc1.640028"',
  m4v: 'video/mp4; codecs="avc1.640028"',
  webm: 'video/webm; codecs="vp9"',
  mkv: 'video/x-matroska; codecs="avc1.640028"',
  mov: 'video/quicktime; codecs="avc1.640028"',
  ts: 'video/mp2t; codecs="avc1.640028"',
};

function decodes(video, types) {
  return types.some((t) => video.canPlayType(t) !== "" || (window.MediaSource && MediaSource.isTypeSupported(t)));
}

function capabilities(video) {
  const pick = (probes) => Object.keys(probes).filter((name) => decodes(video, probes[name]));
  const containers = Object.keys(CONTAINER_PROBES).filter((name) => video.canPlayType(CONTAINER_PROBES[name]) !== "");
  return new URLSearchParams({
    profile: "browser",
    vcodec: pick(VIDEO_PROBES).join(","),
    ten_bit: pick(TEN_BIT_PROBES).join(","),
    acodec: pick(AUDIO_PROBES).join(","),
    container: containers.join(","),
    file_id: video.dataset.fileId,
  });
}

// Spatial navigation, as a TV remote's arrows expect it: from what has the focus to the
// nearest focusable thing in that direction, anywhere on the page (cards, buttons, links,
// form fields).  The player keeps its own arrows (seek, volume) and a menu list its own.
const FOCUSABLE = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea, [tabindex]:not([tabindex='-1'])";

function focusables() {
  return Array.from(document.querySelectorAll(FOCUSABLE)).filter((el) =>
    el.offsetParent !== null && !el.closest("[data-player], [role=menu], .skip") && el.getClientRects().length);
}

// Returns whether the focus moved.  ``within``: only to things inside that element.
function moveFocus(direction, within = null) {
  const current = document.activeElement;
  const all = focusables().filter((el) => !within || within.contains(el));
  if (!all.includes(current)) {
    // Nothing chosen yet: start in the page's content, not in the header.
    const start = document.querySelector("[autofocus]") || all.find((el) => el.closest("main")) || all[0];
    if (start) start.focus();
    return !!start;
  }
  const from = current.getBoundingClientRect();
  const horizontal = direction === "ArrowLeft" || direction === "ArrowRight";
  const centre = (r) => [r.left + r.width / 2, r.top + r.height / 2];
  const [cx, cy] = centre(from);
  const nearest = (candidates) => {
    let best = null, bestScore = Infinity;
    for (const el of candidates) {
      if (el === current || el.contains(current) || current.contains(el)) continue;
      const to = el.getBoundingClientRect();
      const [tx, ty] = centre(to);
      const ahead = { ArrowRight: tx - cx, ArrowLeft: cx - tx, ArrowDown: ty - cy, ArrowUp: cy - ty }[direction];
      if (ahead <= 1) continue;
      const gap = Math.max(0, { ArrowRight: to.left - from.right, ArrowLeft: from.left - to.right,
        ArrowDown: to.top - from.bottom, ArrowUp: from.top - to.bottom }[direction]);
      // How far apart the two are across the direction: 0 when they overlap (same row or column).
      const apart = horizontal ? Math.max(0, to.top - from.bottom, from.top - to.bottom)
        : Math.max(0, to.left - from.right, from.left - to.right);
      // Left and right stay in the row, as on a TV: at a row's end they do nothing rather
      // than jump to whatever lies up or down the page.
      if (horizontal && apart > 0) continue;
      // Going up or down, a step to the side costs a little.
      const score = gap + apart * 1.5 + Math.abs(horizontal ? ty - cy : tx - cx) * 0.25;
      if (score < bestScore) { bestScore = score; best = el; }
    }
    return best;
  };
  // The sticky header is always near on screen: it is reached only when the page's content
  // has nothing more in that direction.
  const inHeader = (el) => !!el.closest("header");
  const best = inHeader(current) ? nearest(all) : nearest(all.filter((el) => !inHeader(el))) || nearest(all);
  if (best) { best.focus(); best.scrollIntoView({ block: "nearest", inline: "nearest" }); }
  return !!best;
}

// The folder browser (admins, _folder_browser.html): ↓/↑ move between folders, → opens
// one, ← goes up; "Use" adds a folder to the form's chosen folders, "Remove" takes it out.
function folderKeys(event) {
  const browser = event.target.closest("[data-folder-browser]");
  if (!browser) return false;
  const entries = Array.from(browser.querySelectorAll("[data-folder-entry]"));
  const at = entries.indexOf(event.target.closest("[data-folder-entry]"));
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const step = event.key === "ArrowDown" ? 1 : -1;
    const next = entries[at < 0 ? (step > 0 ? 0 : entries.length - 1) : at + step];
    if (!next) return false; // past the list's ends: the page's own arrows go on from here
    next.focus();
    next.scrollIntoView({ block: "nearest" });
    return true;
  }
  if (event.key === "ArrowRight" && at >= 0) { entries[at].click(); return true; }
  if (event.key === "ArrowLeft") { browser.querySelector("[data-folder-up]")?.click(); return true; }
  return false;
}

function pickFolder(button) {
  const list = button.closest("form")?.querySelector("[data-chosen-folders]");
  if (!list) return;
  const path = button.dataset.pick;
  const chosen = Array.from(list.querySelectorAll("input[name=folder]")).find((input) => input.value === path);
  if (chosen) { chosen.closest("li").querySelector("button").focus(); return; }
  const item = document.createElement("li");
  const label = Object.assign(document.createElement("span"), { className: "path", textContent: path });
  const input = Object.assign(document.createElement("input"), { type: "hidden", name: "folder", value: path });
  const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "Remove" });
  remove.setAttribute("aria-label", `Remove ${path}`);
  item.append(label, input, remove);
  list.append(item);
}

document.addEventListener("click", (event) => {
  const pick = event.target.closest("[data-pick]");
  if (pick) { pickFolder(pick); return; }
  // A chosen folder's only button is its Remove (made here or by the template alike).
  const unpick = event.target.closest("[data-chosen-folders] li > button");
  if (unpick) {
    const item = unpick.closest("li");
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    (next?.querySelector("button") || document.querySelector("[data-folder-browser] button"))?.focus();
  }
});

// After the browser opens a folder (or goes up), keep the keyboard in it: focus the folder
// we came from, else the first one.
let folderFocus = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  // Only the browser's own requests: another htmx request meanwhile (a poll, the search
  // box) must not make the browser forget where the focus goes.
  const browser = event.target.closest?.("[data-folder-browser]");
  if (browser) folderFocus = { from: browser.dataset.path || "" };
});
document.addEventListener("htmx:afterSwap", () => {  // the same task as the swap: no key is lost
  if (!folderFocus) return;
  const browser = document.querySelector("[data-folder-browser]");
  const entries = browser ? Array.from(browser.querySelectorAll("[data-folder-entry]")) : [];
  const target = entries.find((e) => e.dataset.path === folderFocus.from) || entries[0]
    || browser?.querySelector("[data-pick], [data-folder-up]");
  folderFocus = null;
  target?.focus();
});

// The search box's results (the panel under the header, or the search page's own): ↓ from
// the box goes into them, the arrows move between them and stay in them, ↑ from the top row
// goes back to the box, Escape closes the panel.
const searchBox = () => document.getElementById("search-box");
const panel = () => document.getElementById("search-results");
const searchResults = () =>
  document.querySelector("#search-results [data-search-results]") || document.querySelector("main [data-search-results]");
const firstResult = () => {
  const results = searchResults();
  return results ? focusables().find((el) => results.contains(el)) : undefined;
};
let focusResultsWhenShown = false; // ↓ came before the answer did

function enterResults(box) {
  const first = firstResult();
  if (first) { first.focus(); first.scrollIntoView({ block: "nearest" }); return; }
  if (box.value.trim() && window.htmx) { focusResultsWhenShown = true; htmx.trigger(box, "search"); }
}

function closeResults() {
  const open = panel();
  if (!open || !open.firstElementChild) return false;
  open.replaceChildren();
  return true;
}

function searchKeys(event) {
  const box = searchBox();
  if (!box) return false;
  if (event.target === box) {
    if (event.key === "ArrowDown") { event.preventDefault(); enterResults(box); return true; }
    if (event.key === "Escape") { if (!closeResults()) box.blur(); event.preventDefault(); return true; }
    return false;
  }
  const results = searchResults();
  if (!results || !results.contains(event.target)) return false;
  if (event.key === "Escape") { event.preventDefault(); closeResults(); box.focus(); return true; }
  if (["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(event.key)) {
    event.preventDefault();
    if (!moveFocus(event.key, results) && event.key === "ArrowUp") box.focus();
    return true;
  }
  return false;
}

// New results replace the old ones: whoever was moving through the old ones (or pressed ↓
// before they came) carries on at the first new one.  Typing again forgets a pending ↓.
let resultsHadFocus = false;
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.target === panel()) resultsHadFocus = panel().contains(document.activeElement);
});
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target !== panel()) return;
  const first = firstResult();
  if ((resultsHadFocus || focusResultsWhenShown) && first) first.focus();
  resultsHadFocus = focusResultsWhenShown = false;
});
document.addEventListener("input", (event) => {
  if (event.target === searchBox()) focusResultsWhenShown = false;
});

document.addEventListener("keydown", (event) => {
  if (searchKeys(event)) return;
  const target = event.target;
  const typing = target.matches("input:not([type=checkbox]):not([type=radio]):not([type=range]), textarea");
  const search = document.getElementById("search-box"); // not on the sign-in page
  if (event.key === "/" && !typing && search) { event.preventDefault(); search.focus(); return; }
  if (event.key === "Escape" && typing) { target.blur(); return; }
  // A closed menu (<select>) is passed over by the arrows like a button; OK opens it, and
  // then the arrows choose inside it.  (Arrows on a closed one would change it unseen.)
  if (event.key === "Enter" && target.matches("select") && target.showPicker) {
    event.preventDefault();
    try { target.showPicker(); } catch (error) { /* not from this event: Space still opens it */ }
    return;
  }
  // OK on a tick box (a filter) ticks it, as Space does.
  if (event.key === "Enter" && target.matches("input[type=checkbox]")) { event.preventDefault(); target.click(); return; }
  if (!typing && folderKeys(event)) { event.preventDefault(); return; }
  if (!["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(event.key)) return;
  // The player (player.js) has its own arrows: seek and volume; menus and sliders theirs.
  if (event.defaultPrevented || target.closest("[data-player], [role=menu]") || target.matches("input[type=range]")) return;
  // In a text box left and right move the caret; up and down leave it.
  if (typing && (event.key === "ArrowLeft" || event.key === "ArrowRight")) return;
  event.preventDefault();
  moveFocus(event.key);
});

// Rows of cards scroll with buttons at their ends (a mouse), as well as with arrows (focus
// follows) and swipes; the buttons show only where there is more to see.
function wireRow(row) {
  if (row.parentElement.classList.contains("row-wrap")) return;
  const wrap = document.createElement("div");
  wrap.className = "row-wrap";
  row.before(wrap);
  wrap.append(row);
  const button = (label, sign) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `row-scroll row-scroll-${sign < 0 ? "back" : "on"}`;
    b.tabIndex = -1; // keys move card by card; these are for pointers
    b.setAttribute("aria-label", label);
    b.textContent = sign < 0 ? "‹" : "›";
    b.addEventListener("click", () => row.scrollBy({ left: sign * row.clientWidth * 0.85, behavior: "smooth" }));
    wrap.append(b);
    return b;
  };
  const back = button("Scroll back", -1), on = button("Scroll on", 1);
  const update = () => {
    back.hidden = row.scrollLeft <= 2;
    on.hidden = row.scrollLeft + row.clientWidth >= row.scrollWidth - 2;
  };
  row.addEventListener("scroll", update, { passive: true });
  new ResizeObserver(update).observe(row);
  update();
}

// Filter forms apply themselves: menus on change, typed boxes once typing pauses.  Empty
// fields mean "no filter" and, like a menu left at its data-default, stay out of the
// address, so it reads (and shares) cleanly.
function submitFilters(form) {
  const idle = (el) => el.value === "" || el.value === el.dataset.default;
  const fields = Array.from(form.elements).filter((el) => el.name && !el.disabled && idle(el));
  fields.forEach((el) => { el.disabled = true; });
  form.submit();
  fields.forEach((el) => { el.disabled = false; }); // for a page restored from the back/forward cache
}

function init(root) {
  root.querySelectorAll(".row").forEach(wireRow);
  root.querySelectorAll("[data-autosubmit]").forEach((el) => {
    let timer = null;
    const apply = () => { clearTimeout(timer); if (el.checkValidity()) submitFilters(el.form); };
    el.addEventListener("change", apply);
    if (el.matches("input")) el.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 800); });
  });
}

// Requests that change something carry the session's CSRF token (the server checks it).
const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.verb !== "get") event.detail.headers["X-CSRF-Token"] = csrfToken();
});

// Panels folded on phones (the library's filters) stand open on wider screens.
function openWhenWide(root) {
  const wide = window.matchMedia("(min-width: 641px)");
  const panels = root.querySelectorAll("details[data-open-wide]");
  const apply = () => panels.forEach((panel) => { panel.open = wide.matches; });
  apply();
  wide.addEventListener("change", apply);
}

document.addEventListener("DOMContentLoaded", () => { init(document); openWhenWide(document); });
document.addEventListener("htmx:afterSwap", (event) => init(event.target));
