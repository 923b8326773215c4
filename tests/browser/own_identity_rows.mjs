// Scene 2 identified in the dashboard and in the plugin (harness page), with a face DB built
// from this Stash: each row as the user sees it (the best candidate, its status, its buttons).
import { DESKTOP, run, watchErrors, BASE_URL } from "./lib.mjs";
import { ORIGIN, serveHarness } from "./plugin_host.mjs";

const SCENE = process.env.SCENE_ID;

async function dashboardRows(browser) {
  const page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  const errors = watchErrors(page);
  await page.goto(`${BASE_URL}/`);
  await page.locator("#key-dialog").waitFor({ state: "visible", timeout: 15000 });
  await page.getByLabel("Sidecar API key").fill(process.env.SIDECAR_KEY);
  await page.keyboard.press("Enter");
  await page.locator("#key-dialog").waitFor({ state: "hidden" });
  await page.getByLabel("Scene title or id").fill(SCENE);
  await page.keyboard.press("Enter");
  await page.locator("#scene-results button", { hasText: `Scene ${SCENE}` }).first().click();
  await page.locator("#scene-state", { hasText: /people in/ }).waitFor({ timeout: 180000 });
  const rows = await page.locator("#persons > li.person").evaluateAll((items) => items.map((li) => ({
    best: li.querySelector(".best strong") ? li.querySelector(".best strong").textContent : null,
    status: li.querySelector(".state").textContent,
    buttons: [...li.querySelectorAll("button")].filter((b) => !b.disabled).map((b) => b.textContent),
  })));
  return { rows, errors };
}

async function pluginRows(browser) {
  const context = await browser.newContext({ viewport: DESKTOP });
  await serveHarness(context, { stashUrl: process.env.STASH_URL, stashKey: process.env.STASH_KEY });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${ORIGIN}/scenes/${SCENE}`);
  await page.getByRole("tab", { name: "Stash Sense" }).click();
  await page.getByRole("button", { name: "Identify performers" }).click();
  await page.locator("li.stash-sense-row").first().waitFor({ timeout: 180000 });
  const rows = await page.locator("li.stash-sense-row").evaluateAll((items) => items.map((li) => ({
    best: li.querySelector(".stash-sense-title strong").textContent,
    status: li.querySelector(".stash-sense-status").textContent,
    buttons: [...li.querySelectorAll("button")].filter((b) => !b.disabled).map((b) => b.textContent),
  })));
  return { rows, errors };
}

run(async (browser) => ({ dashboard: await dashboardRows(browser), plugin: await pluginRows(browser) }));
