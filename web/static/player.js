// Hearth's player: the server decides (direct play, remux or transcode) from what app.js's
// capabilities() says this browser decodes; the file plays directly or through hls.js.
// Native HLS only where there is no Media Source Extensions (older iPhones): Chromium and
// Firefox always go through hls.js.  No inline scripts; the CSP forbids them.
"use strict";

(() => {
  const SEEK_STEP_S = 10;
  const VOLUME_STEP = 0.1;
  const IDLE_MS = 3000;
  const PING_MS = 20_000; // the engine stops jobs idle for 30 s
  const PING_FOR_MS = 10 * 60_000; // a viewer paused longer than this can wait for a restart
  const THUMB_WIDTH = 176; // previews are scaled down to this, whatever size the sprites are
  const RUNG_HEIGHTS = [2160, 1080, 720, 480, 360, 240]; // mediaserver/streaming/ladder.py
  const HLS_TYPE = "application/vnd.apple.mpegurl";
  const PHONE = window.matchMedia("(max-width: 640px)"); // app.css plays these in the whole window
  const UP_NEXT_S = 10; // the countdown before the next episode plays
  const WARM_BEFORE_END_S = 30; // the next episode's start is prepared while the credits run

  function clock(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
    const s = Math.floor(seconds % 60), m = Math.floor(seconds / 60) % 60, h = Math.floor(seconds / 3600);
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
  }

  function vttSeconds(stamp) {
    return stamp.split(":").reduce((total, part) => total * 60 + parseFloat(part), 0);
  }

  // Trickplay cues: "00:00:10.000 --> 00:00:20.000" then "sprite.jpg#xywh=160,0,160,90".
  function parseThumbnails(text, base) {
    const cues = [];
    for (const block of text.replace(/\r/g, "").split(/\n{2,}/)) {
      const lines = block.split("\n");
      const at = lines.findIndex((line) => line.includes("-->"));
      if (at < 0 || !lines[at + 1]) continue;
      const [from, to] = lines[at].split("-->").map((part) => vttSeconds(part.trim().split(/\s/)[0]));
      const [file, box] = lines[at + 1].trim().split("#xywh=");
      const [x, y, w, h] = (box || "").split(",").map(Number);
      if ([from, to, x, y, w, h].some((n) => !Number.isFinite(n))) continue;
      cues.push({ from, to, url: new URL(file, base).href, x, y, w, h });
    }
    return cues;
  }

  function retryAfterSeconds(headerValue) {
    const n = parseInt(headerValue || "", 10);
    return Number.isFinite(n) && n > 0 ? Math.min(n, 120) : 5;
  }

  function languageName(code) {
    if (!code || code === "und") return "";
    try {
      const name = new Intl.DisplayNames([navigator.language || "en"], { type: "language" }).of(code);
      return name || code;
    } catch (error) { return code; }
  }

  const SUBTITLE_FORMATS = { subrip: "SRT", ass: "ASS", ssa: "SSA", webvtt: "WebVTT", mov_text: "MP4 text",
    hdmv_pgs_subtitle: "PGS", dvd_subtitle: "DVD", dvb_subtitle: "DVB" };

  // "English (5.1)", "Commentary (English, stereo)", "French (forced)": a name and the
  // details the name does not already say ("Stereo" is not followed by "stereo").
  function trackParts(track, n) {
    const language = languageName(track.language);
    const name = track.title || language || `Track ${n + 1}`;
    const said = (word) => !word || name.toLowerCase().includes(word.toLowerCase());
    const layout = { 1: "mono", 2: "stereo", 6: "5.1", 8: "7.1" }[track.channels] || (track.channels ? `${track.channels} ch` : "");
    const extra = [said(language) ? "" : language, said(layout) ? "" : layout, track.forced && !said("forced") ? "forced" : ""];
    return { name, extra: extra.filter(Boolean) };
  }

  // Labels for a menu: two tracks that would read the same (an English subtitle inside the
  // file and another beside it) also say their format and where they come from.
  function trackLabels(tracks) {
    const text = ({ name, extra }) => (extra.length ? `${name} (${extra.join(", ")})` : name);
    const parts = tracks.map(trackParts);
    const plain = parts.map(text);
    return parts.map((part, n) => {
      if (plain.indexOf(plain[n]) === plain.lastIndexOf(plain[n])) return plain[n];
      const track = tracks[n];
      const where = track.kind === undefined ? "" : track.external ? "separate file" : "in the video";
      const format = track.kind === undefined ? "" : SUBTITLE_FORMATS[track.codec] || (track.codec || "").toUpperCase();
      return text({ name: part.name, extra: [...part.extra, format, where, track.kind === undefined ? `track ${n + 1}` : ""].filter(Boolean) });
    });
  }

  class Player {
    constructor(box) {
      this.box = box;
      this.video = box.querySelector("video");
      this.decisionLine = document.getElementById("player-decision");
      this.seekInput = box.querySelector("[data-seek-input]");
      // The player's own hooks all carry its prefixes (data-seek-*, data-player-*): another
      // script's state attribute on the video once matched "[data-played]" here and the
      // picture, not the bar, was sized to the share played.
      this.playedBar = box.querySelector("[data-seek] [data-seek-played]");
      this.bufferedBar = box.querySelector("[data-seek] [data-seek-buffered]");
      this.hls = null;
      this.answer = null;
      this.choice = { audio: null, subtitle: null, maxHeight: null, fileId: null };
      this.freshChoice = false; // a new version: the server picks its tracks again
      // null: what the server chose (direct play when it can, else its first variant);
      // "auto": hls.js's adaptive choice; else the name of a level ("720p", "Original").
      this.quality = null;
      this.loadWanted = false; // hls.js loads segments only once the viewer presses play
      this.tokenRenewed = false;
      this.mediaRecoveries = 0;
      this.thumbnails = null;
      this.retryTimer = null;
      box.hearthPlayer = this; // for the browser tests and the console
      this.wireControls();
      this.wireItemPage();
      const autoplay = new URLSearchParams(location.search).get("autoplay") === "1";
      if (autoplay) history.replaceState(history.state, "", location.pathname); // not again on reload
      this.load({ play: autoplay }).then(() => { if (autoplay) this.present(); });
    }

    // -- the server's answer ----------------------------------------------------------

    playbackUrl() {
      const query = capabilities(this.video); // from app.js
      const fileId = this.choice.fileId ?? (this.answer && this.answer.file_id);
      if (fileId) query.set("file_id", fileId);
      if (this.choice.audio !== null) query.set("audio", this.choice.audio);
      // After the first answer the choice is the viewer's, "off" included ("subtitle=");
      // before it (or for a new version), the server starts with the viewer's preferences.
      if (this.answer && !this.freshChoice) query.set("subtitle", this.choice.subtitle ?? "");
      if (this.choice.maxHeight) query.set("max_height", this.choice.maxHeight);
      return `/api/v1/items/${this.video.dataset.itemId}/playback?${query}`;
    }

    async load({ resumeAt = 0, play = false }) {
      clearTimeout(this.retryTimer);
      let response, answer;
      try {
        response = await fetch(this.playbackUrl());
        answer = await response.json().catch(() => ({}));
      } catch (error) {
        this.fail("Hearth's server cannot be reached; check the connection and try again.");
        return;
      }
      if (response.status === 503) {
        this.busy(retryAfterSeconds(response.headers.get("Retry-After")), resumeAt, play);
        return;
      }
      if (!response.ok) {
        const why = answer.detail || response.statusText || `HTTP ${response.status}`;
        this.fail(response.status === 404 ? `This file is no longer in the library (${why}).`
          : `The server could not say how to play this file: ${why}`);
        return;
      }
      if (this.answer && this.answer.session && this.answer.session !== answer.session) {
        this.stopSession(this.answer.session);
      }
      this.answer = answer;
      this.freshChoice = false;
      this.choice.audio = answer.decision.audio_index ?? null;
      this.choice.subtitle = answer.decision.subtitle_index ?? null;
      this.video.dataset.decision = answer.decision.mode;
      this.describe();
      this.renderMarks();
      this.attach({ resumeAt, play });
    }

    reload(change) {
      Object.assign(this.choice, change);
      return this.load(this.resumeState());
    }

    stopSession(session) { this.tellSession(session, "stop"); }

    tellSession(session, what) {
      try {
        navigator.sendBeacon(`/api/v1/hls/sessions/${encodeURIComponent(session)}/${what}`);
      } catch (error) { /* the engine may not know the session any more: nothing to do */ }
    }

    // While paused, keep the stream's jobs from being stopped as idle, for a while.
    keepAlive() {
      clearInterval(this.pingTimer);
      const since = Date.now();
      this.pingTimer = setInterval(() => {
        const streaming = this.answer && this.answer.session && this.video.dataset.engine !== "direct";
        if (!this.video.paused || !streaming || Date.now() - since > PING_FOR_MS) clearInterval(this.pingTimer);
        else this.tellSession(this.answer.session, "ping");
      }, PING_MS);
    }

    // -- sources: the file itself, hls.js, or native HLS --------------------------------

    detach() {
      if (this.hls) { this.hls.destroy(); this.hls = null; }
      delete this.video.dataset.level;
      this.video.querySelectorAll("track").forEach((t) => t.remove());
      this.video.removeAttribute("src");
      this.video.load();
    }

    attach({ resumeAt, play }) {
      const answer = this.answer;
      this.detach();
      this.resumingAt = resumeAt || null; // shown on the seek bar until the new source is there
      this.hideError();
      const direct = answer.direct_url && this.quality === null;
      if (direct) {
        if (this.video.dataset.engine === "hls.js" && answer.session) this.stopSession(answer.session);
        this.setEngine("direct");
        this.video.src = answer.direct_url;
      } else if (!answer.hls_url) {
        this.fail(answer.message || "This file cannot be streamed.");
        return;
      } else if (window.Hls && Hls.isSupported()) {
        this.setEngine("hls.js");
        this.attachHls(answer.hls_url, resumeAt, play);
      } else if (this.video.canPlayType(HLS_TYPE)) {
        this.setEngine("native-hls");
        this.video.src = answer.hls_url;
      } else {
        this.fail("This browser can play neither the file nor an HLS stream of it.");
        return;
      }
      if (this.hls === null) {
        if (resumeAt) this.video.addEventListener("loadedmetadata", () => { this.video.currentTime = resumeAt; }, { once: true });
        this.applyExternalSubtitle();
        this.video.addEventListener("loadedmetadata", () => this.applySubtitle(), { once: true });
      }
      if (play) this.play();
      this.renderMenus();
      this.describe();
    }

    // The line under the player says what is playing now and why: the server's reasons for
    // what it chose, or what the viewer (or Auto) chose since.
    describe() {
      const answer = this.answer;
      if (!answer) return;
      const engine = this.video.dataset.engine, level = this.video.dataset.level || "";
      let line = answer.message;
      if (engine === "direct") {
        line = answer.message;
      } else if (level && level !== "Original") {
        const why = this.quality && this.quality !== "auto" ? `you chose ${this.quality}`
          : "Auto picked it for this connection";
        line = answer.decision.video === "copy" ? `Transcoding to ${level}: ${why}.`
          : `${answer.message} Playing at ${level}: ${why}.`;
      } else if (level === "Original" && answer.decision.mode === "direct") {
        line = "Streaming the original, nothing re-encoded: Auto starts from the best this browser plays as it is.";
      }
      this.decisionLine.textContent = this.subtitleNote ? `${line} ${this.subtitleNote}` : line;
    }

    setEngine(name) {
      this.video.dataset.engine = name;
      this.box.dataset.engine = name;
    }

    attachHls(url, resumeAt, play) {
      const retryUnlessHandled = (config, count, isTimeout, response, retry) =>
        response && [403, 500, 503].includes(response.code) ? false : retry;
      const policy = (base) => ({ default: { ...base, errorRetry: { ...base.errorRetry, shouldRetry: retryUnlessHandled } } });
      const defaults = Hls.DefaultConfig;
      const hls = new Hls({
        autoStartLoad: false,
        startPosition: resumeAt || -1,
        workerPath: this.box.dataset.worker || null,
        manifestLoadPolicy: policy(defaults.manifestLoadPolicy.default),
        playlistLoadPolicy: policy(defaults.playlistLoadPolicy.default),
        fragLoadPolicy: policy(defaults.fragLoadPolicy.default),
      });
      this.hls = hls;
      this.loadWanted = play;
      hls.on(Hls.Events.MANIFEST_PARSED, (event, data) => {
        // hls.js sorts levels by height; start on the variant the server listed (and
        // prepared) first, unless the viewer asked for a quality.
        const wanted = this.levelIndex(this.quality);
        hls.startLevel = wanted >= 0 ? wanted : data.firstLevel;
        if (wanted >= 0) hls.loadLevel = wanted;
        if (this.loadWanted) hls.startLoad(resumeAt || -1);
        this.renderMenus();
      });
      // hls.js picks its own track right after this event: choose ours once it has.
      hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => setTimeout(() => { this.applySubtitle(); this.renderMenus(); }));
      hls.on(Hls.Events.LEVEL_SWITCHED, (event, data) => {
        const level = hls.levels[data.level];
        this.video.dataset.level = level ? this.levelName(level) : "";
        this.renderMenus();
        this.describe();
      });
      hls.on(Hls.Events.FRAG_LOADED, () => { this.tokenRenewed = false; this.hideError(); });
      hls.on(Hls.Events.ERROR, (event, data) => this.onHlsError(data));
      hls.loadSource(url);
      hls.attachMedia(this.video);
    }

    levelName(level) {
      return (level.attrs && level.attrs.NAME) || (level.height ? `${level.height}p` : `${Math.round(level.bitrate / 1000)} kb/s`);
    }

    levelIndex(name) {
      if (!name || name === "auto" || !this.hls) return -1;
      const levels = this.hls.levels;
      const exact = levels.findIndex((level) => this.levelName(level) === name);
      if (exact >= 0) return exact;
      const height = parseInt(name, 10); // "480p" when the server named it otherwise: nearest below
      let best = -1;
      levels.forEach((level, i) => { if (level.height <= height && (best < 0 || level.height > levels[best].height)) best = i; });
      return best;
    }

    onHlsError(data) {
      const code = data.response && data.response.code;
      if (code === 500 && data.frag) {
        // The server could not make this segment and will not for a while (it remembers):
        // asking again, here or in another quality, would only wait for the same answer.
        this.hls.stopLoad();
        this.fail("Part of this video could not be converted on the server, so playback stopped.");
        return;
      }
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        if (code === 503) {
          const { resumeAt, play } = this.resumeState();
          this.busy(retryAfterSeconds(this.header(data.networkDetails, "Retry-After")), resumeAt, play);
        } else if (code === 403 && !this.tokenRenewed) {
          this.tokenRenewed = true; // the signed URLs expired: ask for new ones, once
          this.reload({});
        } else if (code === 403) {
          this.fail("The stream's links expired and could not be renewed; reload the page.");
        } else if (code === 404 || code === 410) {
          this.fail(`The server no longer has this stream (HTTP ${code}); try again to start a new one.`);
        } else if (code) {
          this.fail(`The server could not send the stream (HTTP ${code}).`);
        } else {
          this.fail("The server stopped answering while the stream was loading.");
        }
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && this.mediaRecoveries < 2) {
        this.mediaRecoveries += 1; // what hls.js recommends: recover, then swap audio codec
        if (this.mediaRecoveries === 2) this.hls.swapAudioCodec();
        this.hls.recoverMediaError();
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        this.fail("This browser could not decode the stream.");
      } else {
        this.fail(`Playback stopped (${data.details}).`);
      }
    }

    header(details, name) {
      if (!details) return null;
      if (typeof details.getResponseHeader === "function") return details.getResponseHeader(name);
      if (details.headers && typeof details.headers.get === "function") return details.headers.get(name);
      return null;
    }

    onVideoError() {
      const error = this.video.error;
      if (!error || this.hls || !this.video.getAttribute("src")) return;
      if (this.video.dataset.engine === "direct" && this.answer.hls_url && error.code !== error.MEDIA_ERR_ABORTED) {
        this.quality = "auto"; // the file itself failed: the stream is the way left
        this.attach({ resumeAt: this.video.currentTime, play: !this.video.paused });
        this.decisionLine.textContent = `${this.answer.message} The browser could not open the file, so it streams instead.`;
        return;
      }
      const words = { 2: "the network failed while loading the video", 3: "this browser could not decode the video",
        4: "this browser cannot play this format" }[error.code] || "the video could not be played";
      this.fail(`Playback stopped: ${words}.`);
    }

    // -- states: busy, failed, buffering -------------------------------------------------

    busy(seconds, resumeAt, play) {
      clearTimeout(this.retryTimer);
      const tick = () => {
        if (seconds <= 0) { this.hideError(); this.load({ resumeAt, play }); return; }
        this.fail(`The server is busy with other streams; trying again in ${seconds} s.`, false);
        seconds -= 1;
        this.retryTimer = setTimeout(tick, 1000);
      };
      tick();
    }

    fail(text, offerRetry = true) {
      const box = this.box.querySelector(".player-error");
      box.querySelector("[data-error-text]").textContent = text;
      box.querySelector("[data-action=retry]").hidden = !offerRetry;
      box.hidden = false;
      this.box.dataset.failed = "";
      delete this.box.dataset.buffering;
    }

    hideError() {
      this.box.querySelector(".player-error").hidden = true;
      delete this.box.dataset.failed;
    }

    // -- transport ------------------------------------------------------------------------

    startLoading(at) {
      if (!this.hls || this.loadWanted) return;
      this.loadWanted = true;
      if (this.hls.levels.length) this.hls.startLoad(at || -1);
    }

    play() {
      this.startLoading(this.video.currentTime);
      const started = this.video.play();
      if (started) started.catch(() => { /* autoplay refused: the play button still works */ });
    }

    togglePlay() { if (this.video.paused || this.video.ended) this.play(); else this.video.pause(); }

    // "Resume from 12:34" and "Start over" (progress.js): start playing at a position.
    playFrom(seconds) {
      this.present();
      if (!this.answer) {
        // Pressed before the server said how to play the file: once the source is there.
        // (hls.js loads nothing until asked, so waiting for its metadata would wait forever.)
        this.video.addEventListener("loadstart", () => this.playFrom(seconds), { once: true });
        return;
      }
      if (!this.hls) {
        const go = () => { this.seekTo(seconds); this.play(); };
        if (this.video.readyState >= 1) go(); else this.video.addEventListener("loadedmetadata", go, { once: true });
        return;
      }
      const start = () => { this.loadWanted = true; this.resumingAt = seconds || null; this.hls.startLoad(seconds); this.play(); };
      if (this.loadWanted) { this.seekTo(seconds); this.play(); }
      else if (this.hls.levels.length) start();
      else this.hls.once(Hls.Events.MANIFEST_PARSED, start);
    }

    seekBy(seconds) { this.seekTo(this.position() + seconds); }

    position() { return this.resumingAt ?? this.video.currentTime ?? 0; }

    seekTo(seconds) {
      const end = this.duration();
      const at = Math.max(0, end ? Math.min(seconds, end - 0.1) : seconds);
      this.resumingAt = null;
      this.video.currentTime = at;
      this.startLoading(at);
    }

    duration() {
      const d = this.video.duration;
      return Number.isFinite(d) && d > 0 ? d : (this.answer && this.answer.duration_s) || 0;
    }

    setVolume(level) {
      this.video.volume = Math.max(0, Math.min(1, level));
      this.video.muted = this.video.volume === 0;
      try { localStorage.setItem("hearth.volume", String(this.video.volume)); } catch (error) { /* private mode */ }
    }

    // Play from the item page: the player comes into view, as large as the window allows,
    // and takes the keys (a TV remote's arrows seek, OK pauses).
    present() {
      const top = document.querySelector("header.top");
      const y = this.box.getBoundingClientRect().top + window.scrollY - (top ? top.offsetHeight : 0);
      window.scrollTo({ top: Math.max(0, y), behavior: "instant" });
      if (!this.box.contains(document.activeElement)) this.box.focus({ preventScroll: true });
    }

    // The item page around the player: its Play button and the version and track choices.
    wireItemPage() {
      const play = document.querySelector("[data-action=play-item]");
      if (play) play.addEventListener("click", () => { this.present(); this.play(); });
      document.querySelectorAll("[data-choose]").forEach((select) => select.addEventListener("change", () => {
        const value = select.value;
        if (select.dataset.choose === "file") {
          this.freshChoice = true;
          this.reload({ fileId: Number(value), audio: null, subtitle: null });
        } else if (select.dataset.choose === "audio") {
          if (Number(value) !== this.choice.audio) this.reload({ audio: Number(value) });
        } else {
          this.chooseSubtitle(value === "" ? null : Number(value));
        }
      }));
      const card = this.box.querySelector("[data-up-next]");
      if (!card) return;
      this.box.querySelector("[data-action=cancel-up-next]").addEventListener("click", () => this.cancelUpNext());
      this.video.addEventListener("timeupdate", () => {
        const left = this.duration() - this.position();
        if (this.duration() && left < WARM_BEFORE_END_S) this.warmNext();
      });
      this.video.addEventListener("ended", () => this.upNext());
      ["play", "seeking"].forEach((type) => this.video.addEventListener(type, () => { if (!this.video.ended) this.cancelUpNext(); }));
    }

    // The hero's Audio and Subtitles menus, filled from the server's answer like the player's.
    renderChoices() {
      const holder = document.querySelector("[data-choices]");
      if (!holder || !this.answer) return;
      const fill = (name, tracks, chosen, off) => {
        const label = holder.querySelector(`[data-choice=${name}]`);
        const select = label.querySelector("select");
        const labels = trackLabels(tracks);
        const options = tracks.map((track, n) => new Option(labels[n], String(track.index), false, track.index === chosen));
        if (off) options.unshift(new Option("Off", "", false, chosen === null));
        select.replaceChildren(...options);
        label.hidden = tracks.length < (off ? 1 : 2);
      };
      fill("audio", this.answer.audio_tracks || [], this.choice.audio, false);
      fill("subtitles", this.answer.subtitle_tracks || [], this.choice.subtitle, true);
      const file = holder.querySelector("[data-choose=file]");
      if (file) file.value = String(this.answer.file_id);
      holder.hidden = !file && Array.from(holder.querySelectorAll("[data-choice]")).every((l) => l.hidden);
    }

    // -- the next episode -----------------------------------------------------------------

    // Ask for the next episode's playback once, and fetch its start, so that it starts at once.
    async warmNext() {
      if (this.warmed || !this.box.dataset.nextId) return;
      this.warmed = true;
      const query = capabilities(this.video);
      query.delete("file_id");
      try {
        const answer = await (await fetch(`/api/v1/items/${this.box.dataset.nextId}/playback?${query}`)).json();
        if (answer.direct_url) {
          const head = await fetch(answer.direct_url, { headers: { Range: "bytes=0-1048575" } });
          await head.arrayBuffer();
        } else if (answer.hls_url) {
          const master = await (await fetch(answer.hls_url)).text(); // the server prepares the first variant
          const variant = master.split("\n").find((line) => line && !line.startsWith("#"));
          if (variant) {
            const url = new URL(variant, new URL(answer.hls_url, location.href));
            const playlist = await (await fetch(url)).text();
            const first = playlist.split("\n").find((line) => line && !line.startsWith("#"));
            if (first) await (await fetch(new URL(first, url))).arrayBuffer();
          }
        }
        this.box.dataset.nextWarm = "ready";
      } catch (error) { /* the next episode starts the ordinary way */ }
    }

    upNext() {
      const card = this.box.querySelector("[data-up-next]");
      if (!card || this.position() < this.duration() - 5) return; // stopped early, not finished
      card.hidden = false;
      const counter = card.querySelector("[data-up-next-countdown]");
      const link = card.querySelector("[data-action=next-episode]");
      link.focus();
      if (this.box.dataset.autoplayNext !== "on") return;
      let left = UP_NEXT_S;
      const tick = () => {
        counter.textContent = ` · playing in ${left} s`;
        if (left <= 0) { location.assign(link.href); return; }
        left -= 1;
        this.upNextTimer = setTimeout(tick, 1000);
      };
      tick();
    }

    cancelUpNext() {
      clearTimeout(this.upNextTimer);
      const card = this.box.querySelector("[data-up-next]");
      if (!card || card.hidden) return;
      card.hidden = true;
      card.querySelector("[data-up-next-countdown]").textContent = "";
    }

    // Phones play in the whole window; Back (or the close button) leaves it.
    enterWindow() {
      if (!PHONE.matches || this.box.hasAttribute("data-window")) return;
      this.box.setAttribute("data-window", "");
      history.pushState({ hearthPlayer: true }, "");
    }

    leaveWindow(fromHistory) {
      if (!this.box.hasAttribute("data-window")) return;
      this.box.removeAttribute("data-window");
      this.video.pause();
      if (!fromHistory && history.state && history.state.hearthPlayer) history.back();
    }

    toggleFullscreen() {
      if (document.fullscreenElement) { document.exitFullscreen(); return; }
      if (this.box.requestFullscreen) this.box.requestFullscreen().catch(() => {});
      else if (this.video.webkitEnterFullscreen) this.video.webkitEnterFullscreen(); // iPhone
    }

    // -- menus ----------------------------------------------------------------------------

    qualityItems() {
      const hls = this.hls, items = [];
      const direct = this.video.dataset.engine === "direct";
      if (this.answer.hls_url) {
        const auto = hls && hls.autoLevelEnabled && !direct;
        const current = hls && hls.levels[hls.currentLevel];
        items.push({ label: auto && current ? `Auto (${this.levelName(current)})` : "Auto", checked: auto,
          choose: () => this.chooseLevel(-1) });
      }
      if (this.answer.direct_url) items.push({ label: "Original", checked: direct, choose: () => this.chooseOriginal() });
      if (hls && hls.levels.length) {
        hls.levels.map((level, i) => ({ level, i }))
          .filter(({ level }) => !(this.answer.direct_url && this.levelName(level) === "Original"))
          .sort((a, b) => b.level.height - a.level.height || b.level.bitrate - a.level.bitrate)
          .forEach(({ level, i }) => items.push({ label: this.levelName(level), checked: !hls.autoLevelEnabled && hls.manualLevel === i,
            choose: () => this.chooseLevel(i) }));
      } else if (this.answer.hls_url) {
        const source = parseInt(this.video.dataset.height, 10) || 0;
        RUNG_HEIGHTS.filter((h) => h < source).forEach((h) => items.push({ label: `${h}p`, checked: false, choose: () => this.chooseRung(h) }));
      }
      return items;
    }

    chooseLevel(index) {
      if (this.hls) {
        this.quality = index < 0 ? "auto" : this.levelName(this.hls.levels[index]);
        this.hls.currentLevel = index;
        this.renderMenus();
        this.describe();
        return;
      }
      this.quality = "auto"; // from direct play (or native HLS): a stream that adapts
      if (this.video.dataset.engine === "native-hls") this.reload({ maxHeight: null });
      else this.attach(this.resumeState());
    }

    // A rung below the source while playing the file itself: the stream at that rung.
    chooseRung(height) {
      this.quality = `${height}p`;
      if (this.video.dataset.engine === "native-hls") this.reload({ maxHeight: height });
      else this.attach(this.resumeState());
    }

    chooseOriginal() {
      this.quality = null;
      if (this.choice.maxHeight) this.reload({ maxHeight: null });
      else this.attach(this.resumeState());
    }

    resumeState() { return { resumeAt: this.position(), play: !this.video.paused || this.loadWanted }; }

    audioItems() {
      const tracks = this.answer.audio_tracks || [];
      if (tracks.length < 2) return [];
      const labels = trackLabels(tracks);
      return tracks.map((track, n) => ({ label: labels[n], checked: track.index === this.choice.audio,
        choose: () => { if (track.index !== this.choice.audio) this.reload({ audio: track.index }); } }));
    }

    subtitleItems() {
      const tracks = this.answer.subtitle_tracks || [];
      if (!tracks.length) return [];
      const items = [{ label: "Off", checked: this.choice.subtitle === null, choose: () => this.chooseSubtitle(null) }];
      const labels = trackLabels(tracks);
      tracks.forEach((track, n) => items.push({ label: labels[n], checked: track.index === this.choice.subtitle,
        choose: () => this.chooseSubtitle(track.index) }));
      return items;
    }

    chooseSubtitle(index) {
      const track = (this.answer.subtitle_tracks || []).find((t) => t.index === index);
      const burnt = this.answer.decision.subtitles === "burn";
      this.choice.subtitle = index;
      if (track && track.kind === "text" && !track.url && this.video.dataset.engine === "direct" && !this.applySubtitle()) {
        this.quality = "auto"; // the file alone cannot show it; the stream carries it as WebVTT
      }
      // Image subtitles are burnt into the picture by the server, and leaving them needs a
      // new stream too; text ones are switched in the player when the stream carries them.
      if (burnt || (track && track.kind === "image") || (track && !this.applySubtitle())) {
        this.reload({ subtitle: index });
        return;
      }
      this.applySubtitle();
      this.renderMenus();
    }

    // Styled (ASS/SSA) tracks are drawn by subtitles-ass.js, loaded the first time one is
    // chosen: it hides the WebVTT version while it draws, and sets subtitleNote when it cannot.
    styleSubtitles(track) {
      if (!this.styledScript && !(track && track.ass_url)) return;
      this.styledScript = this.styledScript || new Promise((resolve, reject) => {
        const script = Object.assign(document.createElement("script"), { src: "/static/subtitles-ass.js" });
        script.addEventListener("load", resolve);
        script.addEventListener("error", reject);
        document.head.append(script);
      });
      this.styledScript.then(() => window.HearthStyledSubtitles.follow(this, track), () => {});
    }

    // Shows the chosen text subtitle from the stream; false when the stream does not carry it.
    applySubtitle() {
      const tracks = (this.answer.subtitle_tracks || []).filter((t) => t.kind === "text");
      const wanted = tracks.find((t) => t.index === this.choice.subtitle);
      this.styleSubtitles(wanted);
      const position = wanted ? tracks.indexOf(wanted) : -1;
      // The stream's renditions follow the API's text tracks in order; names and languages
      // are checked first in case the server left one out.
      const pick = (available) => {
        if (!wanted) return -1;
        const named = wanted.title ? available.findIndex((t) => t.name === wanted.title) : -1;
        if (named >= 0) return named;
        if (available.length === tracks.length) return position;
        return available.findIndex((t) => t.lang === wanted.language);
      };
      if (this.hls) {
        const i = pick(this.hls.subtitleTracks.map((t) => ({ name: t.name, lang: t.lang })));
        if (wanted && i < 0) return false;
        this.hls.subtitleDisplay = i >= 0;
        this.hls.subtitleTrack = i;
        return true;
      }
      const native = Array.from(this.video.textTracks).filter((t) => t.kind === "subtitles" || t.kind === "captions");
      const i = pick(native.map((t) => ({ name: t.label, lang: t.language })));
      native.forEach((t, n) => { t.mode = n === i ? "showing" : "disabled"; });
      return !wanted || i >= 0;
    }

    applyExternalSubtitle() {
      const wanted = (this.answer.subtitle_tracks || []).find((t) => t.index === this.choice.subtitle);
      if (!wanted || !wanted.url || this.answer.decision.subtitles === "burn") return;
      const element = document.createElement("track");
      Object.assign(element, { kind: "subtitles", src: wanted.url, srclang: wanted.language || "", label: wanted.title || wanted.language || "" });
      element.default = true;
      this.video.append(element);
    }

    renderMenus() {
      if (!this.answer) return;
      const build = { quality: () => this.qualityItems(), audio: () => this.audioItems(), subtitles: () => this.subtitleItems() };
      for (const [name, items] of Object.entries(build)) {
        const holder = this.box.querySelector(`[data-menu=${name}]`);
        const list = holder.querySelector("[role=menu]");
        const entries = items();
        const focused = list.contains(document.activeElement) ? Array.from(list.children).indexOf(document.activeElement) : -1;
        holder.hidden = entries.length < (name === "quality" ? 2 : 1);
        list.replaceChildren(...entries.map((entry) => {
          const button = document.createElement("button");
          button.type = "button";
          button.setAttribute("role", "menuitemradio");
          button.setAttribute("aria-checked", String(entry.checked));
          button.tabIndex = -1;
          button.textContent = entry.label;
          button.addEventListener("click", () => { this.closeMenus(true); entry.choose(); });
          return button;
        }));
        if (focused >= 0 && list.children[focused]) list.children[focused].focus();
      }
      this.renderChoices();
    }

    openMenu(holder) {
      const button = holder.querySelector("[data-menu-button]"), list = holder.querySelector("[role=menu]");
      const open = list.hidden;
      this.closeMenus(false);
      if (!open) return;
      list.hidden = false;
      button.setAttribute("aria-expanded", "true");
      (list.querySelector("[aria-checked=true]") || list.firstElementChild)?.focus();
    }

    closeMenus(refocus) {
      this.box.querySelectorAll("[data-menu]").forEach((holder) => {
        const list = holder.querySelector("[role=menu]"), button = holder.querySelector("[data-menu-button]");
        if (list.hidden) return;
        const hadFocus = list.contains(document.activeElement);
        list.hidden = true;
        button.setAttribute("aria-expanded", "false");
        if (refocus && hadFocus) button.focus();
      });
    }

    menuKeys(event, list) {
      const items = Array.from(list.children), at = items.indexOf(document.activeElement);
      const move = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
      if (move !== undefined) { items[(move + items.length) % items.length].focus(); event.preventDefault(); }
      else if (event.key === "Escape") { this.closeMenus(true); event.preventDefault(); }
      else if (event.key === "Tab") this.closeMenus(false);
    }

    // -- the seek bar ---------------------------------------------------------------------

    renderMarks() {
      const holder = this.box.querySelector("[data-seek-marks]");
      const total = this.duration();
      holder.replaceChildren(...(total ? this.answer.chapters || [] : []).filter((c) => c.start_s > 0 && c.start_s < total).map((c) => {
        const mark = document.createElement("span");
        mark.className = "seek-mark";
        mark.style.left = `${(100 * c.start_s) / total}%`;
        return mark;
      }));
    }

    renderProgress() {
      const total = this.duration(), now = this.position();
      if (!this.scrubbing) this.seekInput.value = String(now);
      this.seekInput.max = String(total || 0);
      this.seekInput.setAttribute("aria-valuetext", `${clock(now)} of ${clock(total)}`);
      this.box.querySelector("[data-player-time]").textContent = `${clock(now)} / ${clock(total)}`;
      this.playedBar.style.width = total ? `${(100 * now) / total}%` : "0";
      const buffered = this.video.buffered, bar = this.bufferedBar;
      let start = 0, end = 0;
      for (let i = 0; i < buffered.length; i++) {
        if (buffered.start(i) <= now + 0.5 && buffered.end(i) >= now) { start = buffered.start(i); end = buffered.end(i); }
      }
      bar.style.left = total ? `${(100 * start) / total}%` : "0";
      bar.style.width = total ? `${(100 * (end - start)) / total}%` : "0";
    }

    async loadThumbnails() {
      if (this.thumbnails !== null || !this.answer || !this.answer.trickplay_url) return;
      this.thumbnails = [];
      let response = null;
      try {
        response = await fetch(this.answer.trickplay_url);
        if (response.ok) this.thumbnails = parseThumbnails(await response.text(), response.url);
      } catch (error) { /* no previews for now, only times */ }
      if (!response || !response.ok) setTimeout(() => { this.thumbnails = null; }, 15_000); // still being made?
      const shown = this.box.querySelector("[data-preview]");
      if (!shown.hidden && this.lastPreview) this.preview(...this.lastPreview);
    }

    preview(seconds, fraction) {
      this.lastPreview = [seconds, fraction];
      const holder = this.box.querySelector("[data-preview]"), thumb = holder.querySelector("[data-thumb]");
      const chapter = (this.answer && this.answer.chapters || []).filter((c) => c.start_s <= seconds).pop();
      holder.querySelector("[data-preview-text]").textContent = chapter && chapter.title ? `${clock(seconds)} · ${chapter.title}` : clock(seconds);
      const cue = (this.thumbnails || []).find((c) => seconds >= c.from && seconds < c.to);
      thumb.hidden = !cue;
      if (cue) {
        Object.assign(thumb.style, { width: `${cue.w}px`, height: `${cue.h}px`, backgroundImage: `url("${cue.url}")`,
          backgroundPosition: `-${cue.x}px -${cue.y}px`, zoom: String(Math.min(1, THUMB_WIDTH / cue.w)) });
      }
      holder.hidden = false;
      const rail = this.box.querySelector("[data-seek]").getBoundingClientRect();
      const half = holder.offsetWidth / 2;
      holder.style.left = `${Math.max(half, Math.min(rail.width - half, fraction * rail.width))}px`;
    }

    // -- wiring ---------------------------------------------------------------------------

    wireControls() {
      const { box, video } = this;
      const on = (target, type, handler) => target.addEventListener(type, handler);
      box.querySelectorAll("[data-action=play]").forEach((b) => on(b, "click", () => this.togglePlay()));
      on(box.querySelector("[data-action=mute]"), "click", () => { video.muted = !video.muted; });
      on(box.querySelector("[data-action=fullscreen]"), "click", () => this.toggleFullscreen());
      on(box.querySelector("[data-action=back]"), "click", () => this.seekBy(-SEEK_STEP_S));
      on(box.querySelector("[data-action=forward]"), "click", () => this.seekBy(SEEK_STEP_S));
      on(box.querySelector("[data-action=close]"), "click", () => this.leaveWindow(false));
      on(video, "play", () => this.enterWindow());
      on(window, "popstate", () => this.leaveWindow(true));
      on(box.querySelector("[data-action=retry]"), "click", () => { this.hideError(); this.tokenRenewed = false; this.reload({}); });
      on(video, "click", () => this.togglePlay());
      on(video, "dblclick", () => this.toggleFullscreen());
      const volume = box.querySelector("[data-volume]");
      on(volume, "input", () => this.setVolume(parseFloat(volume.value)));
      const saved = parseFloat(localStorage.getItem("hearth.volume"));
      if (Number.isFinite(saved)) video.volume = saved;

      const state = () => {
        const paused = video.paused || video.ended;
        box.toggleAttribute("data-paused", paused);
        box.querySelectorAll("[data-action=play]").forEach((b) => b.setAttribute("aria-label", paused ? "Play" : "Pause"));
        const mute = box.querySelector("[data-action=mute]");
        mute.setAttribute("aria-pressed", String(video.muted));
        mute.setAttribute("aria-label", video.muted ? "Unmute" : "Mute");
        box.toggleAttribute("data-muted", video.muted);
        volume.value = String(video.muted ? 0 : video.volume);
      };
      ["play", "pause", "ended", "volumechange", "loadstart"].forEach((type) => on(video, type, state));
      const buffering = (yes) => () => box.toggleAttribute("data-buffering", yes && !("failed" in box.dataset));
      on(video, "waiting", buffering(true));
      ["playing", "canplay", "pause", "seeked", "error"].forEach((type) => on(video, type, buffering(false)));
      on(video, "play", () => { if (video.readyState < 3) box.toggleAttribute("data-buffering", true); });
      ["timeupdate", "progress", "durationchange", "loadedmetadata", "seeking"].forEach((type) => on(video, type, () => this.renderProgress()));
      on(video, "durationchange", () => this.renderMarks());
      on(video, "error", () => this.onVideoError());
      on(video, "playing", () => { this.mediaRecoveries = 0; });
      ["playing", "seeked"].forEach((type) => on(video, type, () => { this.resumingAt = null; this.renderProgress(); }));
      on(video, "pause", () => this.keepAlive());

      const seek = box.querySelector("[data-seek]"), input = this.seekInput;
      const fractionAt = (event) => { const r = seek.getBoundingClientRect(); return Math.max(0, Math.min(1, (event.clientX - r.left) / r.width)); };
      on(seek, "pointerenter", () => this.loadThumbnails());
      on(seek, "pointermove", (event) => { const f = fractionAt(event); this.preview(f * this.duration(), f); });
      on(seek, "pointerleave", () => { if (!this.scrubbing) box.querySelector("[data-preview]").hidden = true; });
      on(input, "focus", () => this.loadThumbnails());
      on(input, "input", () => {
        this.scrubbing = true;
        const total = this.duration(), at = parseFloat(input.value);
        if (total) this.preview(at, at / total);
      });
      on(input, "change", () => {
        this.scrubbing = false;
        box.querySelector("[data-preview]").hidden = true;
        this.seekTo(parseFloat(input.value));
      });
      on(input, "blur", () => { box.querySelector("[data-preview]").hidden = true; });

      box.querySelectorAll("[data-menu]").forEach((holder) => {
        on(holder.querySelector("[data-menu-button]"), "click", () => this.openMenu(holder));
        on(holder.querySelector("[role=menu]"), "keydown", (event) => this.menuKeys(event, holder.querySelector("[role=menu]")));
      });
      on(document, "click", (event) => { if (!event.target.closest("[data-menu]")) this.closeMenus(false); });
      on(document, "fullscreenchange", () => {
        const full = document.fullscreenElement === box;
        box.toggleAttribute("data-fullscreen", full);
        const button = box.querySelector("[data-action=fullscreen]");
        button.setAttribute("aria-pressed", String(full));
        button.setAttribute("aria-label", full ? "Leave full screen" : "Full screen");
      });

      // Controls fade while playing with no pointer or key activity; any activity brings them back.
      let idleTimer = null;
      const awake = () => {
        box.removeAttribute("data-idle");
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => { if (!video.paused && !box.querySelector("[role=menu]:not([hidden]), [role=dialog]:not([hidden])")) box.setAttribute("data-idle", ""); }, IDLE_MS);
      };
      ["pointermove", "pointerdown", "keydown", "focusin"].forEach((type) => on(box, type, awake));
      on(video, "play", awake);
      on(video, "pause", awake);

      // Capture phase: runs before app.js's card navigation, which skips prevented events.
      document.addEventListener("keydown", (event) => this.shortcut(event), true);
      on(window, "pagehide", () => { if (this.answer && this.answer.session) this.stopSession(this.answer.session); });
      on(window, "pageshow", (event) => { if (event.persisted && this.answer) this.reload({}); });
      state();
    }

    shortcut(event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
      const target = event.target;
      const inside = this.box.contains(target);
      if (!inside && target !== document.body && target !== document.documentElement) return;
      if (target.matches("select, textarea, input:not([type=range])") || target.closest("[role=menu]")) return;
      const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
      if (key === "Escape" && this.box.hasAttribute("data-window")) {
        this.leaveWindow(false);
        event.preventDefault();
        return;
      }
      if ((key === " " || key === "Enter") && target.matches("button, a[href]")) return; // the button's own action
      if (target.matches("[data-volume]") && key.startsWith("Arrow")) return; // the slider's own steps
      if (target.closest("[role=dialog]")) return; // the settings panel's own controls
      if ((key === "ArrowLeft" || key === "ArrowRight") && target.closest(".player-bar")) {
        // On the control bar, left and right go from button to button, as on a TV remote.
        const buttons = Array.from(this.box.querySelectorAll(".player-bar > button, .player-bar > a.button, [data-menu-button], [data-settings-button]"))
          .filter((b) => b.offsetParent !== null);
        const next = buttons[buttons.indexOf(target) + (key === "ArrowRight" ? 1 : -1)];
        if (next) next.focus();
        event.preventDefault();
        return;
      }
      const actions = {
        " ": () => this.togglePlay(),
        k: () => this.togglePlay(),
        Enter: () => this.togglePlay(), // a TV remote's OK on the picture
        ArrowLeft: () => this.seekBy(-SEEK_STEP_S),
        ArrowRight: () => this.seekBy(SEEK_STEP_S),
        ArrowUp: () => this.setVolume(this.video.volume + VOLUME_STEP),
        ArrowDown: () => this.setVolume(this.video.volume - VOLUME_STEP),
        f: () => this.toggleFullscreen(),
        m: () => { this.video.muted = !this.video.muted; },
      };
      if (!actions[key] || !this.answer) return;
      event.preventDefault();
      actions[key]();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-player]").forEach((box) => new Player(box));
  });
})();
