// Stash Sense UI plugin: an "Identify performers" tab on scene pages and a Stash Sense page at
// /plugin/stash-sense. Everything goes through Stash: the sidecar is reached with
// runPluginOperation / runPluginTask (the plugin backend proxies), and changes to scenes and
// performers are Stash GraphQL mutations, so no sidecar origin is needed in Stash's CSP.
// Plain JavaScript on window.PluginApi (React without JSX): Stash loads this file as is.
(function () {
  "use strict";

  const api = window.PluginApi;
  if (!api) return;
  const React = api.React;
  const h = React.createElement;
  const { useState, useEffect, useCallback, useRef } = React;
  const PLUGIN_ID = "stash-sense";
  const ROUTE = "/plugin/stash-sense";
  const TAB_KEY = "stash-sense-panel";
  const TASK_GENERATE = "Generate fingerprints";
  // What stash-sense-recommendations.js (loaded after this file) builds on, and gives back.
  const shared = (window.StashSensePlugin = window.StashSensePlugin || {});

  // Every GraphQL document the plugin sends (validated against Stash's schema by the tests).
  const DOCUMENTS = {
    runOperation: `mutation StashSenseOperation($plugin_id: ID!, $args: Map) {
      runPluginOperation(plugin_id: $plugin_id, args: $args)
    }`,
    runTask: `mutation StashSenseTask($plugin_id: ID!, $task_name: String, $args_map: Map) {
      runPluginTask(plugin_id: $plugin_id, task_name: $task_name, args_map: $args_map)
    }`,
    findJob: `query StashSenseJob($id: ID!) {
      findJob(input: {id: $id}) { id status progress description error }
    }`,
    scenePerformers: `query StashSenseScene($id: ID!) {
      findScene(id: $id) { id title performers { id name } }
    }`,
    searchPerformers: `query StashSensePerformers($q: String!) {
      findPerformers(filter: {q: $q, per_page: 20, sort: "name", direction: ASC}) {
        performers { id name disambiguation alias_list }
      }
    }`,
    addPerformers: `mutation StashSenseAdd($scene_ids: [ID!], $performer_ids: [ID!]) {
      bulkSceneUpdate(input: {ids: $scene_ids, performer_ids: {ids: $performer_ids, mode: ADD}}) {
        id performers { id name }
      }
    }`,
    createPerformer: `mutation StashSenseCreate($input: PerformerCreateInput!) {
      performerCreate(input: $input) { id name }
    }`,
    findScenes: `query StashSenseFindScenes($q: String!) {
      findScenes(filter: {q: $q, per_page: 10, sort: "title", direction: ASC}) { scenes { id title date } }
    }`,
  };

  // -- Stash GraphQL -------------------------------------------------------------------------

  // Stash's own URL for a path: under its base path (<base href>, "/stash/" behind a reverse
  // proxy at /stash), exactly as Stash's UI builds its GraphQL URL (getPlatformURL).
  function stashURL(path) {
    const base = document.querySelector("base");
    return new URL((base && base.getAttribute("href")) || "/", window.location.origin).href.replace(/\/?$/, "/") + path;
  }

  async function gql(query, variables) {
    const response = await fetch(stashURL("graphql"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_err) {
      throw new Error(`Stash answered ${response.status} ${response.statusText}`);
    }
    if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join("; "));
    if (!response.ok) throw new Error(`Stash answered ${response.status}`);
    return body.data;
  }

  const operation = (args) => gql(DOCUMENTS.runOperation, { plugin_id: PLUGIN_ID, args }).then((d) => d.runPluginOperation);

  async function scenePerformers(sceneId) {
    const data = await gql(DOCUMENTS.scenePerformers, { id: String(sceneId) });
    if (!data.findScene) throw new Error(`Stash has no scene ${sceneId}`);
    return data.findScene;
  }

  // Who a candidate is in Stash comes resolved with the identification (the sidecar's one
  // rule: this Stash's own id, a stash-box link, a folder DB's name); the row only shows it.
  function fromResolution(r) {
    if (!r) return { performer: null, why: "not looked up" };
    if (r.performer) return { performer: r.performer, why: null };
    return { performer: null, why: r.can_create ? "not in Stash" : r.reason || "not in Stash", canCreate: !!r.can_create, createIdentity: r.create_identity };
  }

  async function addToScene(sceneId, performerId) {
    const data = await gql(DOCUMENTS.addPerformers, { scene_ids: [String(sceneId)], performer_ids: [String(performerId)] });
    return data.bulkSceneUpdate[0].performers;
  }

  async function createFromStashBox(candidate, identity) {
    // identity: '<stash-box endpoint as Stash spells it>#<stash_id>', from the resolution.
    const at = identity.lastIndexOf("#");
    const input = { name: candidate.name, stash_ids: [{ endpoint: identity.slice(0, at), stash_id: identity.slice(at + 1) }] };
    return (await gql(DOCUMENTS.createPerformer, { input })).performerCreate;
  }

  // -- small pieces ------------------------------------------------------------------------------

  const percent = (x) => `${Math.round((x || 0) * 100)}%`;

  function formatEta(seconds) {
    if (seconds == null) return "unknown";
    if (seconds < 90) return `${Math.round(seconds)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function ErrorLine({ error }) {
    return error ? h("p", { className: "stash-sense-error", role: "alert" }, error) : null;
  }

  // -- one detected person ---------------------------------------------------------------------

  function PersonRow({ person, index, sceneId, onScene, showRejected, onAdded, resolutions }) {
    // The accepted match, or an alternative the user picked instead (as in Stash's Tagger).
    const [best, setBest] = useState(person.best_match);
    const resolutionOf = (c) => (c ? fromResolution(resolutions[c.performer_id]) : null);
    const [resolved, setResolved] = useState(() => resolutionOf(person.best_match));
    const [state, setState] = useState("open"); // open | busy | added | skipped
    const [error, setError] = useState(null);
    const [linking, setLinking] = useState(false);
    const [query, setQuery] = useState("");
    const [matches, setMatches] = useState([]);
    const label = `person ${index + 1}`;

    useEffect(() => {
      setResolved(resolutionOf(best));
    }, [best && best.performer_id]);

    const act = useCallback(async (fn) => {
      setState("busy");
      setError(null);
      try {
        await fn();
        setState("added");
      } catch (e) {
        setError(e.message);
        setState("open");
      }
    }, []);

    const add = (performer) => act(async () => {
      const performers = await addToScene(sceneId, performer.id);
      onAdded(performers);
    });
    const create = () => act(async () => {
      const performer = await createFromStashBox(best, resolved.createIdentity);
      setResolved({ performer, why: null });
      onAdded(await addToScene(sceneId, performer.id));
    });

    useEffect(() => {
      if (!linking) return undefined;
      let live = true;
      const timer = setTimeout(() => {
        gql(DOCUMENTS.searchPerformers, { q: query }).then(
          (d) => live && setMatches(d.findPerformers.performers),
          (e) => live && setError(e.message)
        );
      }, 200);
      return () => { live = false; clearTimeout(timer); };
    }, [linking, query]);

    const performer = resolved && resolved.performer;
    const already = performer && onScene.has(String(performer.id));
    const alternatives = (person.candidates || []).filter((c) => !best || c.performer_id !== best.performer_id).slice(0, 3);
    const rejected = (person.candidates || []).filter((c) => !c.accepted && (c.rejected_because || []).length);
    const thumbs = person.thumbnail ? [person.thumbnail] : [];

    let status = "No match above the minimum confidence";
    if (best && !resolved) status = "Looking it up in Stash…";
    else if (already) status = "Already on this scene";
    else if (performer) status = `In Stash as ${performer.name}`;
    else if (best) status = resolved.why === "not in Stash" ? "Not in Stash yet" : resolved.why;
    if (state === "added") status = "Added to this scene";
    if (state === "skipped") status = "Skipped";

    const rowClass = `stash-sense-row stash-sense-row-${state}${already ? " stash-sense-row-present" : ""}`;
    const done = state === "added" || state === "skipped";
    return h("li", { className: rowClass, "aria-label": best ? `${label}: ${best.name}` : label },
      h("div", { className: "stash-sense-faces" },
        thumbs.slice(0, 4).map((src, i) => h("img", { key: i, src, alt: `Face of ${label}, frame ${i + 1}`, width: 72, height: 72 }))
      ),
      h("div", { className: "stash-sense-body" },
        h("div", { className: "stash-sense-title" },
          h("strong", null, best ? best.name : `Unknown ${label}`),
          best ? h("span", { className: "stash-sense-confidence", title: "Calibrated confidence" }, percent(best.confidence)) : null,
          h("span", { className: "stash-sense-meta" }, `${person.faces} faces in ${(person.frames || []).length} frames`)
        ),
        h("p", { className: "stash-sense-status", "aria-live": "polite" }, status),
        alternatives.length && !done
          ? h("div", { className: "stash-sense-alternatives" }, h("span", null, "Also possible:"),
            alternatives.map((c) => h("button", {
              key: c.performer_id, type: "button", className: "btn btn-link", onClick: () => setBest(c),
              "aria-label": `Use ${c.name} (${percent(c.confidence)}) for ${label}`,
            }, `${c.name} ${percent(c.confidence)}`)))
          : null,
        best && !best.accepted && !done
          ? h("p", { className: "stash-sense-meta" }, "Chosen by you: below the minimum confidence")
          : null,
        showRejected && rejected.length
          ? h("details", { className: "stash-sense-rejected" },
            h("summary", null, `Why ${rejected.length} other candidate${rejected.length > 1 ? "s were" : " was"} rejected`),
            h("ul", null, rejected.map((c) => h("li", { key: c.performer_id }, `${c.name}: ${c.rejected_because.join(", ")}`))))
          : null,
        h(ErrorLine, { error }),
        done ? null : h("div", { className: "stash-sense-actions" },
          performer && !already
            ? h("button", { type: "button", className: "btn btn-primary", disabled: state === "busy", onClick: () => add(performer) },
              `Add ${performer.name} to scene`)
            : null,
          best && resolved && resolved.canCreate
            ? h("button", { type: "button", className: "btn btn-primary", disabled: state === "busy", onClick: create },
              `Create ${best.name} from stash-box`)
            : null,
          h("button", { type: "button", className: "btn btn-secondary", "aria-expanded": linking, onClick: () => setLinking(!linking) },
            linking ? "Close search" : "Link another performer"),
          h("button", { type: "button", className: "btn btn-secondary", onClick: () => setState("skipped") }, "Skip")
        ),
        linking && !done
          ? h("div", { className: "stash-sense-link" },
            h("label", { htmlFor: `stash-sense-search-${sceneId}-${index}` }, `Search Stash performers for ${label}`),
            h("input", {
              id: `stash-sense-search-${sceneId}-${index}`, type: "search", className: "form-control text-input", value: query,
              onChange: (e) => setQuery(e.target.value), autoFocus: true,
            }),
            h("ul", { className: "stash-sense-matches" },
              matches.map((p) => h("li", { key: p.id },
                h("button", { type: "button", className: "btn btn-link", onClick: () => add(p) },
                  `Add ${p.name}${p.disambiguation ? ` (${p.disambiguation})` : ""}`))))
          )
          : null
      )
    );
  }

  // -- a scene's identification -----------------------------------------------------------------

  function ScenePanel({ sceneId }) {
    const [state, setState] = useState({ phase: "idle" });
    const [onScene, setOnScene] = useState(new Set());

    const identify = useCallback(async () => {
      setState({ phase: "running" });
      try {
        const [answer, scene] = await Promise.all([operation({ mode: "identify_scene", scene_id: String(sceneId) }), scenePerformers(sceneId)]);
        setOnScene(new Set(scene.performers.map((p) => String(p.id))));
        setState({ phase: "done", answer });
      } catch (e) {
        setState({ phase: "error", error: e.message });
      }
    }, [sceneId]);

    const onAdded = useCallback((performers) => setOnScene(new Set(performers.map((p) => String(p.id)))), []);

    const answer = state.answer;
    const persons = answer ? [...answer.result.persons].sort((a, b) => b.faces - a.faces) : [];
    const main = persons.filter((p) => (p.frames || []).length >= 2);
    const single = persons.filter((p) => (p.frames || []).length < 2);
    const row = (p, i) => h(PersonRow, {
      key: p.person, person: p, index: i, sceneId, onScene, onAdded, showRejected: !!answer.show_rejected,
      resolutions: answer.resolutions || {},
    });
    return h("section", { className: "stash-sense-panel", "aria-label": "Stash Sense identification" },
      h("div", { className: "stash-sense-toolbar" },
        h("button", {
          type: "button", className: "btn btn-primary", onClick: identify, disabled: state.phase === "running",
          "aria-busy": state.phase === "running",
        }, state.phase === "running" ? "Identifying performers…" : "Identify performers"),
        answer ? h("span", { className: "stash-sense-meta" },
          `${answer.result.performers.length} performer(s) found in ${answer.result.totals.frames_analysed} frames`) : null
      ),
      h(ErrorLine, { error: state.error }),
      answer && !persons.length ? h("p", null, "No faces were found in this scene.") : null,
      main.length ? h("ol", { className: "stash-sense-rows" }, main.map(row)) : null,
      single.length
        ? h("details", { className: "stash-sense-single" },
          h("summary", null, `${single.length} single-frame detection${single.length > 1 ? "s" : ""}`),
          h("ol", { className: "stash-sense-rows" }, single.map((p, i) => row(p, main.length + i))))
        : null
    );
  }

  // -- the Stash Sense page -------------------------------------------------------------------------

  function useOperation(args, deps) {
    const [state, setState] = useState({ loading: true });
    const reload = useCallback(() => {
      setState((s) => ({ ...s, loading: true }));
      return operation(args).then(
        (data) => setState({ data }),
        (e) => setState({ error: e.message })
      );
    }, deps);
    useEffect(() => { reload(); }, [reload]);
    return [state, reload];
  }

  function Fingerprints() {
    const [status, reload] = useOperation({ mode: "fingerprints_status" }, []);
    const [error, setError] = useState(null);
    const [jobId, setJobId] = useState(null);
    const job = status.data && status.data.job;
    const running = job && ["listing", "running", "stopping"].includes(job.status);
    const timer = useRef(null);

    useEffect(() => {
      if (!running && !jobId) return undefined;
      timer.current = setTimeout(reload, 2000);
      return () => clearTimeout(timer.current);
    }, [status]);

    const start = async () => {
      setError(null);
      try {
        const data = await gql(DOCUMENTS.runTask, { plugin_id: PLUGIN_ID, task_name: TASK_GENERATE, args_map: {} });
        setJobId(data.runPluginTask);
        setTimeout(reload, 1000);
      } catch (e) { setError(e.message); }
    };
    const stop = async () => {
      setError(null);
      try { await operation({ mode: "fingerprints_stop" }); setJobId(null); reload(); } catch (e) { setError(e.message); }
    };

    const s = status.data;
    return h("section", { className: "stash-sense-card", "aria-labelledby": "stash-sense-fp" },
      h("h3", { id: "stash-sense-fp" }, "Fingerprints"),
      h(ErrorLine, { error: status.error || error }),
      s ? h("dl", { className: "stash-sense-facts" },
        h("dt", null, "Coverage"), h("dd", null, s.coverage == null ? "unknown" : `${percent(s.coverage)} (${s.fingerprinted} of ${s.total_scenes} scenes)`),
        h("dt", null, "Outdated"), h("dd", null, String(s.needs_refresh)),
        h("dt", null, "Failed"), h("dd", null, String(s.failed))
      ) : status.loading ? h("p", null, "Loading…") : null,
      job && job.status !== "idle" ? h("div", { className: "stash-sense-job" },
        h("progress", { max: 100, value: job.percent || 0, "aria-label": "Fingerprint job progress" }),
        h("p", { "aria-live": "polite" },
          `${job.status}: ${job.done} of ${job.total} scenes${running ? `, about ${formatEta(job.eta_s)} left` : ""}`)
      ) : null,
      h("div", { className: "stash-sense-actions" },
        h("button", { type: "button", className: "btn btn-primary", onClick: start, disabled: !!running }, "Start fingerprints"),
        h("button", { type: "button", className: "btn btn-secondary", onClick: stop, disabled: !running }, "Stop fingerprints")
      )
    );
  }

  function Status() {
    const [health, reload] = useOperation({ mode: "health" }, []);
    const [db] = useOperation({ mode: "database_info" }, []);
    const d = health.data;
    return h("section", { className: "stash-sense-card", "aria-labelledby": "stash-sense-status" },
      h("h3", { id: "stash-sense-status" }, "Sidecar"),
      h(ErrorLine, { error: health.error }),
      d ? h("dl", { className: "stash-sense-facts" },
        h("dt", null, "Status"), h("dd", null, `${d.status} (version ${d.version})`),
        h("dt", null, "Stash"), h("dd", null, d.stash.reachable ? `reachable${d.stash.version ? `, ${d.stash.version}` : ""}` : d.stash.error || "not configured"),
        h("dt", null, "Face DB"), h("dd", null, d.face_db.loaded ? `loaded, version ${d.face_db.version}` : d.face_db.error || "not loaded"),
        db.data ? h(React.Fragment, null,
          h("dt", null, "Performers"), h("dd", null, `${db.data.performers} (${db.data.faces} faces)`),
          h("dt", null, "Model"), h("dd", null, db.data.embedding_model)) : null
      ) : health.loading ? h("p", null, "Loading…") : null,
      h("button", { type: "button", className: "btn btn-secondary", onClick: reload }, "Test connection")
    );
  }

  // Pick a scene from Stash by title words or by id.
  function IdentifyScene() {
    const [value, setValue] = useState("");
    const [found, setFound] = useState(null);
    const [error, setError] = useState(null);
    const [scene, setScene] = useState(null);
    const submit = async (e) => {
      e.preventDefault();
      const q = value.trim();
      setError(null);
      try {
        if (/^\d+$/.test(q)) {
          const byId = await scenePerformers(q);
          setFound([byId]);
        } else {
          setFound((await gql(DOCUMENTS.findScenes, { q })).findScenes.scenes);
        }
      } catch (err) {
        setError(err.message);
        setFound(null);
      }
    };
    return h("section", { className: "stash-sense-card", "aria-labelledby": "stash-sense-identify" },
      h("h3", { id: "stash-sense-identify" }, "Identify a scene"),
      h("form", { className: "stash-sense-inline", onSubmit: submit },
        h("label", { htmlFor: "stash-sense-scene-query" }, "Scene title or id"),
        h("input", { id: "stash-sense-scene-query", className: "form-control text-input", value, onChange: (e) => setValue(e.target.value) }),
        h("button", { type: "submit", className: "btn btn-secondary" }, "Find scene")
      ),
      h(ErrorLine, { error }),
      found && !found.length ? h("p", null, "No scene matches.") : null,
      found && found.length
        ? h("ul", { className: "stash-sense-matches" }, found.map((s) => h("li", { key: s.id },
          h("button", { type: "button", className: "btn btn-link", onClick: () => setScene(s) },
            `Open ${s.title || `scene ${s.id}`}${s.date ? ` (${s.date})` : ""}`))))
        : null,
      scene ? h("div", null, h("h4", null, scene.title || `Scene ${scene.id}`), h(ScenePanel, { key: scene.id, sceneId: scene.id })) : null
    );
  }

  Object.assign(shared, { h, operation, percent, ErrorLine });

  function StashSensePage() {
    return h("div", { className: "stash-sense-page" },
      h("h2", null, "Stash Sense"),
      h("div", { className: "stash-sense-grid" }, h(Status), h(Fingerprints)),
      h(IdentifyScene),
      shared.Recommendations ? h(shared.Recommendations) : null
    );
  }

  // -- registration ----------------------------------------------------------------------------

  api.register.route(ROUTE, StashSensePage);

  // In Stash's open phone menu, following an entry closes the menu (Stash's own entries do it
  // through the navbar's state, out of a plugin's reach: its toggle button does the same).
  function closeMenu(event) {
    const menu = event.currentTarget.closest(".navbar-collapse");
    const open = menu && (menu.classList.contains("show") || menu.classList.contains("collapsing"));
    const nav = open && menu.closest("nav");
    const toggle = nav && nav.querySelector(".navbar-toggler");
    if (toggle) toggle.click();
  }

  // Stash renders its utility items twice (in the collapsible menu and in the bar), showing one
  // or the other by width: the entry is a "nav-utility" like Stash's own, an icon where Stash's
  // icons are available, so the bar keeps its width.
  function NavEntry() {
    const Link = api.libraries.ReactRouterDOM && api.libraries.ReactRouterDOM.Link;
    const Icon = api.components && api.components.Icon;
    const solid = api.libraries.FontAwesomeSolid;
    const icon = Icon && solid && solid.faUserCheck;
    const props = {
      className: `nav-utility btn minimal stash-sense-nav${icon ? " stash-sense-nav-icon" : ""}`,
      title: "Stash Sense", "aria-label": "Stash Sense", onClick: closeMenu,
    };
    const content = icon
      ? h(React.Fragment, null, h(Icon, { icon: solid.faUserCheck }), h("span", { className: "stash-sense-nav-label" }, "Stash Sense"))
      : "Stash Sense";
    return Link ? h(Link, { ...props, to: ROUTE }, content) : h("a", { ...props, href: stashURL(ROUTE.slice(1)) }, content);
  }

  api.patch.before("MainNavBar.UtilityItems", function (props) {
    return [{ ...props, children: h(React.Fragment, null, props.children, h(NavEntry)) }];
  });

  const { Nav, Tab } = api.libraries.Bootstrap;
  api.patch.before("ScenePage.Tabs", function (props) {
    const tab = h(Nav.Item, { key: TAB_KEY }, h(Nav.Link, { eventKey: TAB_KEY }, "Stash Sense"));
    return [{ ...props, children: h(React.Fragment, null, props.children, tab) }];
  });
  api.patch.before("ScenePage.TabContent", function (props) {
    // react-bootstrap mounts every pane with the page: this one only when it is first opened,
    // and afresh for another scene (Stash keeps the page mounted when the scene changes).
    const pane = h(Tab.Pane, { key: TAB_KEY, eventKey: TAB_KEY, mountOnEnter: true },
      h(ScenePanel, { key: props.scene.id, sceneId: props.scene.id }));
    return [{ ...props, children: h(React.Fragment, null, props.children, pane) }];
  });
})();
