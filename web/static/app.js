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

function focusableCards() {
  return Array.from(document.querySelectorAll("[data-nav=card]")).filter((el) => el.offsetParent !== null);
}

// Arrow keys move between cards the way a TV remote would: to the nearest card in that direction.
function moveFocus(direction) {
  const cards = focusableCards();
  const current = document.activeElement;
  if (!cards.includes(current)) { if (cards.length) cards[0].focus(); return; }
  const from = current.getBoundingClientRect();
  let best = null, bestScore = Infinity;
  for (const card of cards) {
    if (card === current) continue;
    const to = card.getBoundingClientRect();
    const dx = to.left - from.left, dy = to.top - from.top;
    const ok = { ArrowRight: dx > 5, ArrowLeft: dx < -5, ArrowDown: dy > 5, ArrowUp: dy < -5 }[direction];
    if (!ok) continue;
    const along = direction === "ArrowLeft" || direction === "ArrowRight" ? Math.abs(dx) : Math.abs(dy);
    const across = direction === "ArrowLeft" || direction === "ArrowRight" ? Math.abs(dy) : Math.abs(dx);
    const score = along + across * 3;
    if (score < bestScore) { bestScore = score; best = card; }
  }
  if (best) { best.focus(); best.scrollIntoView({ block: "nearest", inline: "nearest" }); }
}

document.addEventListener("keydown", (event) => {
  const typing = event.target.matches("input, select, textarea");
  if (event.key === "/" && !typing) { event.preventDefault(); document.getElementById("search-box").focus(); return; }
  if (event.key === "Escape" && typing) { event.target.blur(); return; }
  if (!typing && ["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(event.key)) {
    // The player (player.js) has its own arrows: seek and volume.
    if (event.defaultPrevented || event.target.closest("[data-player]")) return;
    event.preventDefault();
    moveFocus(event.key);
  }
});

// Filter forms apply themselves: menus on change, typed boxes once typing pauses.  Empty
// fields mean "no filter" and stay out of the address, so it reads (and shares) cleanly.
function submitFilters(form) {
  const fields = Array.from(form.elements).filter((el) => el.name && !el.disabled && el.value === "");
  fields.forEach((el) => { el.disabled = true; });
  form.submit();
  fields.forEach((el) => { el.disabled = false; }); // for a page restored from the back/forward cache
}

function init(root) {
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

document.addEventListener("DOMContentLoaded", () => init(document));
document.addEventListener("htmx:afterSwap", (event) => init(event.target));
