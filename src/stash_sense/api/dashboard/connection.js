// Connection status for Stash and the sidecar, "test connection", effective settings.
import { get, post } from "./api.js";
import { $, duration, h, notice, stats } from "./util.js";

export function initConnection(refreshStatus) {
  $("conn-test").addEventListener("click", test);
  async function show() {
    const caps = await refreshStatus();
    try {
      const health = await get("/health");
      stats($("conn-stats"), [
        ["Sidecar", `${health.status}, version ${health.version}, up ${duration(health.uptime_s)}`, "conn-sidecar"],
        ["Face DB", health.face_db.available ? `${health.face_db.version}${health.face_db.loaded ? " (loaded)" : ""}` : "not available"],
        ["Stash", caps ? describe(caps.stash) : "–", "conn-stash"],
        ["Workers", `${health.work.workers} (${health.work.running} running, ${health.work.queued} queued)`],
      ]);
      const data = await get("/settings");
      const rows = Object.entries(data.settings).map(([key, value]) => h("tr", {},
        h("th", { scope: "row", text: key }),
        h("td", { text: value === null ? "unset" : Array.isArray(value) ? value.join(", ") || "none" : String(value) }),
        h("td", { text: data.environment_variables[key] || "" })));
      $("settings-table").tBodies[0].replaceChildren(...rows);
    } catch (err) { notice(err.message); }
  }
  return { show };
}

function describe(s) {
  if (!s.configured) return "not configured (set STASH_URL)";
  return s.reachable ? `reachable, version ${s.version || "unknown"}` : `unreachable: ${s.error || "no answer"}`;
}

async function test() {
  $("conn-state").textContent = "Testing…";
  try {
    const r = await post("/stash/test-connection");
    $("conn-state").textContent = `Stash ${describe(r.stash)} (${Math.round(r.elapsed_s * 1000)} ms).`;
    $("conn-state").dataset.reachable = String(Boolean(r.stash.reachable));
  } catch (err) { $("conn-state").textContent = `Test failed: ${err.message}`; }
}
