// The loaded face DB: version, model, counts, the face-count buckets as a chart; reload; the
// performers linked across stash-boxes (with evidence, undoable); and
// updates from the configured release (STASH_SENSE_FACE_DB_SOURCE): check, update with progress.
import { get, post } from "./api.js";
import { $, h, notice, stats } from "./util.js";

const ACTIVE = new Set(["checking", "downloading", "installing", "swapping"]);
let timer = null;

export function initFaceDB() {
  $("db-reload").addEventListener("click", reload);
  $("db-update-check").addEventListener("click", checkUpdate);
  $("db-update").addEventListener("click", startUpdate);
  return { show() { load(); checkUpdate(); loadLinks(); }, hide() { clearTimeout(timer); timer = null; } };
}

// One person on several stash-boxes is one performer; each link says why, and can be undone.
async function loadLinks() {
  try {
    const r = await get("/database/links");
    $("db-links-state").textContent = r.links.length
      ? `${r.links.length} performer${r.links.length === 1 ? "" : "s"} linked across stash-boxes.`
      : "No performer is linked across stash-boxes.";
    $("db-links").replaceChildren(...r.links.map(linkRow));
  } catch (err) {
    $("db-links-state").textContent = `Links unavailable: ${err.message}`;
    $("db-links").replaceChildren();
  }
}

function linkRow(link) {
  const why = link.kind === "cross-reference" ? `a stash-box names the other's page (${link.names.join(", ")})`
    : `names agree (${link.names.join(", ")})${link.distance === null ? "" : `, faces ${link.distance.toFixed(3)} apart`}`;
  return h("li", { class: "link", dataset: { kind: link.kind } },
    h("strong", { class: "link-name", text: link.name }),
    h("span", { class: "link-ids", text: `${link.a} = ${link.b}` }),
    h("span", { class: "meta", text: why }),
    h("button", { type: "button", "aria-label": `Undo link: ${link.b}`, title: `Make ${link.b} its own performer again`,
      onclick: () => undoLink(link) }, "Undo"));
}

async function undoLink(link) {
  $("db-links-state").textContent = "Splitting the performer and swapping in the new version…";
  try {
    const r = await post("/database/links/unlink", { identity: link.b, confirm: true });
    // Say it is done only once the list shows the new version.
    await load();
    await loadLinks();
    $("db-links-state").textContent = `Split ${r.split.join(", ")} off (new version ${r.db_version}). ${$("db-links-state").textContent}`;
  } catch (err) { $("db-links-state").textContent = ""; notice(`Could not undo the link: ${err.message}`); }
}

async function load() {
  try {
    const db = await get("/database/info");
    stats($("db-stats"), [
      ["Version", db.db_version, "db-version"], ["Created", db.created_at],
      ["Performers", String(db.performers), "db-performers"], ["With faces", String(db.performers_with_faces)],
      ["Faces", String(db.faces), "db-faces"], ["Embedding model", `${db.embedding_model} (${db.embedding_dim}-d)`],
      ["Detector", db.detector], ["Index", db.index || "–"], ["Sources", db.sources.join(", ")], ["Directory", db.directory],
    ]);
    chart(db.face_count_buckets);
  } catch (err) {
    stats($("db-stats"), [["Status", err.message]]);
    $("db-buckets").replaceChildren();
  }
}

function chart(buckets) {
  const entries = Object.entries(buckets);
  const most = Math.max(1, ...entries.map(([, n]) => n));
  $("db-buckets").setAttribute("aria-label", "Performers by number of faces: " + entries.map(([k, n]) => `${k} faces: ${n}`).join(", "));
  $("db-buckets").replaceChildren(...entries.map(([bucket, n]) => h("div", { class: "bar" },
    h("span", { class: "bar-label", text: bucket }),
    h("span", { class: "bar-track" }, h("span", { class: "bar-fill", style: `width:${(100 * n) / most}%` })),
    h("span", { class: "bar-value", text: String(n) }))));
}

async function reload() {
  $("db-state").textContent = "Verifying and swapping in the face DB…";
  try {
    const r = await post("/database/reload", { confirm: true });
    $("db-state").textContent = `Reloaded: ${r.previous_version || "none"} → ${r.version} (${r.verified_files} files verified in ${r.elapsed_s} s).`;
    load();
  } catch (err) { $("db-state").textContent = ""; notice(`Reload failed: ${err.message}`); }
}

const counts = (c) => (c ? `${c.performers} performers, ${c.faces} faces` : "–");
const megabytes = (n) => (n === null || n === undefined ? "–" : `${(n / 1e6).toFixed(n < 1e6 ? 3 : 1)} MB`);

// What the source offers next to what is installed; the Update button only when it applies.
async function checkUpdate() {
  try {
    const u = await get("/database/update");
    const offered = !u.configured ? "No update source (set STASH_SENSE_FACE_DB_SOURCE)"
      : u.error ? `Unavailable: ${u.error}` : u.available_version;
    const current = u.available_version && u.available_version === u.installed_version;
    const kind = current ? "Installed already"
      : u.kind === "delta" ? `Changes since ${u.base_version}${u.applicable ? "" : " (not the installed version: needs the full pack)"}`
      : u.kind === "full" ? "Whole database" : "–";
    stats($("db-update-stats"), [
      ["Installed", u.installed_version || "none", "db-update-installed"], ["Installed counts", counts(u.installed_counts)],
      ["Available", offered, "db-update-available"], ["Available counts", counts(u.available_counts)],
      ["Pack", kind, "db-update-kind"], ["Download", megabytes(u.size)],
    ]);
    showJob(u.job, u.update_available);
  } catch (err) { notice(err.message); }
}

function showJob(job, updateAvailable) {
  const active = ACTIVE.has(job.status);
  $("db-update").disabled = active || !updateAvailable;
  $("db-update-check").disabled = active;
  const state = $("db-update-state");
  state.dataset.status = job.status;
  $("db-update-progress").value = job.status === "completed" ? 100 : job.percent;
  if (job.status === "idle") state.textContent = updateAvailable ? "An update is available." : "No update to install.";
  else if (active) {
    const bytes = job.bytes_total ? ` (${megabytes(job.bytes_done)} of ${megabytes(job.bytes_total)})` : "";
    state.textContent = `${job.status[0].toUpperCase()}${job.status.slice(1)} ${job.to_version}${bytes}…`;
  } else if (job.status === "completed") state.textContent = `Updated: ${job.from_version || "none"} → ${job.to_version}.`;
  else state.textContent = `Update to ${job.to_version} ${job.status === "rolled_back" ? "failed and was rolled back" : "failed"}: ${job.error}`;
  clearTimeout(timer);
  timer = active ? setTimeout(poll, 500) : null;
}

async function poll() {
  try {
    const job = await get("/database/update/status");
    if (ACTIVE.has(job.status)) { showJob(job, false); return; }
    await load();
    await checkUpdate(); // shows the finished job and what is offered now
  } catch (err) { notice(err.message); timer = setTimeout(poll, 3000); }
}

async function startUpdate() {
  $("db-update").disabled = true;
  $("db-update-state").dataset.status = "checking";
  $("db-update-state").textContent = "Starting the update…";
  $("db-update-progress").value = 0;
  try { showJob(await post("/database/update", { confirm: true }), false); }
  catch (err) { notice(`Could not update: ${err.message}`); checkUpdate(); }
}
