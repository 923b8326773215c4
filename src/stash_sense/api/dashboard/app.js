import { forgetKey, get, setKeyPrompt } from "./api.js";
import { $, notice } from "./util.js";
import { initScenes } from "./scenes.js";
import { initImage } from "./image.js";
import { initFingerprints } from "./fingerprints.js";
import { initFaceDB } from "./facedb.js";
import { initRecommendations } from "./recommendations.js";
import { initBenchmarks } from "./benchmarks.js";
import { initConnection } from "./connection.js";

// The key dialog: one prompt at a time, however many calls were refused meanwhile.
let pendingPrompt = null;
function askForKey(message) {
  if (pendingPrompt) return pendingPrompt;
  const dialog = $("key-dialog");
  $("key-error").textContent = message && message.startsWith("That key") ? message : "";
  $("key-input").value = "";
  pendingPrompt = new Promise((resolve) => {
    const form = $("key-form");
    const done = (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) return;
      form.removeEventListener("submit", done);
      dialog.close();
      pendingPrompt = null;
      resolve(key);
    };
    form.addEventListener("submit", done);
    dialog.showModal();
    $("key-input").focus();
  });
  return pendingPrompt;
}
setKeyPrompt(askForKey);

const panels = {
  scene: initScenes(), image: initImage(), fingerprints: initFingerprints(),
  recommendations: initRecommendations(), facedb: initFaceDB(), benchmarks: initBenchmarks(), settings: initConnection(refreshStatus),
};

function show(name) {
  if (!panels[name]) name = "scene";
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.panel === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`panel-${tab.dataset.panel}`).hidden = !selected;
  }
  for (const [other, panel] of Object.entries(panels)) if (other !== name && panel.hide) panel.hide();
  panels[name].show();
}

const tabs = [...document.querySelectorAll("[role=tab]")];
for (const tab of tabs) {
  tab.addEventListener("click", () => { location.hash = tab.dataset.panel; });
  tab.addEventListener("keydown", (event) => {
    // Arrow keys move between tabs, as the ARIA tabs pattern expects.
    const index = tabs.indexOf(tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!step) return;
    const next = tabs[(index + step + tabs.length) % tabs.length];
    next.focus();
    location.hash = next.dataset.panel;
  });
}
window.addEventListener("hashchange", () => show(location.hash.slice(1)));

export async function refreshStatus() {
  const sidecar = $("status-sidecar"), stash = $("status-stash");
  try {
    const health = await get("/health");
    sidecar.textContent = `Sidecar: ${health.status}`;
    sidecar.className = `badge ${health.status === "ok" ? "ok" : "warn"}`;
    // /health is public and terse; the protected /capabilities says why (and checks the key).
    const caps = await get("/capabilities");
    const s = caps.stash;
    stash.textContent = !s.configured ? "Stash: not configured" : s.reachable ? `Stash: ${s.version || "connected"}` : "Stash: unreachable";
    stash.className = `badge ${s.configured && s.reachable ? "ok" : "warn"}`;
    stash.title = s.error || "";
    return caps;
  } catch (err) {
    if (err.status === 0) { sidecar.textContent = "Sidecar: down"; sidecar.className = "badge bad"; }
    else notice(err.message);
    return null;
  }
}

$("key-forget").addEventListener("click", () => { forgetKey(); notice("The API key was forgotten; the next call asks for it again.", "info"); });

refreshStatus();
setInterval(refreshStatus, 30000);
show(location.hash.slice(1) || "scene");
