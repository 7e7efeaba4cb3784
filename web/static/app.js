// Hearth's own script: keyboard navigation, filters that apply themselves, and direct play
// only when the browser says it can decode the file.  No inline scripts anywhere.
"use strict";

function setUpPlayer(video) {
  const type = video.dataset.playableType;
  const message = document.getElementById(video.dataset.messageId);
  const verdict = type ? video.canPlayType(type) : "";
  if (verdict === "probably" || verdict === "maybe") {
    video.src = video.dataset.src;
    video.hidden = false;
    message.hidden = true;
    video.dataset.decision = "direct";
  } else {
    video.hidden = true;
    message.hidden = false;
    message.querySelector("[data-reason]").textContent = type
      ? "This browser cannot play " + type + " directly."
      : "This file's format is not one a browser plays directly.";
    video.dataset.decision = "unsupported";
  }
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
    if (document.activeElement && document.activeElement.tagName === "VIDEO") return;
    event.preventDefault();
    moveFocus(event.key);
  }
});

function init(root) {
  root.querySelectorAll("video[data-src]").forEach(setUpPlayer);
  root.querySelectorAll("[data-autosubmit]").forEach((el) => el.addEventListener("change", () => el.form.submit()));
}

document.addEventListener("DOMContentLoaded", () => init(document));
document.addEventListener("htmx:afterSwap", (event) => init(event.target));
