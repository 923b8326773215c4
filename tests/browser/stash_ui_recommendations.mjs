// The plugin dropped into Stash's plugins folder by hand (the sidecar's zip, unpacked), picked up
// with Settings > Plugins > Reload plugins, then the Recommendations review on the Stash Sense
// page in Stash's own UI: run the duplicate-scene analysis, merge a pair, mark another "not a
// duplicate", re-run in full and see it stay dismissed. The review at 1280x800 and 390x844.
import { DESKTOP, PHONE, run, screenshot } from "./lib.mjs";
import { openStash, outsideBase, pluginOperations, stashContext, unnamedControlsIn, watchConsole } from "./stash_ui_lib.mjs";

const { MERGE_TARGET, KEEPER, DISMISS_TARGET } = process.env;
const card = (page) => page.locator("section[aria-labelledby=stash-sense-recs]");
const targets = (page) => card(page).locator("li[data-target]").evaluateAll((items) => items.map((li) => li.dataset.target));

async function runAnalysis(page, { full = false } = {}) {
  const line = card(page).locator(".stash-sense-analysis");
  const previous = (await line.count()) ? await line.getAttribute("data-run") : null;
  await page.getByLabel("Analysis", { exact: true }).selectOption("scenes");
  await page.getByLabel("Full re-run").setChecked(full);
  await page.getByRole("button", { name: "Run analysis" }).click();
  await page.waitForFunction((prev) => {
    const el = document.querySelector(".stash-sense-analysis");
    return el && el.dataset.status === "completed" && el.dataset.run !== prev;
  }, previous, { timeout: 120000 });
  return line.innerText();
}

async function openItem(page, target) {
  await card(page).locator(`li[data-target="${target}"] button`).click();
  await page.locator(".stash-sense-review").waitFor();
}

const review = (page) => page.locator(".stash-sense-review").evaluate((el) => ({
  status: el.dataset.status,
  evidence: [...el.querySelectorAll(".stash-sense-evidence li")].map((li) => li.textContent),
  differing: [...el.querySelectorAll("tr.stash-sense-differs th")].map((th) => th.textContent),
}));

// The comparison under Stash's Bootstrap: inside its card, radios of their own size.
const reviewLayout = (page) => page.locator(".stash-sense-review").evaluate((el) => {
  const cardBox = el.closest(".stash-sense-card").getBoundingClientRect();
  const table = el.querySelector(".stash-sense-compare").getBoundingClientRect();
  const radios = [...el.querySelectorAll("input[type=radio]")].map((r) => r.getBoundingClientRect().width);
  return { viewport: document.documentElement.clientWidth, cardRight: cardBox.right, tableRight: table.right, radios };
});

run(async (browser) => {
  const out = {};
  const { context, requests } = await stashContext(browser, { viewport: DESKTOP });
  const page = await context.newPage();
  const watch = watchConsole(page);

  await openStash(page, "settings?tab=plugins");
  out.beforeReload = await page.locator(".setting-group h3", { hasText: /^Stash Sense \(/ }).count();
  await page.getByRole("button", { name: "Reload plugins" }).click();
  await page.locator(".setting-group h3", { hasText: /^Stash Sense \(/ }).first().waitFor({ timeout: 30000 });
  out.afterReload = await page.locator(".setting-group h3", { hasText: /^Stash Sense \(/ }).first().innerText();
  // The plugin's files load with the next page load; its page is reached from the navigation bar.
  await page.reload();
  await page.getByRole("link", { name: "Stash Sense" }).filter({ visible: true }).click();
  await card(page).getByRole("button", { name: "Run analysis" }).waitFor({ timeout: 60000 });

  out.firstRun = await runAnalysis(page);
  await page.getByLabel("Type", { exact: true }).selectOption("duplicate_scenes");
  await card(page).locator(`li[data-target="${MERGE_TARGET}"]`).waitFor();
  out.listed = await targets(page);
  await openItem(page, MERGE_TARGET);
  out.before = await review(page);
  await page.getByRole("radio", { name: `Keep scene ${KEEPER}` }).check();
  await page.getByRole("button", { name: "Merge scenes…" }).click();
  out.confirmText = await page.locator(".stash-sense-confirm").innerText();
  out.layout1280 = await reviewLayout(page);
  out.names = await unnamedControlsIn(page, ".stash-sense-page");
  await screenshot(page, "stash-ui-recommendations-review-1280x800");
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(300);
  out.layout390 = await reviewLayout(page);
  await page.locator(".stash-sense-review").scrollIntoViewIfNeeded();
  await screenshot(page, "stash-ui-recommendations-review-390x844");
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

  out.errors = watch.errors;
  out.ignored = watch.ignored;
  out.outsideBase = outsideBase(requests);
  out.pluginOperationCount = pluginOperations(requests).length;
  await context.close();
  return out;
});
