// Identify a Stash scene and review the people found in it, as in Stash's scene Tagger:
// one row per detected person, largest first; add, link, create from stash-box, or skip.
import { get, post } from "./api.js";
import { $, clock, endpointName, h, notice, pct } from "./util.js";

let scene = null;        // the scene summary from /stash/scenes
let onScene = new Set(); // Stash performer ids currently on the scene
let rows = [];           // one per person: {person, el, choice, linked, state}
let resolved = new Map();
let current = -1;

export function initScenes() {
  $("scene-search").addEventListener("submit", (event) => { event.preventDefault(); search(); });
  $("scene-identify").addEventListener("click", () => scene && identify());
  $("persons").addEventListener("keydown", onKey);
  $("single-frame-list").addEventListener("keydown", onKey);
  $("link-cancel").addEventListener("click", () => $("link-dialog").close());
  $("link-form").addEventListener("submit", (event) => { event.preventDefault(); searchPerformers(); });
  return { show() { $("scene-query").focus(); } };
}

async function search() {
  const list = $("scene-results");
  const q = $("scene-query").value.trim();
  list.replaceChildren(h("li", { class: "meta", text: "Searching Stash…" }));
  try {
    const data = await get(`/stash/scenes?q=${encodeURIComponent(q)}`);
    if (!data.scenes.length) { list.replaceChildren(h("li", { class: "meta", text: `No scene matches “${q}”.` })); return; }
    list.replaceChildren(...data.scenes.map((s) => h("li", {},
      h("button", { type: "button", class: "pick", onclick: () => pick(s) },
        h("strong", { text: s.title || `Scene ${s.id}` }),
        h("span", { class: "meta", text: ` #${s.id}${s.date ? " · " + s.date : ""} · ${s.performers.length ? s.performers.map((p) => p.name).join(", ") : "no performers"}` })))));
  } catch (err) {
    list.replaceChildren(h("li", { class: "error", text: err.message }));
  }
}

function pick(s) {
  scene = s;
  onScene = new Set(s.performers.map((p) => p.id));
  $("scene-results").replaceChildren();
  $("scene-view").hidden = false;
  $("scene-title").textContent = s.title || `Scene ${s.id}`;
  showSceneMeta();
  identify();
}

function showSceneMeta() {
  const names = scene.performers.map((p) => p.name);
  $("scene-meta").textContent = `Scene #${scene.id} · ${clock(scene.duration_s)} · on the scene: ${names.length ? names.join(", ") : "nobody yet"}`;
}

async function identify() {
  const state = $("scene-state");
  $("persons").replaceChildren();
  $("single-frame").hidden = true;
  rows = [];
  current = -1;
  state.textContent = "Identifying… frames are read from Stash and matched against the face DB.";
  $("scene-identify").disabled = true;
  try {
    const frames = Number($("scene-frames").value);
    const data = await post("/identify/scene", { scene_id: scene.id, thumbnail_format: "data_url", params: { num_frames: frames } });
    const result = data.result;
    // Who each candidate is in Stash comes resolved with the identification: shown, never re-decided here.
    resolved = new Map(Object.entries(data.resolutions || {}));
    render(result);
    const t = result.totals;
    state.textContent = `${result.persons.length} people in ${t.frames_analysed} frames (${t.faces_detected} faces) from ${result.source_kind}; ${result.performers.length} identified.`;
  } catch (err) {
    state.textContent = "";
    notice(`Identification failed: ${err.message}`);
  } finally {
    $("scene-identify").disabled = false;
  }
}

function uniqueFrames(person) { return new Set(person.frames).size; }

function render(result) {
  const persons = [...result.persons].sort((a, b) => b.faces - a.faces || a.person - b.person);
  const main = persons.filter((p) => uniqueFrames(p) >= 2);
  const single = persons.filter((p) => uniqueFrames(p) < 2);
  rows = [];
  $("persons").replaceChildren(...main.map((p) => makeRow(p)));
  $("single-frame-list").replaceChildren(...single.map((p) => makeRow(p)));
  $("single-frame").hidden = single.length === 0;
  $("single-frame-summary").textContent = `${single.length} single-frame detection${single.length === 1 ? "" : "s"} (seen in one frame only)`;
  if (!persons.length) $("persons").replaceChildren(h("li", { class: "meta", text: "Nobody was found in this scene." }));
  if (rows.length) focusRow(0, false);
}

function alternativesOf(person) {
  // Fixed per person (the accepted match is left out), so the number keys stay stable.
  const best = person.best_match ? person.best_match.performer_id : null;
  return person.candidates.filter((c) => c.performer_id !== best).sort((a, b) => b.confidence - a.confidence);
}

// Without a confident match, a candidate already tagged on the scene is the likely answer (as
// in Stash's Tagger): it is shown as the row's choice, with its confidence and why it failed.
function taggedCandidate(person) {
  return [...person.candidates].sort((a, b) => b.confidence - a.confidence).find((c) => {
    const r = resolved.get(c.performer_id);
    return r && r.performer && onScene.has(r.performer.id);
  }) || null;
}

function makeRow(person) {
  const row = { person, choice: person.best_match || taggedCandidate(person), linked: null, state: "pending", el: null };
  const index = rows.length;
  rows.push(row);
  row.el = h("li", { class: "person", tabindex: "0", "aria-label": `Person ${person.person + 1}`, dataset: { index: String(index) } });
  row.el.addEventListener("focus", () => { current = index; });
  row.el.addEventListener("focusin", () => { current = index; });
  fillRow(row);
  return row.el;
}

function target(row) {
  // The Stash performer this row would add: a linked one, else the chosen candidate's.
  if (row.linked) return { performer: row.linked, canCreate: false, reason: null };
  if (!row.choice) return { performer: null, canCreate: false, reason: "no candidate chosen" };
  const r = resolved.get(row.choice.performer_id);
  return r ? { performer: r.performer, canCreate: r.can_create, reason: r.reason } : { performer: null, canCreate: false, reason: "not looked up" };
}

function statusText(row) {
  const t = target(row);
  if (row.state === "skipped") return ["Skipped", "muted"];
  if (row.state === "added") return [`Added ${t.performer.name} to the scene`, "ok"];
  if (row.state === "created") return [`Created ${t.performer.name} in Stash and added it to the scene`, "ok"];
  if (!row.choice && !row.linked) return ["No confident match", "muted"];
  if (t.performer && onScene.has(t.performer.id)) return [`Already on the scene (${t.performer.name})`, "ok"];
  if (t.performer) return [`In Stash as ${t.performer.name}${t.performer.disambiguation ? " (" + t.performer.disambiguation + ")" : ""}, not on the scene`, "warn"];
  if (t.canCreate) return ["Not in Stash yet: create it from its stash-box entry", "bad"];
  return [`Not in Stash: ${t.reason || "no matching performer"}`, "bad"];
}

function fillRow(row) {
  const p = row.person;
  const label = `Person ${p.person + 1}`;
  const frames = [...new Set(p.timestamps.map((t) => clock(t)))];
  const t = target(row);
  const [status, kind] = statusText(row);
  const choice = row.linked ? null : row.choice;
  // The best face large, then crops from a few frames spread over the scene.
  const others = (p.thumbnails || []).slice(0, 4);
  const thumbs = h("div", { class: "thumbs" },
    p.thumbnail ? h("img", { src: p.thumbnail, alt: `Best face of ${label}`, width: "96", height: "96" }) : h("div", { class: "nothumb", text: "no image" }),
    others.length ? h("div", { class: "frames" }, ...others.map((src, i) => h("img", { src, alt: `${label} in frame ${i + 1} of ${others.length}`, width: "44", height: "44" }))) : null);
  const best = row.linked
    ? h("p", { class: "best" }, h("strong", { text: row.linked.name }), h("span", { class: "meta", text: " linked by you" }))
    : choice
      ? h("p", { class: "best" }, h("strong", { text: choice.name }),
          h("span", { class: "conf", text: ` ${pct(choice.confidence)} confident` }),
          h("span", { class: "meta", text: ` · ${choice.appearances} faces in ${choice.unique_frames} frames · ${endpointName(choice.performer_id)}` }),
          choice.rejected_because.length ? h("span", { class: "reason", text: ` · not accepted: ${choice.rejected_because.join("; ")}` }) : null)
      : h("p", { class: "best meta", text: "No performer passed the confidence threshold." });
  const alternatives = alternativesOf(p);
  const alts = alternatives.length ? h("details", { class: "alts" },
    h("summary", { text: `${alternatives.length} other candidate${alternatives.length === 1 ? "" : "s"}` }),
    h("ol", {}, ...alternatives.slice(0, 9).map((c, i) => h("li", {},
      h("button", { type: "button", class: "link", "aria-label": `Choose ${c.name} (${pct(c.confidence)}) for ${label}`, onclick: () => choose(row, c) },
        `${i + 1}. ${c.name} · ${pct(c.confidence)}`),
      h("span", { class: "reason", text: c.rejected_because.length ? ` rejected: ${c.rejected_because.join("; ")}` : " accepted" }))))) : null;
  const done = row.state !== "pending";
  const present = t.performer && onScene.has(t.performer.id);
  const actions = h("div", { class: "actions" },
    h("button", { type: "button", class: "primary", "aria-label": `Add to scene: ${label}`, disabled: done || !t.performer || present, onclick: () => add(row), dataset: { action: "add" } }, "Add to scene"),
    t.canCreate && !done ? h("button", { type: "button", "aria-label": `Create from stash-box: ${label}`, onclick: () => create(row), dataset: { action: "create" } }, "Create from stash-box") : null,
    h("button", { type: "button", "aria-label": `Link to another performer: ${label}`, disabled: done, onclick: () => openLink(row), dataset: { action: "link" } }, "Link…"),
    h("button", { type: "button", "aria-label": `Skip ${label}`, disabled: done, onclick: () => skip(row), dataset: { action: "skip" } }, "Skip"));
  row.el.replaceChildren(
    thumbs,
    h("div", { class: "body" },
      h("h4", { text: `${label} · ${p.faces} faces in ${uniqueFrames(p)} frames` }),
      h("p", { class: "meta", text: `Seen at ${frames.slice(0, 8).join(", ")}${frames.length > 8 ? "…" : ""}` }),
      best,
      h("p", { class: `state ${kind}`, text: status, dataset: { state: row.state } }),
      alts,
      actions));
}

function choose(row, candidate) {
  row.choice = candidate;
  row.linked = null;
  fillRow(row);
  row.el.focus();
}

async function add(row) {
  const t = target(row);
  if (!t.performer || row.state !== "pending") return;
  try {
    const answer = await post(`/identify/scene/${scene.id}/apply`, { confirm: true, performer_ids: [t.performer.id] });
    onScene = new Set(answer.scene_performer_ids);
    row.state = "added";
    rememberOnScene(t.performer);
  } catch (err) { notice(`Could not add ${t.performer.name}: ${err.message}`); }
  refreshRows();
}

async function create(row) {
  if (!row.choice || row.state !== "pending") return;
  try {
    const r = resolved.get(row.choice.performer_id);
    const identity = (r && r.create_identity) || row.choice.performer_id;
    const answer = await post("/stash/performers/from-stashbox", { confirm: true, identity, scene_id: scene.id });
    resolved.set(row.choice.performer_id, { identity: row.choice.performer_id, performer: answer.performer, can_create: false, reason: null });
    onScene = new Set(answer.scene_performer_ids);
    row.state = "created";
    rememberOnScene(answer.performer);
  } catch (err) { notice(`Could not create ${row.choice.name}: ${err.message}`); }
  refreshRows();
}

function rememberOnScene(performer) {
  if (!scene.performers.some((p) => p.id === performer.id)) scene.performers.push({ id: performer.id, name: performer.name });
  showSceneMeta();
}

function skip(row) {
  if (row.state !== "pending") return;
  row.state = "skipped";
  fillRow(row);
  focusRow(Math.min(rows.indexOf(row) + 1, rows.length - 1));
}

function refreshRows() {
  const keep = current;
  for (const r of rows) fillRow(r);
  if (keep >= 0) focusRow(keep);
}

let linking = null;
function openLink(row) {
  linking = row;
  $("link-results").replaceChildren();
  $("link-query").value = row.choice ? row.choice.name : "";
  $("link-dialog").showModal();
  $("link-query").focus();
}

async function searchPerformers() {
  const list = $("link-results");
  try {
    const data = await get(`/stash/performers?q=${encodeURIComponent($("link-query").value.trim())}`);
    if (!data.performers.length) { list.replaceChildren(h("li", { class: "meta", text: "No performer matches." })); return; }
    list.replaceChildren(...data.performers.map((p) => h("li", {},
      h("button", { type: "button", class: "pick", onclick: () => link(p) },
        h("strong", { text: p.name }), h("span", { class: "meta", text: `${p.disambiguation ? " (" + p.disambiguation + ")" : ""} #${p.id}` })))));
  } catch (err) { list.replaceChildren(h("li", { class: "error", text: err.message })); }
}

function link(performer) {
  $("link-dialog").close();
  if (!linking) return;
  linking.linked = performer;
  fillRow(linking);
  const index = rows.indexOf(linking);
  linking = null;
  focusRow(index);
  const add = rows[index].el.querySelector("[data-action=add]");
  if (add && !add.disabled) add.focus();
}

function focusRow(index, scroll = true) {
  if (index < 0 || index >= rows.length) return;
  current = index;
  const el = rows[index].el;
  if (el.closest("details") && !el.closest("details").open) el.closest("details").open = true;
  if (scroll) el.focus();
}

function onKey(event) {
  if (event.target.matches("input, textarea, select") || event.altKey || event.ctrlKey || event.metaKey) return;
  const row = rows[current];
  const key = event.key;
  const act = (fn) => { event.preventDefault(); fn(); };
  if (key === "j" || key === "ArrowDown") act(() => focusRow(current + 1));
  else if (key === "k" || key === "ArrowUp") act(() => focusRow(current - 1));
  else if (!row) return;
  else if (key === "a") act(() => add(row));
  else if (key === "c") act(() => { if (target(row).canCreate) create(row); });
  else if (key === "l") act(() => openLink(row));
  else if (key === "s") act(() => skip(row));
  else if (/^[1-9]$/.test(key)) {
    const alt = alternativesOf(row.person)[Number(key) - 1];
    if (alt && row.state === "pending") act(() => choose(row, alt));
  }
}
