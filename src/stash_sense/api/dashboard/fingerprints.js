// Fingerprint coverage and the bulk job: start, stop, live progress with ETA.
import { get, post } from "./api.js";
import { $, duration, notice, pct, stats } from "./util.js";

const ACTIVE = new Set(["listing", "running", "stopping"]);
let timer = null;

export function initFingerprints() {
  $("fp-start").addEventListener("click", start);
  $("fp-stop").addEventListener("click", stop);
  return { show: load, hide() { clearTimeout(timer); timer = null; } };
}

async function load() {
  try {
    const s = await get("/recommendations/fingerprints/status");
    stats($("fp-stats"), [
      ["Scenes in Stash", s.total_scenes ?? "unknown", "fp-total"],
      ["Fingerprinted", String(s.fingerprinted), "fp-done"],
      ["Coverage", pct(s.coverage), "fp-coverage"],
      ["Outdated (other face DB)", String(s.needs_refresh), "fp-outdated"],
      ["Failed", String(s.failed), "fp-failed"],
      ["Face DB version", s.face_db_version],
    ]);
    if (s.stash_error) notice(`Stash: ${s.stash_error}`);
    progress(s.job);
  } catch (err) { notice(err.message); }
}

function progress(job) {
  const active = job && ACTIVE.has(job.status);
  $("fp-start").disabled = Boolean(active);
  $("fp-stop").disabled = !active || job.status === "stopping";
  if (!job || job.status === "idle") {
    $("fp-progress").value = 0;
    $("fp-state").textContent = "No fingerprint job has run yet.";
  } else {
    $("fp-progress").value = job.percent;
    const eta = active && job.eta_s !== null ? `, about ${duration(job.eta_s)} left` : "";
    const failed = job.failed ? `, ${job.failed} failed` : "";
    $("fp-state").textContent = `Job ${job.job_id}: ${job.status} — ${job.done} of ${job.total} scenes (${Math.round(job.percent)}%)${failed}${eta}${job.error ? ". " + job.error : ""}`;
    $("fp-state").dataset.status = job.status;
  }
  clearTimeout(timer);
  timer = active ? setTimeout(poll, 1000) : null;
}

async function poll() {
  try {
    const job = await get("/recommendations/fingerprints/progress");
    if (!ACTIVE.has(job.status)) { await load(); return; }
    progress(job);
  } catch (err) { notice(err.message); timer = setTimeout(poll, 5000); }
}

async function start() {
  try { progress(await post("/recommendations/fingerprints/generate", { refresh_outdated: $("fp-refresh").checked })); }
  catch (err) { notice(`Could not start: ${err.message}`); }
}

async function stop() {
  try { progress(await post("/recommendations/fingerprints/stop")); }
  catch (err) { notice(`Could not stop: ${err.message}`); }
}
