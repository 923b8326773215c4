// The Face DB panel lists the performers linked across stash-boxes with their evidence; undo one.
import { DESKTOP, PHONE, horizontalOverflow, openDashboard, run, screenshot, watchErrors } from "./lib.mjs";

const rows = (page) => page.locator("#db-links > li.link").evaluateAll((items) => items.map((li) => ({
  name: li.querySelector(".link-name").textContent, ids: li.querySelector(".link-ids").textContent, why: li.querySelector(".meta").textContent, kind: li.dataset.kind,
})));

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = {};
  await openDashboard(page, "#facedb");
  await page.locator("#db-links-state", { hasText: /linked across/ }).waitFor({ timeout: 30000 });
  out.before = await rows(page);
  out.stateBefore = await page.locator("#db-links-state").innerText();
  await screenshot(page, "dashboard-links-1280x800");
  const victim = out.before[0].ids.split(" = ")[1];
  out.victim = victim;
  await page.getByRole("button", { name: `Undo link: ${victim}` }).click();
  await page.locator("#db-links-state", { hasText: /^Split \S+ off/ }).waitFor({ timeout: 60000 });
  out.stateAfter = await page.locator("#db-links-state").innerText();
  out.after = await rows(page);
  await page.setViewportSize(PHONE);
  out.phoneOverflow = await horizontalOverflow(page);
  await screenshot(page, "dashboard-links-390x844");
  out.errors = errors;
  return out;
});
