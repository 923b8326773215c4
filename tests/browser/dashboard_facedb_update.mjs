// The Face DB panel's update. MODE=update: what is installed and offered, Update with live
// progress, the result and the panel's numbers after the swap. MODE=broken: a release whose
// download breaks off, rolled back; accessible names and no horizontal scrolling at 1280x800 and
// 390x844.
import { DESKTOP, PHONE, horizontalOverflow, openDashboard, run, screenshot, unnamedControls, watchErrors } from "./lib.mjs";

const text = async (page, selector) => (await page.locator(selector).innerText()).trim();
const updateButton = (page) => page.getByRole("button", { name: "Update", exact: true });
const FINISHED = ["completed", "failed", "rolled_back"];

async function offered(page) {
  await page.locator("#db-version").waitFor();
  await page.locator("#db-update-available").waitFor();
  return {
    version: await text(page, "#db-version"), installed: await text(page, "#db-update-installed"),
    available: await text(page, "#db-update-available"), kind: await text(page, "#db-update-kind"),
    updateEnabled: await updateButton(page).isEnabled(),
  };
}

// Clicks Update and samples the state line and the bar until the job ends.
async function update(page) {
  const samples = [];
  await updateButton(page).click();
  const deadline = Date.now() + 120000;
  while (Date.now() < deadline) {
    const status = await page.locator("#db-update-state").getAttribute("data-status");
    samples.push({ status, value: await page.locator("#db-update-progress").evaluate((el) => el.value) });
    if (FINISHED.includes(status)) break;
    await page.waitForTimeout(100);
  }
  return samples;
}

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = {};
  await openDashboard(page, "#facedb");
  out.before = await offered(page);
  if (process.env.MODE === "broken") {
    out.samples = await update(page);
    out.after = { state: await text(page, "#db-update-state"), version: await text(page, "#db-version") };
    await page.locator("#db-update-state").scrollIntoViewIfNeeded();
    await screenshot(page, "dashboard-facedb-rolled-back-1280x800");
    out.layout = {};
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      await page.waitForTimeout(300);
      out.layout[`${viewport.width}x${viewport.height}`] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
      await screenshot(page, `dashboard-facedb-update-${viewport.width}x${viewport.height}`);
    }
  } else {
    await page.locator("#db-update-state").scrollIntoViewIfNeeded();
    await screenshot(page, "dashboard-facedb-update-offered-1280x800");
    out.samples = await update(page);
    await page.locator("#db-version", { hasText: process.env.NEW_VERSION }).waitFor({ timeout: 30000 });
    out.after = {
      version: await text(page, "#db-version"), faces: await text(page, "#db-faces"), state: await text(page, "#db-update-state"),
      status: await page.locator("#db-update-state").getAttribute("data-status"),
      progress: await page.locator("#db-update-progress").evaluate((el) => el.value),
      installed: await text(page, "#db-update-installed"), updateEnabled: await updateButton(page).isEnabled(),
    };
    await page.locator("#db-update-state").scrollIntoViewIfNeeded();
    await screenshot(page, "dashboard-facedb-updated-1280x800");
  }
  out.errors = errors;
  await context.close();
  return out;
});
