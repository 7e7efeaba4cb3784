// Starts Redoc on the API docs page (/schema).  Litestar's own page does this in an inline
// script, which the Content-Security-Policy forbids; this file makes the same call.
"use strict";

// Redoc 2.5.4 always draws Redocly's logo from cdn.redoc.ly (no option turns it off).  A home
// server's docs page asks no other host, so an image from elsewhere gets no source (and is
// hidden below) instead of a request the CSP would refuse.  React may set either of these.
const fromHere = (value) => {
  const url = new URL(value, location.href);
  return url.origin === location.origin || url.protocol === "data:";
};
const imageSrc = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
Object.defineProperty(HTMLImageElement.prototype, "src", {
  ...imageSrc,
  set(value) { if (fromHere(value)) imageSrc.set.call(this, value); },
});
const setAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (this instanceof HTMLImageElement && name.toLowerCase() === "src" && !fromHere(value)) return;
  setAttribute.call(this, name, value);
};

document.addEventListener("DOMContentLoaded", () => {
  // A constructed stylesheet is CSSOM, which style-src does not govern (a <style> would be refused).
  const sheet = new CSSStyleSheet();
  sheet.replaceSync("body { margin: 0; padding: 0 } img:not([src]) { display: none }");
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  const container = document.getElementById("redoc-container");
  window.Redoc.init(container.dataset.specUrl, {}, container);
});
