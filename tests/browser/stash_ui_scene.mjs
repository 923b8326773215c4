// The plugin on Stash's own scene page (Stash's web UI under its base path, the plugin installed
// from the sidecar's source): open a scene, open the Stash Sense tab, identify, add a performer,
// link another, and on a phone create one from stash-box. What Stash's own Details tab shows
// afterwards is read back after a reload. The same UI at Stash's root (no base path) runs an
// identification too. Screenshots of the scene page with the tab open, 1280x800 and 390x844.
import { DESKTOP, PHONE, run, screenshot } from "./lib.mjs";
import {
  ROOT, openStash, outsideBase, pluginOperations, row, rows, stashContext, unnamedControlsIn, watchConsole,
} from "./stash_ui_lib.mjs";

// Opens the scene and its Stash Sense tab; returns the panel and how many of the plugin's
// panels were in the page before the tab was opened (react-bootstrap mounts every pane at once).
async function openTab(page, sceneId) {
  await openStash(page, `scenes/${sceneId}`);
  const tab = page.getByRole("tab", { name: "Stash Sense" });
  await tab.waitFor({ timeout: 60000 });
  await page.getByRole("tab", { name: "Details" }).waitFor();
  const mountedBefore = await page.locator("section.stash-sense-panel").count();
  await tab.click();
  return [page.locator(".tab-pane.active section.stash-sense-panel"), mountedBefore];
}

async function identify(page, panel) {
  await panel.getByRole("button", { name: "Identify performers" }).click();
  // The rows, or the error the plugin shows instead (e.g. a call that missed Stash).
  await panel.locator("li.stash-sense-row, .stash-sense-error").first().waitFor({ timeout: 240000 });
  if (await panel.locator(".stash-sense-error").count()) {
    throw new Error(`the plugin showed an error: ${await panel.locator(".stash-sense-error").first().innerText()}`);
  }
  await page.waitForFunction(() => ![...document.querySelectorAll(".stash-sense-status")].some((s) => s.textContent.startsWith("Looking")));
}

// What Stash's own scene page lists as the scene's performers (its Details tab, after a reload).
async function stashPerformers(page) {
  await page.reload();
  const details = page.locator(".tab-pane.active");
  await details.locator(".performer-card").first().waitFor({ timeout: 60000 });
  return details.locator(".performer-card").evaluateAll((cards) => cards.map((card) => card.innerText));
}

// The plugin's own layout under Stash's Bootstrap: nothing of it wider than the viewport.
async function layout(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const panel = document.querySelector(".tab-pane.active section.stash-sense-panel");
    const box = panel.getBoundingClientRect();
    const wide = [...panel.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().right > width + 1).map((el) => el.className || el.tagName);
    return { viewport: width, panelLeft: box.left, panelRight: box.right, panelWidth: box.width, overflowing: wide.slice(0, 5) };
  });
}

async function checks(page) {
  return { names: await unnamedControlsIn(page, ".stash-sense-panel"), layout: await layout(page) };
}

// The tab bar at the top of the screen, the rows below it: what the screenshots show.
async function showTab(page) {
  await page.locator(".tab-pane.active section.stash-sense-panel").evaluate((el) => {
    (el.closest(".tab-content").previousElementSibling || el).scrollIntoView({ block: "start" });
  });
}

run(async (browser) => {
  const out = { checks: {} };
  const { context, requests } = await stashContext(browser, { viewport: DESKTOP });
  const page = await context.newPage();
  const watch = watchConsole(page);

  // Scene 1: Brad Pitt is on it already; Kate Winslet is in Stash but not on it.
  let [panel, mounted] = await openTab(page, "1");
  out.panelsBeforeOpen = [mounted];
  await identify(page, panel);
  out.scene1Before = await rows(page);
  out.checks.scene1280 = await checks(page);
  await screenshot(page, "stash-ui-scene-1280x800");
  await row(page, "Kate Winslet").getByRole("button", { name: "Add Kate Winslet to scene" }).click();
  await row(page, "Kate Winslet").locator(".stash-sense-status", { hasText: "Added to this scene" }).waitFor();
  const brad = row(page, "Brad Pitt");
  await brad.getByRole("button", { name: "Link another performer" }).click();
  await brad.getByLabel(/Search Stash performers for person/).fill("Natalie");
  await brad.getByRole("button", { name: "Add Natalie Portman" }).click();
  await brad.locator(".stash-sense-status", { hasText: "Added to this scene" }).waitFor();
  out.scene1After = await rows(page);
  out.scene1Stash = await stashPerformers(page);
  out.errors = [...watch.errors];
  out.ignored = [...watch.ignored];
  await context.close();

  // A phone: scene 2's performer is on stash-box but not in Stash: create him from there.
  const phone = await stashContext(browser, { viewport: PHONE });
  const small = await phone.context.newPage();
  const smallWatch = watchConsole(small);
  [panel, mounted] = await openTab(small, "2");
  out.panelsBeforeOpen.push(mounted);
  await identify(small, panel);
  out.scene2Before = await rows(small);
  out.checks.scene390 = await checks(small);
  await showTab(small);
  await screenshot(small, "stash-ui-scene-390x844");
  const pick = small.getByRole("button", { name: /^Use Hugh Jackman / });
  out.pickedAlternative = (await pick.count()) > 0;
  if (out.pickedAlternative) await pick.first().click();
  await small.getByRole("button", { name: "Create Hugh Jackman from stash-box" }).click();
  await small.locator(".stash-sense-status", { hasText: "Added to this scene" }).first().waitFor({ timeout: 60000 });
  out.scene2After = await rows(small);
  out.scene2Stash = await stashPerformers(small);
  out.errors.push(...smallWatch.errors);
  out.ignored.push(...smallWatch.ignored);
  await phone.context.close();

  // Every request of both runs carried the base path, the plugin's GraphQL calls included.
  const all = [...requests, ...phone.requests];
  out.outsideBase = outsideBase(all);
  out.pluginOperations = pluginOperations(all).map((r) => `${r.operation} ${r.url}`);
  out.pluginFiles = all.filter((r) => r.url.includes("/plugin/stash-sense/")).map((r) => r.url);

  // The same UI at Stash's root, as without a proxy: the plugin's calls go to /graphql there.
  const direct = await stashContext(browser, { viewport: DESKTOP, basePath: "" });
  const rootPage = await direct.context.newPage();
  const rootWatch = watchConsole(rootPage);
  await rootPage.goto(`${ROOT}/scenes/3`);
  const tab = rootPage.getByRole("tab", { name: "Stash Sense" });
  await tab.waitFor({ timeout: 60000 });
  await tab.click();
  const rootPanel = rootPage.locator(".tab-pane.active section.stash-sense-panel");
  await rootPanel.getByRole("button", { name: "Identify performers" }).click();
  await rootPanel.locator(".stash-sense-toolbar .stash-sense-meta, .stash-sense-error").first().waitFor({ timeout: 240000 });
  if (await rootPanel.locator(".stash-sense-error").count()) {
    throw new Error(`the plugin showed an error at Stash's root: ${await rootPanel.locator(".stash-sense-error").first().innerText()}`);
  }
  out.rootScene3 = await rootPanel.locator(".stash-sense-toolbar .stash-sense-meta").innerText();
  out.rootOperations = pluginOperations(direct.requests).map((r) => r.url);
  out.errors.push(...rootWatch.errors);
  out.ignored.push(...rootWatch.ignored);
  await direct.context.close();
  return out;
});
