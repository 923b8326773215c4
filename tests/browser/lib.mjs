// Shared by the browser scripts: launch Debian's chromium headless, the checks every page must
// pass (accessible names, no horizontal scrolling), screenshots, and the one-JSON-line result.
import { chromium } from "playwright-core";
import path from "node:path";

export const BASE_URL = process.env.BASE_URL;
export const ARTIFACTS = process.env.ARTIFACTS_DIR || "test-artifacts";
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

// Runs main(browser) and prints its result as the last stdout line; failures print {error}.
export async function run(main) {
  const browser = await launch();
  try {
    const result = await main(browser);
    process.stdout.write(JSON.stringify(result) + "\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + "\n");
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

// Every page error and console error is collected: a dashboard that throws fails the test.
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (err) => errors.push(`pageerror: ${err.message}`));
  // A 401 is how the page learns that it must ask for the key: expected, not an error.
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/status of 401/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

// Controls without an accessible name, as Chromium's own accessibility tree computes names.
const CONTROL_ROLES = new Set([
  "button", "link", "textbox", "searchbox", "checkbox", "radio", "combobox", "listbox", "tab", "slider",
  "spinbutton", "switch", "menuitem", "option", "progressbar", "img", "image",
]);
export async function unnamedControls(page) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send("Accessibility.getFullAXTree");
  await cdp.detach();
  const out = [];
  let checked = 0;
  for (const node of nodes) {
    if (node.ignored) continue;
    const role = node.role && node.role.value;
    if (!CONTROL_ROLES.has(role)) continue;
    checked += 1;
    const name = node.name && node.name.value;
    if (!name || !String(name).trim()) out.push({ role, id: node.backendDOMNodeId });
  }
  return { checked, unnamed: out };
}

export async function horizontalOverflow(page) {
  return page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    overflowing: [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && el.offsetParent !== null)
      .slice(0, 5).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`),
  }));
}

// Open the dashboard and give the API key when the page asks for it.
export async function openDashboard(page, hash = "") {
  await page.goto(`${BASE_URL}/${hash}`);
  const dialog = page.locator("#key-dialog");
  await dialog.waitFor({ state: "visible", timeout: 15000 });
  await page.getByLabel("Sidecar API key").fill(process.env.SIDECAR_KEY);
  await page.getByRole("button", { name: "Use this key" }).click();
  await dialog.waitFor({ state: "hidden" });
  await page.locator("#status-stash").filter({ hasText: /Stash: (?!…)/ }).waitFor();
}

export const text = (page, selector) => page.locator(selector).innerText();
