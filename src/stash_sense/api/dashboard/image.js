// Identify the people in one uploaded or dropped image.
import { api } from "./api.js";
import { $, endpointName, h, notice, pct } from "./util.js";

let file = null;

export function initImage() {
  const zone = $("drop-zone");
  $("image-file").addEventListener("change", () => { file = $("image-file").files[0] || null; chosen(); });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    file = event.dataTransfer.files[0] || null;
    chosen();
    if (file) identify();
  });
  $("image-form").addEventListener("submit", (event) => { event.preventDefault(); identify(); });
  return { show() {} };
}

function chosen() {
  $("image-state").textContent = file ? `Chosen: ${file.name} (${Math.round(file.size / 1024)} kB)` : "";
}

async function identify() {
  if (!file) { notice("Choose or drop an image first."); return; }
  const form = new FormData();
  form.append("file", file, file.name);
  $("image-state").textContent = `Identifying ${file.name}…`;
  $("image-submit").disabled = true;
  try {
    const result = await api("POST", "/identify", form);
    show(result);
    const accepted = result.faces.filter((f) => f.matches.length).length;
    $("image-state").textContent = `${result.faces.length} face${result.faces.length === 1 ? "" : "s"} found, ${accepted} identified (${result.elapsed_s.toFixed(2)} s).`;
  } catch (err) {
    $("image-state").textContent = "";
    notice(`Identification failed: ${err.message}`);
  } finally {
    $("image-submit").disabled = false;
  }
}

function show(result) {
  const preview = $("image-preview");
  if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  $("image-boxes").replaceChildren(...result.faces.map((f, i) => {
    const [x, y, w, hgt] = f.box;
    const box = h("div", { class: `facebox ${f.matches.length ? "hit" : ""}`, "aria-hidden": "true" }, h("span", { text: String(i + 1) }));
    Object.assign(box.style, {
      left: `${(100 * x) / result.width}%`, top: `${(100 * y) / result.height}%`,
      width: `${(100 * w) / result.width}%`, height: `${(100 * hgt) / result.height}%`,
    });
    return box;
  }));
  $("image-faces").replaceChildren(...result.faces.map((f, i) => {
    const best = f.matches[0];
    const others = f.candidates.filter((c) => !best || c.performer_id !== best.performer_id);
    return h("li", { class: "face" },
      h("h4", { text: `Face ${i + 1}` }),
      best
        ? h("p", { class: "best" }, h("strong", { text: best.name }), h("span", { class: "conf", text: ` ${pct(best.confidence)} confident` }),
            h("span", { class: "meta", text: ` · ${endpointName(best.performer_id)}` }))
        : h("p", { class: "best meta", text: "No confident match." }),
      others.length ? h("details", { class: "alts" }, h("summary", { text: `${others.length} other candidate${others.length === 1 ? "" : "s"}` }),
        h("ol", {}, ...others.map((c) => h("li", {}, `${c.name} · ${pct(c.confidence)}`,
          h("span", { class: "reason", text: c.rejected_because ? ` rejected: ${c.rejected_because}` : "" }))))) : null);
  }));
  $("image-result").hidden = false;
  $("image-result").dataset.file = file.name;
}
