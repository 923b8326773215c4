// Stash Sense plugin: the review of duplicate recommendations on the Stash Sense page (a lighter
// review than the dashboard's: list, detail, dismiss, fix). Loaded after stash-sense.js, whose
// helpers it uses through window.StashSensePlugin.
(function () {
  "use strict";

  const shared = window.StashSensePlugin;
  if (!shared || !window.PluginApi) return;
  const React = window.PluginApi.React;
  const { useState, useEffect, useCallback } = React;
  const { h, operation, percent, ErrorLine } = shared;

  // -- recommendations: a lighter review than the dashboard's (list, detail, dismiss, fix) --------

  const REC_TYPES = {
    duplicate_scenes: { label: "Duplicate scenes", fix: "Merge scenes", noun: "scene" },
    duplicate_performers: { label: "Duplicate performers", fix: "Merge performers", noun: "performer" },
    duplicate_files: { label: "Duplicate files", fix: "Delete extra files", noun: "file" },
  };

  function bytes(n) {
    if (n == null) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
  }

  function recSummary(rec) {
    const ev = rec.evidence || {};
    if (rec.type === "duplicate_performers") return (ev.performers || []).map((p) => p.name).join(" / ");
    if (rec.type === "duplicate_files") return `${ev.scene ? ev.scene.title || `scene ${ev.scene.id}` : rec.target}: ${(ev.files || []).length} files`;
    if (rec.type === "duplicate_scenes") return (ev.scenes || []).map((x) => x.title || `scene ${x.id}`).join(" / ");
    return rec.target;
  }

  // Objects (columns) and fields (rows) of the side-by-side comparison.
  function recColumns(rec) {
    const ev = rec.evidence;
    const join = (files, fn) => files.map(fn).join("; ");
    if (rec.type === "duplicate_scenes") {
      return [ev.scenes, [
        ["Title", (x) => x.title || "–"], ["Duration", (x) => (x.duration == null ? "–" : `${x.duration.toFixed(1)} s`)],
        ["Date", (x) => x.date || "–"], ["Performers", (x) => (x.performer_ids || []).slice().sort().join(", ") || "–"],
        ["Resolution", (x) => join(x.files, (f) => `${f.width}×${f.height}`)], ["Codec", (x) => join(x.files, (f) => f.video_codec || "–")],
        ["Size", (x) => join(x.files, (f) => bytes(f.size))], ["Phash", (x) => join(x.files, (f) => f.phash || "–")],
        ["Path", (x) => join(x.files, (f) => f.path)],
      ]];
    }
    if (rec.type === "duplicate_performers") {
      return [ev.performers, [
        ["Name", (p) => p.name], ["Disambiguation", (p) => p.disambiguation || "–"], ["Aliases", (p) => (p.aliases || []).join(", ") || "–"],
        ["Scenes", (p) => String(p.scene_count)], ["Images", (p) => String(p.image_count)], ["Stash IDs", (p) => (p.stash_ids || []).join(", ") || "–"],
      ]];
    }
    return [ev.files, [
      ["Path", (f) => f.path], ["Resolution", (f) => `${f.width}×${f.height}`], ["Codec", (f) => f.video_codec || "–"],
      ["Bitrate", (f) => (f.bit_rate ? `${Math.round(f.bit_rate / 1000)} kb/s` : "–")], ["Size", (f) => bytes(f.size)],
    ]];
  }

  function fixText(rec, keeper) {
    const kind = REC_TYPES[rec.type] || { noun: "object" };
    if (rec.type === "duplicate_files") {
      const doomed = rec.evidence.files.filter((f) => String(f.id) !== keeper);
      return `Delete ${doomed.map((f) => `${f.path} (${f.video_codec}, ${bytes(f.size)})`).join(", ")} from Stash and disk; keep file ${keeper}.`;
    }
    const objects = rec.type === "duplicate_scenes" ? rec.evidence.scenes : rec.evidence.performers;
    const others = objects.map((o) => String(o.id)).filter((id) => id !== keeper);
    return `Merge ${kind.noun} ${others.join(", ")} into ${kind.noun} ${keeper} in Stash.`;
  }

  function RecommendationReview({ id, onClose }) {
    const [rec, setRec] = useState(null);
    const [keeper, setKeeper] = useState(null);
    const [confirming, setConfirming] = useState(false);
    const [error, setError] = useState(null);
    const [message, setMessage] = useState(null);
    useEffect(() => {
      operation({ mode: "recommendation_detail", id: String(id) }).then(
        (data) => { setRec(data); setKeeper(String(data.evidence.keeper || "")); },
        (e) => setError(e.message));
    }, [id]);
    if (!rec) return h("div", null, h(ErrorLine, { error }), error ? null : h("p", null, "Loading…"));
    const kind = REC_TYPES[rec.type] || { label: rec.type, fix: "Fix", noun: "object" };
    const [objects, fields] = recColumns(rec);
    const open = rec.status === "open";
    const act = async (args, done) => {
      setError(null);
      try {
        const data = await operation({ ...args, id: String(rec.id) });
        setRec(data.recommendation || data);
        setMessage(done);
      } catch (e) { setError(e.message); }
      setConfirming(false);
    };
    const shares = rec.evidence.shares || {};
    return h("div", { className: "stash-sense-review", "data-status": rec.status },
      h("button", { type: "button", className: "btn btn-link", onClick: onClose }, "Back to recommendations"),
      h("h4", null, `${kind.label}: ${recSummary(rec)}`),
      h("p", { className: "stash-sense-meta" }, `Confidence ${percent(rec.confidence)} · ${rec.status}${rec.dismissal ? ` (${rec.dismissal.replace("_", " ")})` : ""}`),
      Object.keys(shares).length ? h("ul", { className: "stash-sense-evidence", "aria-label": "Evidence" },
        Object.entries(shares).sort((a, b) => b[1] - a[1]).map(([name, share]) => h("li", { key: name }, `${name.replace("_", " ")}: ${percent(share)} of the score`))) : null,
      h("div", { className: "stash-sense-compare-wrap" }, h("table", { className: "stash-sense-compare", "aria-label": "Side by side; rows marked ≠ differ" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Field"), objects.map((o) => h("th", { scope: "col", key: o.id },
          `${kind.noun} ${o.id} `,
          h("label", null, h("input", { type: "radio", name: "stash-sense-keeper", value: String(o.id), checked: keeper === String(o.id), disabled: !open,
            "aria-label": `Keep ${kind.noun} ${o.id}`, onChange: () => setKeeper(String(o.id)) }), " keep"))))),
        h("tbody", null, fields.map(([name, fn]) => {
          const values = objects.map(fn);
          const differs = new Set(values).size > 1;
          return h("tr", { key: name, className: differs ? "stash-sense-differs" : "" },
            h("th", { scope: "row" }, differs ? `${name} ≠` : name), values.map((v, i) => h("td", { key: i }, v)));
        })))),
      h(ErrorLine, { error }),
      message ? h("p", { className: "stash-sense-status", "aria-live": "polite" }, message) : null,
      confirming ? h("div", { className: "stash-sense-confirm", role: "group", "aria-label": "Confirm the change" },
        h("p", null, fixText(rec, keeper), " This changes Stash."),
        h("button", { type: "button", className: "btn btn-danger", onClick: () => act({ mode: "recommendation_resolve", keeper, confirm: true }, `${kind.fix}: done.`) }, `Yes, ${kind.fix.toLowerCase()}`),
        h("button", { type: "button", className: "btn btn-secondary", onClick: () => setConfirming(false) }, "Cancel")) : null,
      open && !confirming ? h("div", { className: "stash-sense-actions" },
        h("button", { type: "button", className: "btn btn-primary", onClick: () => setConfirming(true), disabled: !keeper }, `${kind.fix}…`),
        h("button", { type: "button", className: "btn btn-secondary", onClick: () => act({ mode: "recommendation_dismiss", kind: "soft" }, "Dismissed until the evidence changes.") }, "Dismiss"),
        h("button", { type: "button", className: "btn btn-secondary", onClick: () => act({ mode: "recommendation_dismiss", kind: "permanent" }, "Dismissed for ever.") }, "Dismiss for ever"),
        h("button", { type: "button", className: "btn btn-secondary", onClick: () => act({ mode: "recommendation_dismiss", kind: "not_duplicate" }, "Marked as not a duplicate.") }, "Not a duplicate")) : null,
      rec.status === "dismissed" ? h("button", { type: "button", className: "btn btn-secondary", onClick: () => act({ mode: "recommendation_undismiss" }, "Open again.") }, "Undismiss") : null
    );
  }

  function Recommendations() {
    const [type, setType] = useState("");
    const [status, setStatus] = useState("open");
    const [analysisType, setAnalysisType] = useState("scenes");
    const [full, setFull] = useState(false);
    const [list, setList] = useState({ loading: true });
    const [counts, setCounts] = useState(null);
    const [analysis, setAnalysis] = useState(null);
    const [error, setError] = useState(null);
    const [openId, setOpenId] = useState(null);
    const load = useCallback(() => {
      operation({ mode: "recommendations_counts" }).then(setCounts, (e) => setError(e.message));
      return operation({ mode: "recommendations_list", type, status, per_page: 20 }).then(
        (data) => setList({ data }), (e) => setList({ error: e.message }));
    }, [type, status]);
    useEffect(() => { load(); }, [load]);
    const poll = useCallback(async () => {
      try {
        const s = await operation({ mode: "analysis_status" });
        // A finished run changes the list: reload it before showing that the run finished.
        if (!s.running) await load();
        setAnalysis(s);
        if (s.running) setTimeout(poll, 1000);
      } catch (e) { setError(e.message); }
    }, [load]);
    useEffect(() => { poll(); }, []);
    const start = async () => {
      setError(null);
      try { setAnalysis(await operation({ mode: "analysis_start", type: analysisType, full })); setTimeout(poll, 500); } catch (e) { setError(e.message); }
    };
    const last = analysis && !analysis.running && analysis.recent && analysis.recent[0];
    const items = list.data ? list.data.items : [];
    return h("section", { className: "stash-sense-card", "aria-labelledby": "stash-sense-recs" },
      h("h3", { id: "stash-sense-recs" }, "Recommendations"),
      counts ? h("p", { className: "stash-sense-meta" }, `${counts.open} open: ` + Object.keys(REC_TYPES).map((t) => `${REC_TYPES[t].label.toLowerCase()} ${((counts.counts[t] || {}).open) || 0}`).join(", ")) : null,
      h(ErrorLine, { error: error || list.error }),
      openId ? h(RecommendationReview, { key: openId, id: openId, onClose: () => { setOpenId(null); load(); } }) : h(React.Fragment, null,
        h("div", { className: "stash-sense-inline" },
          h("span", { className: "stash-sense-field" },
            h("label", { htmlFor: "stash-sense-analysis-type" }, "Analysis"),
            h("select", { id: "stash-sense-analysis-type", className: "form-control input-control", value: analysisType, onChange: (e) => setAnalysisType(e.target.value) },
              h("option", { value: "scenes" }, "Duplicate scenes"), h("option", { value: "performers" }, "Duplicate performers"), h("option", { value: "files" }, "Duplicate files"))),
          h("label", { className: "stash-sense-check" }, h("input", { type: "checkbox", checked: full, onChange: (e) => setFull(e.target.checked) }), "Full re-run"),
          h("button", { type: "button", className: "btn btn-secondary", onClick: start, disabled: !!(analysis && analysis.running) }, "Run analysis")),
        analysis && analysis.running ? h("p", { "aria-live": "polite", className: "stash-sense-analysis", "data-status": "running" }, `Analysis running: ${percent(analysis.progress || 0)}`)
          : last ? h("p", { "aria-live": "polite", className: "stash-sense-analysis", "data-status": last.status, "data-run": String(last.id) },
            `Last analysis (${last.type.replace("duplicate_", "")}): ${last.status}, ${last.raised} raised, ${last.suppressed} kept dismissed`) : null,
        h("div", { className: "stash-sense-inline" },
          h("span", { className: "stash-sense-field" },
            h("label", { htmlFor: "stash-sense-rec-type" }, "Type"),
            h("select", { id: "stash-sense-rec-type", className: "form-control input-control", value: type, onChange: (e) => setType(e.target.value) },
              h("option", { value: "" }, "All types"), Object.entries(REC_TYPES).map(([t, k]) => h("option", { key: t, value: t }, k.label)))),
          h("span", { className: "stash-sense-field" },
            h("label", { htmlFor: "stash-sense-rec-status" }, "Status"),
            h("select", { id: "stash-sense-rec-status", className: "form-control input-control", value: status, onChange: (e) => setStatus(e.target.value) },
              ["open", "dismissed", "resolved", "obsolete"].map((st) => h("option", { key: st, value: st }, st))))),
        list.loading ? h("p", null, "Loading…") : !items.length ? h("p", null, "No recommendations here.") :
          h("ul", { className: "stash-sense-matches stash-sense-recs" }, items.map((rec) => h("li", { key: rec.id, "data-target": rec.target },
            h("button", { type: "button", className: "btn btn-link", onClick: () => setOpenId(rec.id) },
              `${(REC_TYPES[rec.type] || { label: rec.type }).label}: ${recSummary(rec)} (${percent(rec.confidence)})`))))
      )
    );
  }

  shared.Recommendations = Recommendations;
})();
