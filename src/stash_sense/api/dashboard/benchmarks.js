// Benchmark reports written by `stash-sense benchmark`: list them and open one.
import { api, get } from "./api.js";
import { $, h, notice } from "./util.js";

export function initBenchmarks() { return { show: load }; }

async function load() {
  try {
    const data = await get("/benchmarks");
    $("bench-dir").textContent = `Reports in ${data.directory} (set STASH_SENSE_BENCHMARK_DIR, and run stash-sense benchmark --output-dir inside it).`;
    $("bench-list").replaceChildren(...(data.reports.length ? data.reports.map((r) => h("li", {},
      h("button", { type: "button", class: "pick", onclick: () => open(r.name) },
        h("strong", { text: r.name }), h("span", { class: "meta", text: ` · ${r.modified_at}${r.summary_head ? " · " + r.summary_head.split("\n")[0] : ""}` }))))
      : [h("li", { class: "meta", text: "No benchmark reports yet." })]));
  } catch (err) { notice(err.message); }
}

async function open(name) {
  try {
    const report = await get(`/benchmarks/${encodeURIComponent(name)}`);
    $("bench-view").hidden = false;
    $("bench-title").textContent = report.name;
    $("bench-summary").textContent = report.summary || "(no summary.txt)";
    const frame = $("bench-frame");
    // Shown from the fetched text in a sandboxed frame: the report needs no scripts and the
    // frame cannot reach the API or this page.
    frame.srcdoc = report.html_path ? await api("GET", report.html_path) : "<p>No HTML report in this folder.</p>";
  } catch (err) { notice(err.message); }
}
