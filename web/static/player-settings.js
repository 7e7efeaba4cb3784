// The player's settings panel (⚙): playback speed, subtitle size, position and timing, and
// the stream's details in words.  It works on the Player that player.js hangs on its box
// (box.hearthPlayer) and on the video's text tracks, whichever engine fills them.
// Size and position are kept in this browser; speed and timing are for this viewing.
"use strict";

(() => {
  const STEP_S = 0.5;
  const LINES = { bottom: "auto", raised: -4, top: 1 }; // WebVTT cue lines: negative counts from the bottom
  const stored = (key, fallback) => { try { return localStorage.getItem(`hearth.subtitles.${key}`) || fallback; } catch (e) { return fallback; } };
  const store = (key, value) => { try { localStorage.setItem(`hearth.subtitles.${key}`, value); } catch (e) { /* private mode */ } };

  class Settings {
    constructor(box) {
      this.box = box;
      this.video = box.querySelector("video");
      this.holder = box.querySelector("[data-settings]");
      this.panel = this.holder.querySelector("[role=dialog]");
      this.button = this.holder.querySelector("[data-settings-button]");
      this.info = box.querySelector("[data-stream-info]");
      this.offset = 0; // seconds added to every cue's times
      this.shifted = new WeakMap(); // cue -> the offset it carries now
      this.position = stored("position", "bottom");
      this.wire();
      this.setSize(stored("size", "normal"));
      this.setPosition(this.position);
    }

    wire() {
      const field = (name) => this.panel.querySelector(`[data-setting=${name}]`);
      this.button.addEventListener("click", () => this.toggle());
      field("speed").addEventListener("change", (e) => { this.video.playbackRate = Number(e.target.value); });
      // A new source starts at 1×; the panel says what plays.
      this.video.addEventListener("ratechange", () => { field("speed").value = String(this.video.playbackRate); });
      field("size").addEventListener("change", (e) => { this.setSize(e.target.value); store("size", e.target.value); });
      field("position").addEventListener("change", (e) => { this.setPosition(e.target.value); store("position", e.target.value); });
      field("earlier").addEventListener("click", () => this.shift(-STEP_S));
      field("later").addEventListener("click", () => this.shift(STEP_S));
      field("info").addEventListener("click", (e) => this.toggleInfo(e.target));
      this.panel.addEventListener("keydown", (event) => {
        if (event.key === "Escape") { this.toggle(false); this.button.focus(); event.preventDefault(); }
      });
      document.addEventListener("click", (event) => { if (!this.holder.contains(event.target)) this.toggle(false); });
      // Cues arrive as the stream loads (hls.js adds them to the track): each takes the
      // offset and position when it first shows up.
      this.video.addEventListener("timeupdate", () => this.applyToCues());
      this.video.textTracks.addEventListener("addtrack", () => this.applyToCues());
    }

    toggle(open = this.panel.hidden) {
      this.panel.hidden = !open;
      this.button.setAttribute("aria-expanded", String(open));
      if (open) this.panel.querySelector("select").focus();
    }

    setSize(size) {
      this.box.setAttribute("data-subtitle-size", size);
      this.panel.querySelector("[data-setting=size]").value = size;
    }

    setPosition(position) {
      this.position = position;
      this.panel.querySelector("[data-setting=position]").value = position;
      this.applyToCues(true);
    }

    shift(delta) {
      this.offset = Math.round((this.offset + delta) * 10) / 10;
      const out = this.panel.querySelector("[data-setting-value=offset]");
      out.textContent = `${this.offset > 0 ? "+" : ""}${this.offset.toFixed(1)} s`;
      this.applyToCues();
    }

    applyToCues(all = false) {
      for (const track of Array.from(this.video.textTracks)) {
        if (track.mode === "disabled" || !track.cues) continue;
        for (const cue of Array.from(track.cues)) {
          const carried = this.shifted.get(cue) ?? 0;
          if (carried !== this.offset) {
            const delta = this.offset - carried;
            cue.startTime = Math.max(0, cue.startTime + delta);
            cue.endTime = Math.max(cue.startTime, cue.endTime + delta);
            this.shifted.set(cue, this.offset);
          }
          if (all || cue.line !== LINES[this.position]) cue.line = LINES[this.position];
        }
      }
    }

    toggleInfo(button) {
      const on = this.info.hidden;
      this.info.hidden = !on;
      button.setAttribute("aria-pressed", String(on));
      clearInterval(this.infoTimer);
      if (on) { this.renderInfo(); this.infoTimer = setInterval(() => this.renderInfo(), 1000); }
    }

    // What is playing, as a person would say it.
    renderInfo() {
      const player = this.box.hearthPlayer, video = this.video;
      const answer = player && player.answer;
      if (!answer) return;
      const hls = player.hls;
      const level = hls && hls.levels[hls.currentLevel];
      const mode = { direct: "Direct play: the file as it is", remux: "Remux: copied into a stream",
        transcode: "Transcode: converted on the server" }[answer.decision.mode] || answer.decision.mode;
      const quality = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
      let ahead = 0;
      for (let i = 0; i < video.buffered.length; i++) {
        if (video.buffered.start(i) <= video.currentTime && video.buffered.end(i) >= video.currentTime) ahead = video.buffered.end(i) - video.currentTime;
      }
      const rows = [
        ["How", mode],
        ["Picture", video.videoWidth ? `${video.videoWidth}×${video.videoHeight}${level ? ` (${player.levelName(level)})` : ""}` : "—"],
        ["Bitrate", level ? `${(level.bitrate / 1e6).toFixed(1)} Mb/s` : "as the file"],
        ["Engine", { direct: "the browser, from the file", "hls.js": "hls.js (adaptive stream)", "native-hls": "the browser's own HLS" }[video.dataset.engine] || "—"],
        ["Loaded ahead", `${ahead.toFixed(0)} s`],
        ["Dropped frames", quality ? `${quality.droppedVideoFrames} of ${quality.totalVideoFrames}` : "—"],
        ["Speed", `${video.playbackRate}×`],
      ];
      this.info.replaceChildren(...rows.flatMap(([name, value]) => [
        Object.assign(document.createElement("dt"), { textContent: name }),
        Object.assign(document.createElement("dd"), { textContent: value }),
      ]));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-player]").forEach((box) => {
      if (box.querySelector("[data-settings]")) box.hearthSettings = new Settings(box);
    });
  });
})();
