// A stand-in for Stash's UI shell, just enough to host a UI plugin: window.PluginApi with the
// real React from npm, Stash's patch semantics (before/instead/after on named components),
// register.route, the react-bootstrap Nav/Tab pieces a scene page's tabs use, a router, the
// main navigation bar and a scene page whose tabs are the patchable "ScenePage.Tabs" and
// "ScenePage.TabContent" containers. GraphQL goes to /graphql on this origin, which the test
// routes to the Stash emulator.
(function () {
  "use strict";
  const React = window.React;
  const ReactDOM = window.ReactDOM;
  const h = React.createElement;

  // -- Stash's patch.tsx semantics -------------------------------------------------------------
  const beforeFns = {}, insteadFns = {}, afterFns = {};
  const push = (table) => (name, fn) => { (table[name] = table[name] || []).push(fn); };
  function runInstead(fns, target, args) {
    let i = 1;
    const next = () => {
      if (i >= fns.length) return target;
      const fn = fns[i++];
      return (...a) => fn(...a, next());
    };
    return fns[0](...args, next());
  }
  function PatchComponent(name, fn) {
    const patched = function (...args) {
      for (const before of beforeFns[name] || []) args = before(...args);
      let result = insteadFns[name] ? runInstead(insteadFns[name], fn, args) : fn(...args);
      for (const after of afterFns[name] || []) result = after(...args, result);
      return result;
    };
    patched.displayName = name;
    components[name] = patched;
    return patched;
  }
  const PatchContainerComponent = (name) => PatchComponent(name, (props) => h(React.Fragment, null, props.children));
  const components = {};

  // -- routing ---------------------------------------------------------------------------------
  const routes = [];
  const listeners = new Set();
  function navigate(to) {
    window.history.pushState({}, "", to);
    listeners.forEach((fn) => fn());
  }
  window.addEventListener("popstate", () => listeners.forEach((fn) => fn()));
  function usePath() {
    const [path, setPath] = React.useState(window.location.pathname);
    React.useEffect(() => {
      const fn = () => setPath(window.location.pathname);
      listeners.add(fn);
      return () => listeners.delete(fn);
    }, []);
    return path;
  }
  function Link({ to, children, ...rest }) {
    return h("a", { ...rest, href: to, onClick: (e) => { e.preventDefault(); navigate(to); } }, children);
  }

  // -- react-bootstrap's Nav and Tab, as far as scene tabs use them ------------------------------
  const TabContext = React.createContext({ active: null, select: () => {} });
  function TabContainer({ activeKey, onSelect, children }) {
    return h(TabContext.Provider, { value: { active: activeKey, select: onSelect } }, children);
  }
  function TabPane({ eventKey, children }) {
    const { active } = React.useContext(TabContext);
    return active === eventKey ? h("div", { role: "tabpanel", "aria-label": eventKey }, children) : null;
  }
  function Nav({ children, className }) {
    return h("div", { role: "tablist", className: `nav nav-tabs ${className || ""}` }, children);
  }
  Nav.Item = ({ children }) => h(React.Fragment, null, children);
  Nav.Link = function NavLink({ eventKey, children }) {
    const { active, select } = React.useContext(TabContext);
    return h("button", { type: "button", role: "tab", "aria-selected": active === eventKey, onClick: () => select(eventKey) }, children);
  };
  const Tab = { Container: TabContainer, Content: ({ children }) => h("div", { className: "tab-content" }, children), Pane: TabPane };

  // -- GraphQL ---------------------------------------------------------------------------------
  async function gql(query, variables) {
    const response = await fetch("/graphql", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(body.errors.map((e) => e.message).join("; "));
    return body.data;
  }

  // -- the shell ---------------------------------------------------------------------------------
  const MainNavBarUtilityItems = PatchComponent("MainNavBar.UtilityItems", (props) => h(React.Fragment, null, props.children));
  const ScenePageTabs = PatchContainerComponent("ScenePage.Tabs");
  const ScenePageTabContent = PatchContainerComponent("ScenePage.TabContent");

  function MainNavBar() {
    return h("nav", { className: "top-nav", "aria-label": "Main" },
      h(Link, { to: "/", className: "brand" }, "Stash"),
      h(Link, { to: "/scenes/1", className: "btn minimal" }, "Scenes"),
      h(MainNavBarUtilityItems, null));
  }

  function ScenePage({ id }) {
    const [scene, setScene] = React.useState(null);
    const [activeKey, setActiveKey] = React.useState("scene-details-panel");
    React.useEffect(() => {
      gql("query($id: ID!) { findScene(id: $id) { id title performers { id name } } }", { id }).then((d) => setScene(d.findScene));
    }, [id, activeKey]);
    if (!scene) return h("p", null, "Loading scene…");
    const props = { scene };
    return h("div", { className: "scene-page" },
      h("h1", null, scene.title || `Scene ${scene.id}`),
      h(TabContainer, { activeKey, onSelect: setActiveKey },
        h(Nav, null, h(ScenePageTabs, props, h(Nav.Item, null, h(Nav.Link, { eventKey: "scene-details-panel" }, "Details")))),
        h(Tab.Content, null, h(ScenePageTabContent, props,
          h(TabPane, { eventKey: "scene-details-panel" },
            h("p", { id: "scene-performers" }, `Performers: ${scene.performers.map((p) => p.name).join(", ") || "none"}`))))));
  }

  function App() {
    const path = usePath();
    const scene = path.match(/^\/scenes\/(\d+)$/);
    const route = routes.find((r) => r.path === path);
    let page = h("p", null, "Stash plugin harness");
    if (scene) page = h(ScenePage, { key: scene[1], id: scene[1] });
    else if (route) page = h(route.component);
    return h(React.Fragment, null, h(MainNavBar), h("main", null, page));
  }

  window.PluginApi = {
    React,
    ReactDOM,
    libraries: { Bootstrap: { Nav, Tab }, ReactRouterDOM: { Link } },
    register: {
      route: (path, component) => routes.push({ path, component }),
      component: (name, component) => { components[name] = component; },
    },
    patch: { before: push(beforeFns), instead: push(insteadFns), after: push(afterFns) },
    components,
    utils: { NavUtils: {}, StashService: {} },
    Event: new EventTarget(),
  };
  window.StashHarness = { mount: (root) => ReactDOM.createRoot(root).render(h(App)) };
})();
