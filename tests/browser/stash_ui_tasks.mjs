// Stash's own Settings > Tasks runs the plugin's "Generate fingerprints" task: the job appears
// in Stash's job queue (live, over the GraphQL subscription), with its progress, and finishes.
// Then the Stash Sense page, reached from the plugin's entry in Stash's navigation bar: the
// sidecar's status, the fingerprint coverage the task produced, and the Recommendations card
// laid out under Stash's Bootstrap (an analysis run from it), at 1280x800 and 390x844.
import { DESKTOP, PHONE, run, screenshot } from "./lib.mjs";
import { UI, openStash, outsideBase, pluginOperations, stashContext, unnamedControlsIn, watchConsole } from "./stash_ui_lib.mjs";

// The Recommendations controls as laid out: no select spanning the card, a checkbox of its own size.
async function recommendationsLayout(page) {
  return page.locator("section[aria-labelledby=stash-sense-recs]").evaluate((card) => {
    const cardWidth = card.getBoundingClientRect().width;
    const selects = [...card.querySelectorAll(".stash-sense-inline select")].map((s) => ({
      id: s.id, width: s.getBoundingClientRect().width, top: s.getBoundingClientRect().top,
    }));
    const box = card.querySelector(".stash-sense-inline input[type=checkbox]").getBoundingClientRect();
    const text = card.querySelector(".stash-sense-inline input[type=checkbox]").closest("label").getBoundingClientRect();
    return {
      cardWidth, selects, checkbox: { width: box.width, height: box.height }, checkLabelWidth: text.width,
      viewport: document.documentElement.clientWidth, cardRight: card.getBoundingClientRect().right,
    };
  });
}

run(async (browser) => {
  const out = {};
  const { context, requests } = await stashContext(browser, { viewport: DESKTOP });
  const page = await context.newPage();
  const watch = watchConsole(page);

  await openStash(page, "settings?tab=tasks");
  const group = page.locator(".setting-group", { has: page.locator("h3", { hasText: "Stash Sense" }) }).first();
  await group.waitFor({ timeout: 60000 });
  out.taskSetting = await group.locator(".setting").filter({ has: page.getByRole("button", { name: "Generate fingerprints" }) }).first().innerText();
  // Everything Stash's job table shows for the job, as it changes (a finished job leaves the
  // table after ten seconds).
  await page.evaluate(() => {
    window.__jobStates = [];
    const record = () => {
      for (const li of document.querySelectorAll(".job-table li.job")) {
        const status = li.querySelector(".job-status");
        const bar = li.querySelector(".progress-bar");
        const state = { text: li.innerText, status: status ? status.className : "", progress: bar ? bar.innerText : null };
        const last = window.__jobStates[window.__jobStates.length - 1];
        if (!last || last.text !== state.text || last.status !== state.status || last.progress !== state.progress) window.__jobStates.push(state);
      }
    };
    new MutationObserver(record).observe(document.querySelector(".job-table"), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await group.getByRole("button", { name: "Generate fingerprints" }).click();
  out.toast = await page.locator(".toast", { hasText: "Generate fingerprints" }).first().innerText();
  await page.waitForFunction(() => window.__jobStates.some((s) => s.text.includes("Generate fingerprints") && / finished/.test(s.status)), null, { timeout: 240000 });
  out.jobStates = await page.evaluate(() => window.__jobStates.filter((s) => s.text.includes("Generate fingerprints")));
  await screenshot(page, "stash-ui-tasks-1280x800");

  // The Stash Sense page from the navigation bar (its visible entry: Stash renders it twice).
  await page.getByRole("link", { name: "Stash Sense" }).filter({ visible: true }).click();
  await page.locator(".stash-sense-page h2", { hasText: "Stash Sense" }).waitFor();
  out.pageUrl = page.url();
  await page.locator(".stash-sense-facts dd", { hasText: /loaded, version/ }).waitFor({ timeout: 60000 });
  const fingerprints = page.locator("section[aria-labelledby=stash-sense-fp]");
  await fingerprints.locator(".stash-sense-facts dd", { hasText: /^100%/ }).waitFor({ timeout: 60000 });
  out.fingerprints = await fingerprints.innerText();
  const recs = page.locator("section[aria-labelledby=stash-sense-recs]");
  await recs.getByRole("button", { name: "Run analysis" }).waitFor();
  out.layout1280 = await recommendationsLayout(page);
  await page.getByLabel("Analysis", { exact: true }).selectOption("scenes");
  await page.getByLabel("Full re-run").check();
  await recs.getByRole("button", { name: "Run analysis" }).click();
  await recs.locator(".stash-sense-analysis[data-status=completed]").waitFor({ timeout: 120000 });
  out.analysis = await recs.locator(".stash-sense-analysis").innerText();
  out.names = await unnamedControlsIn(page, ".stash-sense-page");
  await screenshot(page, "stash-ui-page-1280x800");
  out.errors = [...watch.errors];
  out.ignored = [...watch.ignored];
  await context.close();

  // The same page on a phone: the entry is in Stash's collapsed menu there.
  const phone = await stashContext(browser, { viewport: PHONE });
  const small = await phone.context.newPage();
  const smallWatch = watchConsole(small);
  await openStash(small, "scenes");
  out.phoneVisibleEntries = await small.getByRole("link", { name: "Stash Sense" }).filter({ visible: true }).count();
  await small.locator(".nav-menu-toggle").click();
  await small.locator(".navbar-collapse.show").waitFor();
  await small.getByRole("link", { name: "Stash Sense" }).filter({ visible: true }).click();
  await small.locator(".stash-sense-page .stash-sense-facts dd", { hasText: /loaded, version/ }).waitFor({ timeout: 60000 });
  await small.locator(".navbar-collapse.show").waitFor({ state: "detached", timeout: 10000 });
  out.phoneMenuOpen = await small.locator(".navbar-collapse.show").count();
  await small.locator("section[aria-labelledby=stash-sense-recs] .stash-sense-inline select").first().waitFor();
  out.layout390 = await recommendationsLayout(small);
  await small.locator("section[aria-labelledby=stash-sense-recs]").scrollIntoViewIfNeeded();
  await screenshot(small, "stash-ui-page-390x844");
  out.errors.push(...smallWatch.errors);
  out.ignored.push(...smallWatch.ignored);
  await phone.context.close();

  const all = [...requests, ...phone.requests];
  out.outsideBase = outsideBase(all);
  out.pluginOperations = pluginOperations(all).map((r) => r.url).filter((url) => !url.startsWith(UI));
  out.pluginOperationCount = pluginOperations(all).length;
  return out;
});
