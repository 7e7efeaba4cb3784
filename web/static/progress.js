// Viewing progress in the web UI: the player reports where you are, "Resume from" and
// "Start over", watched marks, and the same person's other devices kept in step (SSE).
"use strict";

(() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const REPORT_EVERY_S = 10;
  // Videos that have played on this page.  Kept here, not as an attribute on the video:
  // attributes are other scripts' selectors (player.js once sized "[data-played]").
  const playedHere = new WeakSet();

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
    const [h, m, sec] = hms.map((n) => String(n).padStart(2, "0"));
    return hms[0] ? `${hms[0]}:${m}:${sec}` : `${Number(m)}:${sec}`;
  }

  // -- the player reports -------------------------------------------------------------

  function reporter(video) {
    const url = `/api/v1/items/${video.dataset.itemId}/progress`;
    const box = video.closest("[data-player]");
    const position = () => (box && box.hearthPlayer ? box.hearthPlayer.position() : video.currentTime) || 0;
    let lastSent = -Infinity;
    let lastPosition = null; // what the server last heard from this page
    let started = false;
    // Marked watched on this page while it plays: its position would put the film back in
    // Continue watching, so it says nothing more until the viewer plays on after a pause or
    // seeks (then it is a rewatch).
    let settled = false;

    function send(state) {
      if (!started || settled) return; // nothing to say before the first play
      lastSent = performance.now();
      lastPosition = position();
      const body = JSON.stringify({ position_s: lastPosition, state });
      fetch(url, { method: "POST", body, keepalive: true,
        headers: { "content-type": "application/json", "x-csrf-token": csrf() } }).catch(() => {});
    }

    // A closing page cannot wait for fetch: a beacon carries the same fields as a form,
    // with the CSRF token in it (a beacon cannot set headers).
    // Only a position the server has not heard: a paused page re-sending its old one would
    // undo a "Mark watched" made since (here or on another device) when it closes.
    function beacon() {
      if (!started || settled) return;
      const at = position();
      if (lastPosition !== null && Math.abs(at - lastPosition) < 0.5) return;
      lastPosition = at;
      const form = new URLSearchParams({ position_s: String(at), state: video.paused ? "paused" : "stopped", csrf_token: csrf() });
      navigator.sendBeacon(url, new Blob([form.toString()], { type: "application/x-www-form-urlencoded" }));
    }

    video.addEventListener("play", () => { settled = false; });
    video.addEventListener("playing", () => { started = true; playedHere.add(video); send("playing"); });
    video.addEventListener("pause", () => { if (!video.ended) send("paused"); });
    video.addEventListener("seeked", () => { settled = false; send(video.paused ? "paused" : "playing"); });
    video.addEventListener("ended", () => send("stopped"));
    video.addEventListener("timeupdate", () => {
      if (!video.paused && performance.now() - lastSent > REPORT_EVERY_S * 1000) send("playing");
    });
    window.addEventListener("pagehide", beacon);
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") beacon(); });
    return { marked(watched) { settled = watched && started; } };
  }

  // -- playback events, for analytics --------------------------------------------------

  // play, pause, resume, seek (from/to), progress, quality, complete, stop, error: sent in
  // batches every 10 s, and the rest by beacon when the page closes.
  function eventLog(video) {
    const url = "/api/v1/playback/events";
    const box = video.closest("[data-player]");
    const itemId = Number(video.dataset.itemId);
    const position = () => (box && box.hearthPlayer ? box.hearthPlayer.position() : video.currentTime) || 0;
    let queue = [];
    let played = false;
    let lastTime = 0;
    let seekFrom = null;
    let rung = null;

    function note(type, extra = {}) {
      const answer = box && box.hearthPlayer ? box.hearthPlayer.answer : null;
      queue.push({ type, item_id: itemId, position_s: Math.max(0, position()), at: new Date().toISOString(),
        session: answer ? answer.session : null, decision: video.dataset.decision || null,
        rung: video.dataset.level || (video.dataset.decision === "direct" ? "Original" : null), ...extra });
      if (queue.length >= 200) flush();
    }

    function flush() {
      if (!queue.length) return;
      const body = JSON.stringify({ events: queue });
      queue = [];
      fetch(url, { method: "POST", body, keepalive: true,
        headers: { "content-type": "application/json", "x-csrf-token": csrf() } }).catch(() => {});
    }

    function beacon() {
      if (!queue.length) return;
      const form = new URLSearchParams({ events: JSON.stringify({ events: queue }), csrf_token: csrf() });
      queue = [];
      navigator.sendBeacon(url, new Blob([form.toString()], { type: "application/x-www-form-urlencoded" }));
    }

    video.addEventListener("playing", () => { note(played ? "resume" : "play"); played = true; });
    video.addEventListener("pause", () => { if (!video.ended) note("pause"); });
    video.addEventListener("seeking", () => { if (seekFrom === null) seekFrom = lastTime; });
    video.addEventListener("seeked", () => {
      if (played && seekFrom !== null) note("seek", { from_s: Math.max(0, seekFrom), to_s: Math.max(0, position()) });
      seekFrom = null;
    });
    video.addEventListener("ended", () => note("complete"));
    video.addEventListener("error", () => note("error", { detail: (video.error && video.error.message || "playback failed").slice(0, 500) }));
    video.addEventListener("timeupdate", () => {
      if (!video.seeking) lastTime = position();
      const level = video.dataset.level || null;
      if (played && level !== rung) { if (rung !== null) note("quality"); rung = level; }
    });
    setInterval(() => { if (played && !video.paused) note("progress"); flush(); }, REPORT_EVERY_S * 1000);
    window.addEventListener("pagehide", () => { if (played) note("stop"); beacon(); });
  }

  // -- resume and start over ----------------------------------------------------------

  function showResume(panel, data) {
    const resumable = data.position_s > 0; // a rewatch too: watched before, under way again
    panel.hidden = !resumable;
    const play = document.querySelector("[data-action=play-item]"); // Play, when there is nothing to resume
    if (play) play.hidden = resumable;
    panel.dataset.position = String(data.position_s);
    const rewatching = panel.querySelector("[data-rewatching]");
    if (rewatching) rewatching.hidden = !(data.watched && data.position_s > 0);
    const label = panel.querySelector("[data-resume-time]");
    if (label) label.textContent = clock(data.position_s);
  }

  function wireResume(panel, video) {
    const box = video.closest("[data-player]");
    const playFrom = (at) => {
      panel.hidden = true;
      if (box && box.hearthPlayer) box.hearthPlayer.playFrom(at);
    };
    panel.querySelector("[data-action=resume]").addEventListener("click", () => playFrom(Number(panel.dataset.position) || 0));
    panel.querySelector("[data-action=start-over]").addEventListener("click", () => playFrom(0));
  }

  // -- watched marks ------------------------------------------------------------------

  function showWatched(button, watched) {
    button.setAttribute("aria-pressed", watched ? "true" : "false");
    button.textContent = watched ? button.dataset.labelOn : button.dataset.labelOff;
  }

  // Done: watched and not being watched again (a rewatch offers "Mark watched" to finish it).
  const done = (data) => data.watched && !(data.position_s > 0);

  function wireWatched(button, onMarked) {
    button.addEventListener("click", async () => {
      const watched = button.getAttribute("aria-pressed") !== "true";
      const response = await fetch(`/api/v1/items/${button.dataset.itemId}/watched`, {
        method: watched ? "POST" : "DELETE", headers: { "x-csrf-token": csrf() } });
      if (response.ok) {
        showWatched(button, watched);
        onMarked(button.dataset.itemId, watched);
      }
    });
  }

  // -- the same person's other devices ------------------------------------------------

  function listen(itemId, panel, video) {
    if (!window.EventSource) return;
    const events = new EventSource("/api/v1/events");
    events.addEventListener("progress", (message) => {
      const data = JSON.parse(message.data);
      if (String(data.item_id) !== String(itemId)) return;
      document.querySelectorAll(`[data-action=watched][data-item-id="${itemId}"]`).forEach((b) => showWatched(b, done(data)));
      // Once this page has played, its own position is the one that counts.
      if (panel && (!video || !playedHere.has(video))) showResume(panel, data);
    });
    window.addEventListener("pagehide", () => events.close());
  }

  document.addEventListener("DOMContentLoaded", () => {
    const video = document.getElementById("player");
    const panel = document.querySelector("[data-resume]");
    const reports = video && video.dataset.itemId ? reporter(video) : null;
    if (reports) eventLog(video);
    const onMarked = (itemId, watched) => {
      if (reports && itemId === video.dataset.itemId) reports.marked(watched);
    };
    document.querySelectorAll("[data-action=watched]").forEach((b) => wireWatched(b, onMarked));
    if (panel && video) wireResume(panel, video);
    const itemId = document.querySelector("[data-live-item]")?.dataset.liveItem;
    if (itemId) listen(itemId, panel, video);
  });
})();
