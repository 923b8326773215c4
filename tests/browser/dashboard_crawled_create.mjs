// With a face DB crawled from the whole stash-box: review a scene whose performer Stash does not
// have, and create that performer from its stash-box entry with one click.
import { DESKTOP, openDashboard, run, screenshot, watchErrors } from "./lib.mjs";

const MISSING = process.env.MISSING_NAME;

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = {};
  await openDashboard(page, "#scene");
  await page.getByLabel("Frames to sample").selectOption("20");
  await page.getByLabel("Scene title or id").fill("1");
  await page.keyboard.press("Enter");
  await page.locator("#scene-results button", { hasText: "Scene 1" }).first().click();
  await page.locator("#scene-state", { hasText: /people in/ }).waitFor({ timeout: 120000 });
  const row = page.locator("#persons > li.person", { has: page.locator(".best strong", { hasText: MISSING }) }).first();
  await row.waitFor();
  out.before = await row.locator(".state").innerText();
  out.buttons = await row.locator("button:not([disabled])").allInnerTexts();
  await screenshot(page, "dashboard-crawled-db-before-1280x800");
  await row.locator("button", { hasText: "Create from stash-box" }).click();
  await row.locator(".state[data-state=created]").waitFor({ timeout: 60000 });
  out.after = await row.locator(".state").innerText();
  out.errors = errors;
  return out;
});
