// The loaded face DB: version, model, counts, the face-count buckets as a chart; reload.
import { get, post } from "./api.js";
import { $, h, notice, stats } from "./util.js";

export function initFaceDB() {
  $("db-reload").addEventListener("click", reload);
  return { show: load };
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
