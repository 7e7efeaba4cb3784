// Styled subtitles: an ASS/SSA track drawn with its own fonts, colours and positions by
// libass (vendor/libass-wasm-4.2.4, Jellyfin's build of SubtitlesOctopus) in a worker
// (subtitles-ass-worker.js), on a canvas over the picture.  player.js loads this file the
// first time such a track is chosen and calls HearthStyledSubtitles.follow(player, track)
// whenever it shows subtitles.  The WebVTT version of the track stays chosen underneath:
// hidden once libass draws, shown again (with a word in the line under the player) when
// libass cannot start or stops.
"use strict";

window.HearthStyledSubtitles = (() => {
  const VENDOR = "/static/vendor/libass-wasm-4.2.4/";
  const FONT_BUDGET = 80 * 1024 * 1024; // the worker downloads every font before it draws
  let library = null; // subtitles-octopus.js, loaded once
  let current = null; // { player, url, renderer, drawing, failed, listening }

  function loadLibrary() {
    library = library || new Promise((resolve, reject) => {
      const script = Object.assign(document.createElement("script"), { src: `${VENDOR}subtitles-octopus.js` });
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => { library = null; reject(new Error("the renderer could not be loaded")); });
      document.head.append(script);
    });
    return library;
  }

  async function trackText(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`the server could not send the styled track (HTTP ${response.status})`);
    return response.text();
  }

  // The fonts the video carries, as many as fit the budget; none when they cannot be listed
  // (libass then draws with the fonts it has, which is still better than WebVTT).
  async function fontUrls(url) {
    if (!url) return [];
    try {
      const response = await fetch(url);
      if (!response.ok) return [];
      let total = 0;
      return (await response.json()).fonts.filter((font) => (total += font.size) <= FONT_BUDGET).map((font) => font.url);
    } catch (error) { return []; }
  }

  function hideWebVtt(player) {
    if (player.hls) player.hls.subtitleDisplay = false;
    else Array.from(player.video.textTracks).forEach((t) => { if (t.mode === "showing") t.mode = "hidden"; });
  }

  function say(player, note) {
    player.subtitleNote = note;
    player.describe();
  }

  function stop() {
    if (current && current.renderer) current.renderer.dispose();
    if (current) current.listening.abort();
    current = null;
  }

  // The ⚙ panel's subtitle timing (player-settings.js: seconds later, for every cue) moves
  // the drawing too; it is read on each time update and after each click on the player.
  function followTiming(state) {
    const sync = () => {
      const settings = state.player.box.hearthSettings;
      if (state.renderer && settings) state.renderer.timeOffset = -settings.offset;
    };
    const { signal } = state.listening;
    state.player.video.addEventListener("timeupdate", sync, { signal });
    state.player.box.addEventListener("click", sync, { signal });
    sync();
  }

  function fail(state, reason) {
    if (current !== state || state.failed) return;
    if (state.renderer) state.renderer.dispose();
    state.listening.abort();
    Object.assign(state, { renderer: null, drawing: false, failed: true });
    delete state.player.box.dataset.styledSubtitles;
    state.player.applySubtitle(); // the WebVTT version again
    say(state.player, `Subtitles without their styling: ${reason}.`);
  }

  // Resolves once libass has compiled, loaded the fonts and read the track: the worker holds
  // every request until then, so the answer to one ("get-styles") is the sign.
  function whenDrawing(renderer) {
    return new Promise((resolve) => {
      const answered = (event) => {
        if (!event.data || event.data.target !== "get-styles") return;
        renderer.worker.removeEventListener("message", answered);
        resolve();
      };
      renderer.worker.addEventListener("message", answered);
      renderer.worker.postMessage({ target: "get-styles" });
    });
  }

  async function start(state, track) {
    if (typeof WebAssembly !== "object" || typeof Worker !== "function") throw new Error("this browser cannot run the renderer");
    const [content, fonts] = await Promise.all([trackText(track.ass_url), fontUrls(state.player.answer.fonts_url), loadLibrary()]);
    if (current !== state) return;
    const worker = "/static/subtitles-ass-worker.js", fallback = `${VENDOR}default.woff2`;
    // The fallback font is also listed: with no font at all in its folder, fontconfig logs an
    // error (libass still draws, with the fallback).
    state.renderer = new SubtitlesOctopus({ video: state.player.video, subContent: content,
      fonts: [fallback, ...fonts], workerUrl: worker, legacyWorkerUrl: worker, fallbackFont: fallback });
    // Its own handler would throw after reporting; this one goes back to WebVTT instead, as
    // does a failure inside WebAssembly, which subtitles-ass-worker.js reports.
    state.renderer.worker.removeEventListener("error", state.renderer.workerError);
    state.renderer.worker.addEventListener("error", (event) => { event.preventDefault(); fail(state, "the renderer stopped"); });
    state.renderer.onCustomMessage = ({ data }) => { if (data.failed) fail(state, "the renderer stopped"); };
    followTiming(state);
    await whenDrawing(state.renderer);
    if (current !== state || state.failed) return;
    state.drawing = true;
    state.player.box.dataset.styledSubtitles = "";
    hideWebVtt(state.player);
  }

  // The chosen track (or none) after each change; the same track again only re-hides WebVTT.
  function follow(player, track) {
    const url = track ? track.ass_url : null;
    if (current && current.player === player && current.url === url) {
      if (current.drawing) hideWebVtt(player);
      return;
    }
    stop();
    delete player.box.dataset.styledSubtitles;
    if (player.subtitleNote) say(player, "");
    if (!url) return;
    const state = current = { player, url, renderer: null, drawing: false, failed: false, listening: new AbortController() };
    start(state, track).catch((error) => fail(state, error.message || "the renderer could not start"));
  }

  return { follow };
})();
