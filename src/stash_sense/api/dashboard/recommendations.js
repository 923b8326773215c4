// Recommendations: counts, analyses (start, progress, stop), the filtered and paged list, and
// the review screen (side-by-side comparison, evidence breakdown, keeper, fix, dismiss), with
// bulk actions. Every change to Stash goes through an explicit confirmation dialog; the
// sidecar re-checks everything (key, confirmation, stale objects, the last file).
import { get, post } from "./api.js";
import { $, duration, h, notice, pct } from "./util.js";

const TYPES = {
  duplicate_scenes: { label: "Duplicate scenes", run: "scenes", fix: "Merge scenes", objects: "scene" },
  duplicate_performers: { label: "Duplicate performers", run: "performers", fix: "Merge performers", objects: "performer" },
  duplicate_files: { label: "Duplicate files", run: "files", fix: "Delete extra files", objects: "file" },
};
const STATUSES = ["open", "dismissed", "resolved", "obsolete"];
const SIGNALS = { stash_id: "Stash-box scene ID", phash: "Video phash", timeline: "Sprite timeline", duration: "Duration", faces: "Faces", metadata: "Metadata" };
const PER_PAGE = 10;

const state = { page: 1, total: 0, items: [], selected: new Set(), current: null, keeper: null, deleteFiles: new Set() };
let timer = null;
let listSeq = 0;

export function initRecommendations() {
  $("rec-filters").addEventListener("submit", (event) => { event.preventDefault(); state.page = 1; loadList(); });
  $("rec-run").addEventListener("click", startAnalysis);
  $("rec-stop").addEventListener("click", stopAnalysis);
  $("rec-prev").addEventListener("click", () => { state.page -= 1; loadList(); });
  $("rec-next").addEventListener("click", () => { state.page += 1; loadList(); });
  $("rec-select-all").addEventListener("change", (event) => {
    for (const item of state.items) event.target.checked ? state.selected.add(item.id) : state.selected.delete(item.id);
    renderList();
  });
  $("rec-bulk-dismiss").addEventListener("click", () => bulkDismiss());
  $("rec-bulk-fix").addEventListener("click", bulkFix);
  $("rec-back").addEventListener("click", closeDetail);
  return { show: load, hide() { clearTimeout(timer); timer = null; } };
}

async function load() {
  await Promise.all([loadCounts(), loadList(), pollAnalysis()]);
}

// -- counts ---------------------------------------------------------------------------------

async function loadCounts() {
  try {
    const data = await get("/recommendations/counts");
    const body = $("rec-counts").querySelector("tbody");
    body.replaceChildren(...data.types.map((type) => h("tr", { dataset: { type } },
      h("th", { scope: "row", text: TYPES[type] ? TYPES[type].label : type }),
      ...STATUSES.map((status) => h("td", { text: String((data.counts[type] || {})[status] || 0), dataset: { status } })))));
    $("rec-open-total").textContent = `${data.open} open`;
  } catch (err) { notice(err.message); }
}

// -- analyses ---------------------------------------------------------------------------------

function showAnalysis(status) {
  const running = Boolean(status.running);
  $("rec-run").disabled = running;
  $("rec-stop").disabled = !running || status.stopping;
  const line = $("rec-run-state");
  if (running) {
    const p = status.progress || 0;
    $("rec-progress").value = Math.round(p * 100);
    const current = status.current;
    const seen = current && current.total ? `, ${current.examined} of ${current.total} examined` : "";
    line.textContent = `${label(status.type)} analysis ${status.stopping ? "stopping" : "running"}${status.phase ? ` (${status.phase})` : ""}: ${Math.round(p * 100)}%${seen}`;
    line.dataset.status = status.stopping ? "stopping" : "running";
    delete line.dataset.run;
    return;
  }
  const last = status.recent && status.recent[0];
  if (!last) {
    $("rec-progress").value = 0;
    line.textContent = "No analysis has run yet.";
    line.dataset.status = "idle";
    return;
  }
  $("rec-progress").value = Math.round((last.progress || 0) * 100);
  const took = last.finished_at ? `, ${duration((Date.parse(last.finished_at) - Date.parse(last.started_at)) / 1000)}` : "";
  line.textContent = `${label(last.type)} analysis ${last.status} (${last.mode}${took}): ${last.examined} of ${last.total} examined, `
    + `${last.raised} raised, ${last.updated} updated, ${last.suppressed} kept dismissed, ${last.obsolete} obsolete`
    + (last.error ? `. ${last.error}` : "");
  line.dataset.status = last.status;
  line.dataset.run = String(last.id);
}

async function pollAnalysis() {
  clearTimeout(timer);
  try {
    const status = await get("/recommendations/analysis");
    const wasRunning = $("rec-run-state").dataset.status === "running" || $("rec-run-state").dataset.status === "stopping";
    // A finished run changes the counts and the list: show them before saying it finished.
    if (!status.running && wasRunning) await Promise.all([loadCounts(), loadList()]);
    showAnalysis(status);
    if (status.running) timer = setTimeout(pollAnalysis, 700);
  } catch (err) { notice(err.message); timer = setTimeout(pollAnalysis, 5000); }
}

async function startAnalysis() {
  try {
    showAnalysis(await post("/recommendations/analysis", { type: $("rec-run-type").value, full: $("rec-full").checked }));
    $("rec-run-state").dataset.status = "running";
    timer = setTimeout(pollAnalysis, 300);
  } catch (err) { notice(`Could not start the analysis: ${err.message}`); }
}

async function stopAnalysis() {
  try { showAnalysis(await post("/recommendations/analysis/stop")); timer = setTimeout(pollAnalysis, 300); }
  catch (err) { notice(`Could not stop: ${err.message}`); }
}

// -- the list -----------------------------------------------------------------------------------

function filters() {
  const params = new URLSearchParams({ page: String(state.page), per_page: String(PER_PAGE) });
  if ($("rec-type").value) params.set("type", $("rec-type").value);
  params.set("status", $("rec-status").value);
  const min = $("rec-min").value;
  if (min !== "") params.set("min_confidence", String(Number(min) / 100));
  return params;
}

async function loadList() {
  const min = $("rec-min").value;
  if (min !== "" && !(Number(min) >= 0 && Number(min) <= 100)) { notice("Minimum confidence is a percentage from 0 to 100."); return; }
  const seq = ++listSeq;
  const query = filters();
  try {
    const data = await get(`/recommendations?${query}`);
    if (seq !== listSeq) return;  // a later request (other filters or page) owns the list now
    // Dismissing or fixing the last items of the last page: show the page before it instead.
    if (!data.items.length && state.page > 1 && data.total > 0) { state.page = Math.ceil(data.total / PER_PAGE); loadList(); return; }
    state.items = data.items;
    state.total = data.total;
    state.selected = new Set([...state.selected].filter((id) => data.items.some((item) => item.id === id)));
    renderList();
    $("rec-list").dataset.query = `${query.get("type") || ""}|${query.get("status")}`;
    $("rec-list").dataset.loads = String(seq);  // lets a watcher see each reload
  } catch (err) { notice(err.message); }
}

function summary(rec) {
  const ev = rec.evidence || {};
  if (rec.type === "duplicate_performers") return (ev.performers || []).map((p) => p.name).join(" / ");
  if (rec.type === "duplicate_files") {
    const title = ev.scene ? ev.scene.title || `scene ${ev.scene.id}` : rec.target;
    return `${title}: ${(ev.files || []).length} files, ${size(ev.space_saved)} to free`;
  }
  if (rec.type === "duplicate_scenes") return (ev.scenes || []).map((s) => s.title || `scene ${s.id}`).join(" / ");
  return rec.target;
}

function renderList() {
  const pages = Math.max(1, Math.ceil(state.total / PER_PAGE));
  $("rec-page").textContent = `Page ${state.page} of ${pages} (${state.total} recommendation${state.total === 1 ? "" : "s"})`;
  $("rec-prev").disabled = state.page <= 1;
  $("rec-next").disabled = state.page >= pages;
  const list = $("rec-list");
  if (!state.items.length) {
    list.replaceChildren(h("li", { class: "meta", text: "Nothing here with these filters." }));
  } else {
    list.replaceChildren(...state.items.map((rec) => {
      const text = summary(rec);
      return h("li", { class: "rec-item", dataset: { id: String(rec.id), type: rec.type, target: rec.target } },
        h("input", {
          type: "checkbox", checked: state.selected.has(rec.id), "aria-label": `Select: ${text}`,
          onchange: (event) => { event.target.checked ? state.selected.add(rec.id) : state.selected.delete(rec.id); renderBulk(); },
        }),
        h("button", { type: "button", class: "pick rec-open", onclick: () => openDetail(rec.id) },
          h("span", { class: "rec-type", text: label(rec.type) }), " ", h("span", { class: "rec-summary", text: text })),
        h("span", { class: "rec-conf", text: pct(rec.confidence), title: "confidence" }),
        h("span", { class: `rec-status ${rec.status}`, text: rec.dismissal ? `${rec.status} (${rec.dismissal.replace("_", " ")})` : rec.status }));
    }));
  }
  $("rec-select-all").checked = state.items.length > 0 && state.items.every((item) => state.selected.has(item.id));
  renderBulk();
}

function renderBulk() {
  const n = state.selected.size;
  $("rec-bulk-count").textContent = n ? `${n} selected` : "None selected";
  $("rec-bulk-dismiss").disabled = !n;
  $("rec-bulk-fix").disabled = !n;
}

// -- the review screen ------------------------------------------------------------------------

async function openDetail(id) {
  try {
    const rec = await get(`/recommendations/${id}`);
    state.current = rec;
    state.keeper = rec.evidence.keeper ? String(rec.evidence.keeper) : null;
    state.deleteFiles = new Set(rec.type === "duplicate_files" ? rec.evidence.files.filter((f) => !f.keep).map((f) => String(f.id)) : []);
    renderDetail();
    $("rec-browse").hidden = true;
    $("rec-view").hidden = false;
    $("rec-title").focus();
  } catch (err) { notice(err.message); }
}

function closeDetail() {
  state.current = null;
  $("rec-view").hidden = true;
  $("rec-browse").hidden = false;
  load();
}

function renderDetail() {
  const rec = state.current;
  const view = $("rec-view");
  view.dataset.id = String(rec.id);
  view.dataset.status = rec.status;
  $("rec-title").textContent = `${label(rec.type)}: ${summary(rec)}`;
  const dismissal = rec.dismissal ? `, dismissed (${rec.dismissal.replace("_", " ")})` : "";
  $("rec-meta").textContent = `Confidence ${pct(rec.confidence)} · ${rec.status}${dismissal} · raised ${rec.created_at.slice(0, 16).replace("T", " ")}`
    + (rec.resolution ? ` · ${rec.resolution}` : "");
  $("rec-evidence").replaceChildren(...evidence(rec));
  $("rec-compare").replaceChildren(comparison(rec));
  $("rec-actions").replaceChildren(...actions(rec));
  $("rec-history").replaceChildren(...(rec.actions || []).map((a) => h("li", {
    text: `${a.created_at ? a.created_at.slice(0, 19).replace("T", " ") + ": " : ""}${a.action} ${a.status}`
      + (a.detail && a.detail.before && a.detail.after ? ` — before ${JSON.stringify(a.detail.before)}, after ${JSON.stringify(a.detail.after)}` : "")
      + (a.error ? ` (${a.error})` : ""),
  })));
  $("rec-history-wrap").hidden = !(rec.actions || []).length;
}

// Each signal's points and its share of the positive points, as bars.
function evidence(rec) {
  const ev = rec.evidence;
  if (rec.type === "duplicate_scenes") {
    const shares = ev.shares || {};
    const ordered = Object.entries(ev.signals || {}).sort(([a], [b]) => (shares[b] ?? 0) - (shares[a] ?? 0));
    const rows = ordered.map(([name, signal]) => {
      const share = shares[name] ?? 0;
      return h("div", { class: "bar ev", dataset: { signal: name } },
        h("span", { class: "bar-label", text: SIGNALS[name] || name }),
        h("span", { class: "bar-track", role: "img", "aria-label": `${SIGNALS[name] || name}: ${pct(share)} of the score` },
          h("span", { class: "bar-fill", style: `width:${Math.round(share * 100)}%` })),
        h("span", { class: "bar-value", text: pct(share) }),
        h("span", { class: "ev-detail", text: `${signal.points >= 0 ? "+" : ""}${signal.points} points · ${signalDetail(name, signal)}` }));
    });
    return [h("h4", { text: "Evidence" }), h("div", { class: "bars ev-bars" }, rows)];
  }
  if (rec.type === "duplicate_performers") {
    const names = Object.fromEntries(ev.performers.map((p) => [String(p.id), p.name]));
    const kinds = { stash_id: "same stash-box ID", name: "same name and disambiguation", alias: "one's name is the other's alias" };
    return [h("h4", { text: `Evidence (${ev.certainty || "likely"})` }), h("ul", { class: "ev-list" },
      (ev.links || []).map((l) => h("li", { text: `${names[l.a] || l.a} ↔ ${names[l.b] || l.b}: ${kinds[l.kind] || l.kind}` })),
      ev.face_identity ? h("li", { text: "the face DB maps both to one identity" }) : null)];
  }
  if (rec.type === "duplicate_files") {
    return [h("h4", { text: "Evidence" }), h("ul", { class: "ev-list" },
      h("li", { text: `${ev.files.length} files on one scene; codecs: ${(ev.codecs || []).join(", ")}` }),
      h("li", { text: `Suggested keeper: file ${ev.keeper} (${(ev.reasons || []).join(", ") || "first"})` }),
      h("li", { text: `Deleting the others frees ${size(ev.space_saved)}` }))];
  }
  return [h("pre", { class: "summary", text: JSON.stringify(ev, null, 2) })];
}

function signalDetail(name, s) {
  if (name === "stash_id") return `shared ${(s.shared || []).length} stash-box ID${(s.shared || []).length === 1 ? "" : "s"}`;
  if (name === "phash") return `${s.band}, ${s.distance} bit${s.distance === 1 ? "" : "s"} apart`;
  if (name === "timeline") return `median ${s.median_bits} bits at a ${s.offset_s} s offset, ${pct(s.close_share)} close`;
  if (name === "duration") return `${s.verdict} (${(s.seconds || []).map((x) => `${x} s`).join(" vs ")})`;
  if (name === "faces") return `similarity ${s.similarity}`;
  if (name === "metadata") return Object.entries(s).filter(([k]) => k !== "points").map(([k, v]) => `${k.replace(/_/g, " ")} ${v}`).join(", ") || "–";
  return "";
}

// Objects side by side, one column each; rows whose values differ are marked (not by colour only).
function comparison(rec) {
  const ev = rec.evidence;
  let objects, fields, kind;
  if (rec.type === "duplicate_scenes") {
    kind = "scene";
    objects = ev.scenes;
    const files = (s, fn) => s.files.map(fn).join("; ");
    fields = [
      ["Title", (s) => s.title || "–"], ["Duration", (s) => secs(s.duration)], ["Date", (s) => s.date || "–"],
      ["Studio", (s) => s.studio_id || "–"], ["Performers", (s) => (s.performer_ids || []).slice().sort().join(", ") || "–"],
      ["Stash-box IDs", (s) => (s.stash_ids || []).map((i) => i.split("#").pop().slice(0, 8)).join(", ") || "–"],
      ["Files", (s) => String(s.files.length)],
      ["Resolution", (s) => files(s, (f) => `${f.width}×${f.height}`)], ["Codec", (s) => files(s, (f) => f.video_codec || "–")],
      ["Bitrate", (s) => files(s, (f) => rate(f.bit_rate))], ["Size", (s) => files(s, (f) => size(f.size))],
      ["Phash", (s) => files(s, (f) => f.phash || "–")], ["Path", (s) => files(s, (f) => f.path)],
    ];
  } else if (rec.type === "duplicate_performers") {
    kind = "performer";
    objects = ev.performers;
    fields = [
      ["Name", (p) => p.name], ["Disambiguation", (p) => p.disambiguation || "–"], ["Aliases", (p) => (p.aliases || []).join(", ") || "–"],
      ["Scenes", (p) => String(p.scene_count)], ["Images", (p) => String(p.image_count)], ["Galleries", (p) => String(p.gallery_count)],
      ["Stash IDs", (p) => (p.stash_ids || []).join(", ") || "–"], ["Image", (p) => (p.has_image ? "yes" : "no")],
    ];
  } else {
    kind = "file";
    objects = ev.files;
    fields = [
      ["Path", (f) => f.path], ["Resolution", (f) => `${f.width}×${f.height}`], ["Codec", (f) => f.video_codec || "–"],
      ["Bitrate", (f) => rate(f.bit_rate)], ["Size", (f) => size(f.size)], ["Duration", (f) => secs(f.duration)],
    ];
  }
  const editable = rec.status === "open";
  const head = h("tr", {}, h("th", { scope: "col", text: "Field" }), ...objects.map((o) => {
    const id = String(o.id);
    return h("th", { scope: "col", dataset: { id } },
      h("span", { class: "obj-name", text: `${kind[0].toUpperCase()}${kind.slice(1)} ${id}` }),
      h("label", { class: "check keeper" }, h("input", {
        type: "radio", name: "rec-keeper", value: id, checked: state.keeper === id, disabled: !editable,
        "aria-label": `Keep ${kind} ${id}`, onchange: () => { chooseKeeper(id); },
      }), " keep"),
      kind === "file" ? h("label", { class: "check" }, h("input", {
        type: "checkbox", class: "delete-file", value: id, checked: state.deleteFiles.has(id), disabled: !editable || state.keeper === id,
        "aria-label": `Delete file ${id}`, onchange: (event) => toggleDelete(id, event.target.checked),
      }), " delete") : null);
  }));
  const rows = fields.map(([name, fn]) => {
    const values = objects.map(fn);
    const differs = new Set(values).size > 1;
    return h("tr", { class: differs ? "diff" : "", dataset: { field: name } },
      h("th", { scope: "row" }, name, differs ? h("span", { class: "diff-mark", text: " ≠", title: "differs" }) : null,
        differs ? h("span", { class: "visually-hidden", text: " (differs)" }) : null),
      ...values.map((v) => h("td", { text: v })));
  });
  return h("table", { class: "compare", "aria-label": `Side-by-side comparison; rows marked ≠ differ` },
    h("thead", {}, head), h("tbody", {}, rows));
}

function chooseKeeper(id) {
  state.keeper = id;
  if (state.current.type === "duplicate_files") {
    state.deleteFiles.delete(id);
    // The keeper stays; everything else is proposed for deletion again.
    state.deleteFiles = new Set(state.current.evidence.files.map((f) => String(f.id)).filter((f) => f !== id));
  }
  renderDetail();
}

function toggleDelete(id, on) {
  on ? state.deleteFiles.add(id) : state.deleteFiles.delete(id);
  renderDetail();
}

function actions(rec) {
  const type = TYPES[rec.type] || { fix: "Fix" };
  if (rec.status === "open") {
    const safe = fixPlan(rec, state.keeper, state.deleteFiles);
    return [
      h("button", { type: "button", class: "primary", id: "rec-fix", disabled: Boolean(safe.refused), onclick: () => confirmFix([rec], safe) }, `${type.fix}…`),
      safe.refused ? h("span", { class: "error", text: safe.refused }) : null,
      h("button", { type: "button", onclick: () => dismiss(rec.id, "soft") }, "Dismiss"),
      h("button", { type: "button", onclick: () => dismiss(rec.id, "permanent") }, "Dismiss for ever"),
      h("button", { type: "button", onclick: () => dismiss(rec.id, "not_duplicate") }, "Not a duplicate"),
      h("button", { type: "button", onclick: () => markResolved(rec.id) }, "Mark resolved"),
    ];
  }
  if (rec.status === "dismissed") return [h("button", { type: "button", onclick: () => undismiss(rec.id) }, "Undismiss")];
  return [h("span", { class: "meta", text: `This recommendation is ${rec.status}.` })];
}

// What a fix would do, or why it must not run: the client-side half of the safety check (the
// sidecar refuses the same cases on its own).
function fixPlan(rec, keeper, deleteFiles) {
  const ev = rec.evidence;
  if (rec.type === "duplicate_files") {
    const all = ev.files.map((f) => String(f.id));
    const doomed = all.filter((id) => deleteFiles.has(id) && id !== keeper);
    if (!keeper || !all.includes(keeper)) return { refused: "Choose the file to keep." };
    if (!doomed.length) return { refused: "Choose at least one file to delete." };
    if (doomed.length >= all.length) return { refused: "The last file of a scene is never deleted." };
    const files = ev.files.filter((f) => doomed.includes(String(f.id)));
    const kept = ev.files.find((f) => String(f.id) === keeper);
    return {
      keeper, file_ids: doomed,
      text: `Delete ${doomed.length} file${doomed.length === 1 ? "" : "s"} of scene ${ev.scene.id} from Stash and from disk: `
        + files.map((f) => `${f.path} (${f.width}×${f.height} ${f.video_codec}, ${size(f.size)})`).join("; ")
        + `. Keep ${kept.path} (${kept.width}×${kept.height} ${kept.video_codec}, ${size(kept.size)}). Frees ${size(files.reduce((n, f) => n + f.size, 0))}.`,
    };
  }
  const objects = rec.type === "duplicate_scenes" ? ev.scenes : ev.performers;
  if (!keeper || !objects.some((o) => String(o.id) === keeper)) return { refused: "Choose which one to keep." };
  const others = objects.filter((o) => String(o.id) !== keeper).map((o) => String(o.id));
  const what = rec.type === "duplicate_scenes" ? "scene" : "performer";
  return { keeper, text: `Merge ${what}${others.length === 1 ? "" : "s"} ${others.join(", ")} into ${what} ${keeper} in Stash. `
    + `The merged ${what}${others.length === 1 ? " is" : "s are"} deleted; ${rec.type === "duplicate_scenes" ? "its files move to the kept scene" : "its scenes move to the kept performer"}.` };
}

// The confirmation dialog: nothing changes Stash until the user confirms here.
function confirmStep(title, lines, confirmLabel) {
  const dialog = $("rec-confirm");
  $("rec-confirm-title").textContent = title;
  $("rec-confirm-text").replaceChildren(...lines.map((line) => h("li", { text: line })));
  $("rec-confirm-ok").textContent = confirmLabel;
  return new Promise((resolve) => {
    const finish = (answer) => () => {
      $("rec-confirm-ok").removeEventListener("click", yes);
      $("rec-confirm-cancel").removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      dialog.close();
      resolve(answer);
    };
    const yes = finish(true), no = finish(false);
    $("rec-confirm-ok").addEventListener("click", yes);
    $("rec-confirm-cancel").addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    $("rec-confirm-cancel").focus();
  });
}

async function confirmFix(recs, plan) {
  const type = TYPES[recs[0].type] || { fix: "Fix" };
  if (!(await confirmStep(`${type.fix} in Stash?`, [plan.text, "This changes Stash and cannot be undone from here."], `Yes, ${type.fix.toLowerCase()}`))) return;
  const body = { action: "fix", confirm: true, keeper: plan.keeper };
  if (plan.file_ids) body.file_ids = plan.file_ids;
  try {
    const answer = await post(`/recommendations/${recs[0].id}/resolve`, body);
    state.current = answer.recommendation;
    renderDetail();
    $("rec-state").textContent = `Done: ${answer.action.action} (action ${answer.action.id}).`;
    loadCounts();
  } catch (err) { notice(`${type.fix} failed: ${err.message}`); }
}

async function dismiss(id, kind) {
  try {
    state.current = await post(`/recommendations/${id}/dismiss`, { kind });
    renderDetail();
    $("rec-state").textContent = `Dismissed (${kind.replace("_", " ")}).`;
    loadCounts();
  } catch (err) { notice(`Could not dismiss: ${err.message}`); }
}

async function undismiss(id) {
  try { state.current = await post(`/recommendations/${id}/undismiss`); renderDetail(); $("rec-state").textContent = "Open again."; loadCounts(); }
  catch (err) { notice(`Could not undismiss: ${err.message}`); }
}

async function markResolved(id) {
  if (!(await confirmStep("Mark as resolved?", ["Records it as done without changing Stash."], "Mark resolved"))) return;
  try {
    const answer = await post(`/recommendations/${id}/resolve`, { action: "mark_resolved" });
    state.current = answer.recommendation;
    renderDetail();
    loadCounts();
  } catch (err) { notice(err.message); }
}

// -- bulk ---------------------------------------------------------------------------------------

function selectedItems() { return state.items.filter((item) => state.selected.has(item.id)); }

async function bulkDismiss() {
  const kind = $("rec-bulk-kind").value;
  const items = selectedItems();
  let done = 0;
  for (const item of items) {
    try { await post(`/recommendations/${item.id}/dismiss`, { kind }); done += 1; } catch (err) { notice(`${summary(item)}: ${err.message}`); }
  }
  $("rec-bulk-state").textContent = `Dismissed ${done} of ${items.length} (${kind.replace("_", " ")}).`;
  state.selected.clear();
  await Promise.all([loadCounts(), loadList()]);
}

// Bulk fixes use each recommendation's suggested keeper; the plan of each is shown (codecs and
// sizes for files) and any that fails the safety check is left out before the confirmation.
async function bulkFix() {
  const items = selectedItems();
  const plans = [], refused = [];
  for (const item of items) {
    if (item.status !== "open") { refused.push(`${summary(item)}: ${item.status}, not open`); continue; }
    const keeper = item.evidence.keeper ? String(item.evidence.keeper) : null;
    const doomed = item.type === "duplicate_files" ? new Set(item.evidence.files.map((f) => String(f.id)).filter((id) => id !== keeper)) : new Set();
    const plan = fixPlan(item, keeper, doomed);
    if (plan.refused) refused.push(`${summary(item)}: ${plan.refused}`);
    else plans.push([item, plan]);
  }
  const lines = [...plans.map(([item, plan]) => `${label(item.type)}: ${plan.text}`), ...refused.map((r) => `Left out: ${r}`)];
  if (!plans.length) { $("rec-bulk-state").textContent = `Nothing to fix. ${refused.join(" ")}`; return; }
  if (!(await confirmStep(`Fix ${plans.length} recommendation${plans.length === 1 ? "" : "s"} in Stash?`, lines, `Yes, fix ${plans.length}`))) return;
  let done = 0;
  const failed = [];
  for (const [item, plan] of plans) {
    const body = { action: "fix", confirm: true, keeper: plan.keeper };
    if (plan.file_ids) body.file_ids = plan.file_ids;
    try { await post(`/recommendations/${item.id}/resolve`, body); done += 1; } catch (err) { failed.push(`${summary(item)}: ${err.message}`); }
  }
  $("rec-bulk-state").textContent = `Fixed ${done} of ${plans.length}.${failed.length ? " Failed: " + failed.join("; ") : ""}`;
  state.selected.clear();
  await Promise.all([loadCounts(), loadList()]);
}

// -- formatting -----------------------------------------------------------------------------

function label(type) { return TYPES[type] ? TYPES[type].label : type || "–"; }

function size(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let n = bytes, i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

// Seconds with a tenth under a minute: copies differ by fractions of a second.
function secs(x) { return x === null || x === undefined ? "–" : x < 60 ? `${x.toFixed(1)} s` : duration(x); }

function rate(bits) { return bits ? `${Math.round(bits / 1000)} kb/s` : "–"; }
