// Start the bulk fingerprint job from the dashboard, watch it progress, stop it.
import { DESKTOP, openDashboard, run, screenshot, watchErrors } from "./lib.mjs";

const statsOf = (page) => page.locator("#fp-stats").evaluate((dl) => Object.fromEntries(
  [...dl.querySelectorAll("dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])));

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = {};
  await openDashboard(page, "#fingerprints");
  await page.locator("#fp-total").waitFor();
  out.before = await statsOf(page);
  await page.getByRole("button", { name: "Start fingerprinting" }).click();
  await page.locator("#fp-state[data-status=running]").waitFor({ timeout: 60000 });
  out.running = await page.locator("#fp-state").innerText();
  out.stopEnabledWhileRunning = await page.getByRole("button", { name: "Stop" }).isEnabled();
  await screenshot(page, "dashboard-fingerprints-running-1280x800");
  await page.getByRole("button", { name: "Stop" }).click();
  await page.locator("#fp-state[data-status=stopped]").waitFor({ timeout: 120000 });
  out.stopped = await page.locator("#fp-state").innerText();
  out.progressValue = await page.locator("#fp-progress").evaluate((p) => p.value);
  out.after = await statsOf(page);
  out.startEnabledAfterStop = await page.getByRole("button", { name: "Start fingerprinting" }).isEnabled();
  out.errors = errors;
  await context.close();
  return out;
});
