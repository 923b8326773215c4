// Shared by the scripts that drive Stash's own web UI (a production build served by the Stash
// emulator, under a base path as behind a reverse proxy): a logged-in browser context, the
// console errors that fail a run (all but the Chromecast SDK's, which the UI fetches from the
// internet and fails to load offline), every request the page made, and the plugin's pieces.
import { DESKTOP } from "./lib.mjs";

export const ROOT = process.env.STASH_ROOT; // Stash's own root, e.g. http://127.0.0.1:PORT
export const BASE_PATH = process.env.BASE_PATH || ""; // e.g. /stash
export const UI = `${ROOT}${BASE_PATH}/`; // where the browser opens Stash
const CHROMECAST = "https://www.gstatic.com/cv/js/sender/";

// A browser context holding Stash's session cookie, scoped to the base path like a login behind
// the proxy: a request outside it would reach Stash without a session (and fail). Every request
// of every page is recorded with its GraphQL operation name.
export async function stashContext(browser, { viewport = DESKTOP, basePath = BASE_PATH } = {}) {
  const context = await browser.newContext({ viewport });
  const { hostname } = new URL(ROOT);
  await context.addCookies([{ name: "session", value: process.env.SESSION, domain: hostname, path: basePath || "/", httpOnly: true }]);
  const requests = [];
  context.on("request", (request) => {
    let operation = null;
    if (request.method() === "POST" && request.url().endsWith("/graphql")) {
      try {
        const body = JSON.parse(request.postData() || "{}");
        // Stash's UI names its operations; the plugin's names are in its documents.
        const named = /^\s*(?:query|mutation|subscription)\s+(\w+)/.exec(body.query || "");
        operation = body.operationName || (named && named[1]) || null;
      } catch (_err) { operation = null; }
    }
    requests.push({ url: request.url(), method: request.method(), operation });
  });
  return { context, requests };
}

// Console and page errors, the Chromecast SDK's failed download excepted (and counted).
export function watchConsole(page) {
  const out = { errors: [], ignored: [] };
  page.on("pageerror", (err) => out.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const where = (msg.location() && msg.location().url) || "";
    if (where.startsWith(CHROMECAST) && /^Failed to load resource/.test(msg.text())) {
      out.ignored.push(`${msg.text()} (${where})`);
      return;
    }
    out.errors.push(`console: ${msg.text()}${where ? ` (${where})` : ""}`);
  });
  return out;
}

// Requests that did not carry the base path: to Stash's origin outside it, or to another origin
// (the Chromecast SDK excepted).
export function outsideBase(requests, base = UI) {
  const origin = new URL(ROOT).origin;
  return requests
    .map((r) => r.url)
    .filter((url) => !url.startsWith(CHROMECAST) && !url.startsWith("data:") && !url.startsWith("blob:"))
    .filter((url) => (new URL(url).origin === origin ? !url.startsWith(base) : true));
}

// The GraphQL operations the plugin sent (its documents are all named StashSense*).
export const pluginOperations = (requests) => requests.filter((r) => r.operation && r.operation.startsWith("StashSense"));

// Open a page of Stash and wait for its UI to be up (the navigation bar rendered).
export async function openStash(page, path) {
  await page.goto(`${UI}${path}`);
  await page.locator("nav.top-nav").first().waitFor({ timeout: 60000 });
}

// The rows of the plugin's scene panel, as the user reads them.
export async function rows(page) {
  return page.locator("li.stash-sense-row").evaluateAll((items) => items.map((li) => ({
    label: li.getAttribute("aria-label"),
    best: li.querySelector(".stash-sense-title strong").textContent,
    confidence: li.querySelector(".stash-sense-confidence") ? li.querySelector(".stash-sense-confidence").textContent : null,
    status: li.querySelector(".stash-sense-status").textContent,
    thumbnails: li.querySelectorAll(".stash-sense-faces img[src^='data:image/jpeg']").length,
    buttons: [...li.querySelectorAll("button")].filter((b) => !b.disabled).map((b) => b.textContent),
  })));
}

export function row(page, name) {
  return page.locator("li.stash-sense-row", { has: page.locator(".stash-sense-title strong", { hasText: name }) }).first();
}

// Controls without an accessible name inside `selector` (Chromium's own accessibility tree):
// the plugin's part of a page, whatever Stash's own icon buttons do.
export async function unnamedControlsIn(page, selector) {
  const roles = new Set(["button", "link", "textbox", "searchbox", "checkbox", "radio", "combobox", "listbox", "tab",
    "slider", "spinbutton", "switch", "menuitem", "option", "progressbar", "img", "image"]);
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send("Accessibility.getFullAXTree");
  const out = [];
  let checked = 0;
  for (const node of nodes) {
    const role = node.role && node.role.value;
    if (node.ignored || !roles.has(role) || !node.backendDOMNodeId) continue;
    const { object } = await cdp.send("DOM.resolveNode", { backendNodeId: node.backendDOMNodeId });
    const { result } = await cdp.send("Runtime.callFunctionOn", {
      objectId: object.objectId, arguments: [{ value: selector }], returnByValue: true,
      functionDeclaration: "function (sel) { const el = this.nodeType === 1 ? this : this.parentElement; return !!(el && el.closest(sel)); }",
    });
    if (!result.value) continue;
    checked += 1;
    const name = node.name && node.name.value;
    if (!name || !String(name).trim()) out.push({ role, id: node.backendDOMNodeId });
  }
  await cdp.detach();
  return { checked, unnamed: out };
}
