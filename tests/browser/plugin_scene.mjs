// The Stash plugin's JavaScript in the harness page (window.PluginApi with React from npm):
// identify scenes from the scene page's Stash Sense tab, add / link / create performers, and
// run the fingerprint task from the Stash Sense page. The harness is served on a made-up
// origin; its /graphql is routed to the Stash emulator with Stash's key, as Stash's own UI
// reaches Stash, so the plugin's backend runs through the emulator's runPluginOperation.
import { DESKTOP, PHONE, horizontalOverflow, run, screenshot, unnamedControls, watchErrors } from "./lib.mjs";
import { ORIGIN, serveHarness } from "./plugin_host.mjs";

const STASH_URL = process.env.STASH_URL;
const STASH_KEY = process.env.STASH_KEY;

async function rows(page) {
  return page.locator("li.stash-sense-row").evaluateAll((items) => items.map((li) => ({
    label: li.getAttribute("aria-label"),
    best: li.querySelector(".stash-sense-title strong").textContent,
    confidence: li.querySelector(".stash-sense-confidence") ? li.querySelector(".stash-sense-confidence").textContent : null,
    status: li.querySelector(".stash-sense-status").textContent,
    thumbnails: li.querySelectorAll(".stash-sense-faces img[src^='data:image/jpeg']").length,
    buttons: [...li.querySelectorAll("button")].filter((b) => !b.disabled).map((b) => b.textContent),
  })));
}

async function identify(page, sceneId) {
  await page.goto(`${ORIGIN}/scenes/${sceneId}`);
  await page.getByRole("tab", { name: "Stash Sense" }).click();
  await page.getByRole("button", { name: "Identify performers" }).click();
  await page.locator("li.stash-sense-row").first().waitFor({ timeout: 240000 });
  // Wait until every row has been looked up in Stash.
  await page.waitForFunction(() => ![...document.querySelectorAll(".stash-sense-status")].some((s) => s.textContent.startsWith("Looking")));
}

function row(page, name) {
  return page.locator("li.stash-sense-row", { has: page.locator(".stash-sense-title strong", { hasText: name }) }).first();
}

async function checks(page) {
  return { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
}

run(async (browser) => {
  const out = { checks: {} };
  const context = await browser.newContext({ viewport: DESKTOP });
  out.graphqlCalls = await serveHarness(context, { stashUrl: STASH_URL, stashKey: STASH_KEY });
  const page = await context.newPage();
  out.errors = watchErrors(page);

  // Scene 1: Brad Pitt is on it already; Kate Winslet is in Stash but not on it.
  await identify(page, "1");
  out.scene1Before = await rows(page);
  out.checks.scene1280 = await checks(page);
  await screenshot(page, "plugin-scene-1280x800");
  await row(page, "Kate Winslet").getByRole("button", { name: "Add Kate Winslet to scene" }).click();
  await row(page, "Kate Winslet").locator(".stash-sense-status", { hasText: "Added to this scene" }).waitFor();
  // Link: put another existing performer on the scene from Brad Pitt's row.
  const brad = row(page, "Brad Pitt");
  await brad.getByRole("button", { name: "Link another performer" }).click();
  await brad.getByLabel(/Search Stash performers for person/).fill("Natalie");
  await brad.getByRole("button", { name: "Add Natalie Portman" }).click();
  await brad.locator(".stash-sense-status", { hasText: "Added to this scene" }).waitFor();
  out.scene1After = await rows(page);
  // What Stash's own scene page now shows.
  await page.getByRole("tab", { name: "Details" }).click();
  await page.locator("#scene-performers", { hasText: "Natalie Portman" }).waitFor({ timeout: 10000 });
  out.scene1Details = await page.locator("#scene-performers").innerText();

  // The Stash Sense page, reached from the navigation bar: status, face DB, fingerprints.
  await page.getByRole("link", { name: "Stash Sense" }).click();
  await page.locator("h2", { hasText: "Stash Sense" }).waitFor();
  await page.locator(".stash-sense-facts dd", { hasText: /loaded, version/ }).waitFor({ timeout: 60000 });
  out.pagePath = new URL(page.url()).pathname;
  await page.getByRole("button", { name: "Start fingerprints" }).click();
  await page.locator(".stash-sense-job p", { hasText: /^completed: / }).waitFor({ timeout: 240000 });
  await page.locator(".stash-sense-facts dd", { hasText: /^100%/ }).waitFor({ timeout: 30000 });
  out.fingerprints = await page.locator("section[aria-labelledby=stash-sense-fp]").innerText();
  out.sidecarCard = await page.locator("section[aria-labelledby=stash-sense-status]").innerText();
  out.checks.page1280 = await checks(page);
  await screenshot(page, "plugin-page-1280x800");
  await context.close();

  // A phone: scene 2's performer is on stash-box but not in Stash: create it from there.
  const phone = await browser.newContext({ viewport: PHONE });
  await serveHarness(phone, { stashUrl: STASH_URL, stashKey: STASH_KEY });
  const small = await phone.newPage();
  const smallErrors = watchErrors(small);
  await identify(small, "2");
  out.scene2Before = await rows(small);
  out.checks.scene390 = await checks(small);
  await screenshot(small, "plugin-scene-390x844");
  // When the match is below the minimum confidence, pick it from the alternatives first.
  const pick = small.getByRole("button", { name: /^Use Hugh Jackman / });
  out.pickedAlternative = (await pick.count()) > 0;
  if (out.pickedAlternative) await pick.first().click();
  await small.getByRole("button", { name: "Create Hugh Jackman from stash-box" }).click();
  await small.locator(".stash-sense-status", { hasText: "Added to this scene" }).first().waitFor({ timeout: 60000 });
  out.scene2After = await rows(small);
  await small.goto(`${ORIGIN}/plugin/stash-sense`);
  await small.locator(".stash-sense-facts dd", { hasText: /loaded, version/ }).waitFor({ timeout: 60000 });
  // Pick a scene by title on the Stash Sense page and identify it there.
  await small.getByLabel("Scene title or id").fill("Scene 3");
  await small.getByRole("button", { name: "Find scene" }).click();
  await small.getByRole("button", { name: /^Open Scene 3/ }).click();
  await small.getByRole("button", { name: "Identify performers" }).click();
  await small.locator(".stash-sense-toolbar .stash-sense-meta", { hasText: /found in \d+ frames/ }).waitFor({ timeout: 240000 });
  out.scene3Summary = await small.locator(".stash-sense-toolbar .stash-sense-meta").innerText();
  out.scene3Heading = await small.locator("section[aria-labelledby=stash-sense-identify] h4").innerText();
  out.checks.page390 = await checks(small);
  await screenshot(small, "plugin-page-390x844");
  await phone.close();
  out.errors.push(...smallErrors);
  return out;
});
