// The worker of styled subtitles (subtitles-ass.js): libass's own worker script, told where
// its .wasm is and made to say when WebAssembly fails (the file missing, out of memory),
// which it otherwise does silently.  Served with a policy of its own (api/security.py): a
// worker runs under its script's policy, not its page's.
"use strict";

// A global "var Module": what Emscripten's script looks for before it makes its own.
var Module = {
  locateFile: (name) => `/static/vendor/libass-wasm-4.2.4/${name}`,
  onAbort: (what) => postMessage({ target: "custom", failed: String(what) }),
};
importScripts("/static/vendor/libass-wasm-4.2.4/subtitles-octopus-worker.js");
