// The plugin's Stash Sense page in the harness (window.PluginApi, /graphql routed to the Stash
// emulator, whose runPluginOperation runs the plugin backend against a real sidecar): run the
// duplicate-scene analysis, review and merge a pair, mark another "not a duplicate", re-run in
// full and see it stay dismissed.
import { DESKTOP, PHONE, horizontalOverflow, run, screenshot, unnamedControls, watchErrors } from "./lib.mjs";
import { ORIGIN, serveHarness } from "./plugin_host.mjs";

const { STASH_URL, STASH_KEY, MERGE_TARGET, KEEPER, DISMISS_TARGET } = process.env;

const card = (page) => page.locator("section[aria-labelledby=stash-sense-recs]");

async function runAnalysis(page, { full = false } = {}) {
  const line = card(page).locator(".stash-sense-analysis");
  const previous = (await line.count()) ? await line.getAttribute("data-run") : null;  // none before the first run
  await page.getByLabel("Analysis", { exact: true }).selectOption("scenes");
  await page.getByLabel("Full re-run").setChecked(full);
  await page.getByRole("button", { name: "Run analysis" }).click();
  await page.waitForFunction((prev) => {
    const el = document.querySelector(".stash-sense-analysis");
    return el && el.dataset.status === "completed" && el.dataset.run !== prev;
  }, previous, { timeout: 120000 });
  return card(page).locator(".stash-sense-analysis").innerText();
}

const targets = (page) => card(page).locator("li[data-target]").evaluateAll((items) => items.map((li) => li.dataset.target));

async function openItem(page, target) {
  await card(page).locator(`li[data-target="${target}"] button`).click();
  await page.locator(".stash-sense-review").waitFor();
}

const review = (page) => page.locator(".stash-sense-review").evaluate((el) => ({
  status: el.dataset.status,
  evidence: [...el.querySelectorAll(".stash-sense-evidence li")].map((li) => li.textContent),
  differing: [...el.querySelectorAll("tr.stash-sense-differs th")].map((th) => th.textContent),
  keeper: (el.querySelector("input[name=stash-sense-keeper]:checked") || {}).value || null,
}));

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  await serveHarness(context, { stashUrl: STASH_URL, stashKey: STASH_KEY });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = { checks: {} };
  await page.goto(`${ORIGIN}/plugin/stash-sense`);
  await card(page).waitFor();

  out.firstRun = await runAnalysis(page);
  await page.getByLabel("Type", { exact: true }).selectOption("duplicate_scenes");
  await card(page).locator(`li[data-target="${MERGE_TARGET}"]`).waitFor();
  out.listed = await targets(page);
  out.checks["page@1280x800"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };

  await openItem(page, MERGE_TARGET);
  out.before = await review(page);
  await page.getByRole("radio", { name: `Keep scene ${KEEPER}` }).check();
  await page.getByRole("button", { name: "Merge scenes…" }).click();
  out.confirmText = await page.locator(".stash-sense-confirm").innerText();
  out.checks["review@1280x800"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await screenshot(page, "plugin-recommendations-review-1280x800");
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  out.checks["review@390x844"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await screenshot(page, "plugin-recommendations-review-390x844");
  await page.setViewportSize(DESKTOP);
  await page.getByRole("button", { name: "Yes, merge scenes" }).click();
  await page.locator(".stash-sense-review[data-status=resolved]").waitFor({ timeout: 60000 });
  out.after = await review(page);

  await page.getByRole("button", { name: "Back to recommendations" }).click();
  await openItem(page, DISMISS_TARGET);
  await page.getByRole("button", { name: "Not a duplicate" }).click();
  await page.locator(".stash-sense-review[data-status=dismissed]").waitFor();
  await page.getByRole("button", { name: "Back to recommendations" }).click();
  await card(page).locator("li[data-target]").first().waitFor();
  out.secondRun = await runAnalysis(page, { full: true });
  out.openAfterRerun = await targets(page);
  await page.getByLabel("Status", { exact: true }).selectOption("dismissed");
  await card(page).locator(`li[data-target="${DISMISS_TARGET}"]`).waitFor();
  out.dismissedAfterRerun = await targets(page);
  out.errors = errors;
  await context.close();
  return out;
});
