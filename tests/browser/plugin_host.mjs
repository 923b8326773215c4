// The harness page's stand-in for Stash's web server, shared by the plugin browser tests: the
// harness files, the plugin's UI files as Stash serves them (all of the manifest's `ui.javascript`
// in order at /plugin/<id>/javascript), and /graphql routed to the Stash emulator with Stash's key.
import fs from "node:fs";
import path from "node:path";

export const ORIGIN = "http://stash.test";
const REPO = process.cwd();
const FILES = {
  "/harness/react.js": "node_modules/react/umd/react.production.min.js",
  "/harness/react-dom.js": "node_modules/react-dom/umd/react-dom.production.min.js",
  "/harness/plugin_harness.js": "tests/browser/plugin_harness.js",
  "/harness/harness.css": "tests/browser/plugin_harness.css",
  "/plugin/stash-sense/css": "src/stash_sense/plugin/stash-sense.css",
};
const TYPES = { ".js": "text/javascript", ".css": "text/css", ".html": "text/html" };

// The manifest's ui.javascript list (a flat YAML list: no YAML parser needed for it).
function pluginJavascript() {
  const manifest = fs.readFileSync(path.join(REPO, "src/stash_sense/plugin/stash-sense.yml"), "utf8");
  const block = manifest.split(/\n {2}javascript:\n/)[1].split(/\n {2}\S/)[0];
  const names = [...block.matchAll(/^ {4}- (\S+)$/gm)].map((m) => m[1]);
  return names.map((name) => fs.readFileSync(path.join(REPO, "src/stash_sense/plugin", name), "utf8")).join("\n;\n");
}

export async function serveHarness(context, { stashUrl, stashKey }) {
  const graphqlCalls = [];
  await context.route(`${ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === "/graphql") {
      graphqlCalls.push(JSON.parse(route.request().postData() || "{}").query || "");
      const response = await route.fetch({
        url: `${stashUrl}/graphql`,
        // Stash's UI authenticates with its session; the emulator takes Stash's key instead.
        headers: { "Content-Type": "application/json", ApiKey: stashKey },
        timeout: 300000,
      });
      await route.fulfill({ response });
      return;
    }
    if (url.pathname === "/plugin/stash-sense/javascript") {
      await route.fulfill({ status: 200, contentType: "text/javascript", body: pluginJavascript() });
      return;
    }
    const file = FILES[url.pathname] || "tests/browser/plugin_harness.html"; // every other path is the app
    await route.fulfill({
      status: 200, contentType: TYPES[path.extname(file)], body: fs.readFileSync(path.join(REPO, file)),
    });
  });
  return graphqlCalls;
}
