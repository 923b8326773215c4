// The recommendations panel: run the duplicate-scene analysis, review a pair side by side, merge
// it (keeper chosen on the page, confirmed in the dialog), dismiss another, re-run the analysis
// in full and see the dismissal hold; then fix the duplicate files in bulk. Checks names and
// phone layout, and takes the screenshots.
import { DESKTOP, PHONE, horizontalOverflow, openDashboard, run, screenshot, unnamedControls, watchErrors } from "./lib.mjs";

const MERGE = process.env.MERGE_TARGET, KEEPER = process.env.KEEPER, DISMISS = process.env.DISMISS_TARGET;
const PERFORMERS = process.env.PERFORMER_TARGET;

const listed = (page) => page.locator("#rec-list > li.rec-item").evaluateAll((items) => items.map((li) => ({
  id: li.dataset.id, target: li.dataset.target, type: li.dataset.type,
  summary: li.querySelector(".rec-summary").textContent, confidence: li.querySelector(".rec-conf").textContent,
  status: li.querySelector(".rec-status").textContent,
})));

const counts = (page) => page.locator("#rec-counts tbody tr").evaluateAll((rows) => Object.fromEntries(rows.map((tr) => [
  tr.dataset.type, Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.status, Number(td.textContent)]))])));

async function filter(page, { type = "", status = "open" }) {
  await page.getByLabel("Type", { exact: true }).selectOption(type);
  await page.getByLabel("Status", { exact: true }).selectOption(status);
  const before = (await page.locator("#rec-list").getAttribute("data-loads")) || "0";
  await page.getByRole("button", { name: "Apply filters" }).click();
  await page.waitForFunction(([b, q]) => {
    const list = document.querySelector("#rec-list");
    return (list.dataset.loads || "0") !== b && list.dataset.query === q;
  }, [before, `${type}|${status}`]);
  await page.waitForTimeout(200);
}

async function runAnalysis(page, type, { full = false } = {}) {
  const previous = await page.locator("#rec-run-state").getAttribute("data-run");
  await page.getByLabel("Analysis", { exact: true }).selectOption(type);
  await page.getByLabel("Full re-run").setChecked(full);
  await page.getByRole("button", { name: "Run analysis" }).click();
  await page.waitForFunction((prev) => {
    const el = document.querySelector("#rec-run-state");
    return el.dataset.status === "completed" && el.dataset.run && el.dataset.run !== prev;
  }, previous, { timeout: 120000 });
  return page.locator("#rec-run-state").innerText();
}

async function openItem(page, target) {
  await page.locator(`#rec-list > li[data-target="${target}"] .rec-open`).click();
  await page.locator("#rec-view").waitFor();
}

const detail = (page) => page.evaluate(() => ({
  id: document.querySelector("#rec-view").dataset.id,
  title: document.querySelector("#rec-title").textContent,
  status: document.querySelector("#rec-view").dataset.status,
  evidenceList: [...document.querySelectorAll("#rec-evidence .ev-list li")].map((li) => li.textContent),
  evidence: [...document.querySelectorAll("#rec-evidence .bar.ev")].map((bar) => ({
    signal: bar.dataset.signal, share: bar.querySelector(".bar-value").textContent, detail: bar.querySelector(".ev-detail").textContent })),
  columns: [...document.querySelectorAll("#rec-compare thead th[data-id]")].map((th) => th.dataset.id),
  keeper: (document.querySelector("#rec-compare input[name=rec-keeper]:checked") || {}).value || null,
  rows: [...document.querySelectorAll("#rec-compare tbody tr")].map((tr) => ({
    field: tr.dataset.field, differs: tr.classList.contains("diff"), values: [...tr.querySelectorAll("td")].map((td) => td.textContent) })),
  buttons: [...document.querySelectorAll("#rec-actions button")].map((b) => b.textContent),
  history: [...document.querySelectorAll("#rec-history li")].map((li) => li.textContent),
}));

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = { checks: {} };
  await openDashboard(page, "#recommendations");
  await page.locator("#rec-run-state[data-status]").waitFor();
  out.initialState = await page.locator("#rec-run-state").innerText();

  // 1. The duplicate-scene analysis, started from the page.
  out.firstRun = await runAnalysis(page, "scenes");
  out.countsAfterRun = await counts(page);
  await filter(page, { type: "duplicate_scenes" });
  out.listed = await listed(page);
  out.pageText = await page.locator("#rec-page").innerText();
  await page.getByLabel("Minimum confidence (%)").fill("90");
  await filter(page, { type: "duplicate_scenes" });
  out.confident = await listed(page);
  await page.getByLabel("Minimum confidence (%)").fill("");
  await filter(page, { type: "duplicate_scenes" });
  out.checks["list@1280x800"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await screenshot(page, "dashboard-recommendations-list-1280x800");

  // 2. Review the pair to merge: evidence, side by side, keeper; merge after the confirmation.
  await openItem(page, MERGE);
  out.mergeBefore = await detail(page);
  out.checks["detail@1280x800"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await screenshot(page, "dashboard-recommendations-review-1280x800");
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  out.checks["detail@390x844"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await screenshot(page, "dashboard-recommendations-review-390x844");
  await page.setViewportSize(DESKTOP);
  await page.getByRole("radio", { name: `Keep scene ${KEEPER}` }).check();
  out.keeperChosen = (await detail(page)).keeper;
  await page.getByRole("button", { name: "Merge scenes…" }).click();
  const dialog = page.locator("#rec-confirm");
  await dialog.waitFor();
  out.confirmText = await dialog.innerText();
  out.checks["confirm@1280x800"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await page.getByRole("button", { name: "Yes, merge scenes" }).click();
  await page.locator("#rec-view[data-status=resolved]").waitFor({ timeout: 60000 });
  out.mergeAfter = await detail(page);
  out.mergeState = await page.locator("#rec-state").innerText();

  // 3. Dismiss another; a full re-run keeps it dismissed.
  await page.getByRole("button", { name: "Back to the list" }).click();
  await page.locator("#rec-browse").waitFor();
  await filter(page, { type: "duplicate_scenes" });
  out.openAfterMerge = await listed(page);
  await openItem(page, DISMISS);
  await page.getByRole("button", { name: "Dismiss", exact: true }).click();
  await page.locator("#rec-view[data-status=dismissed]").waitFor();
  out.dismissedDetail = await detail(page);
  await page.getByRole("button", { name: "Back to the list" }).click();
  await page.locator("#rec-browse").waitFor();
  out.secondRun = await runAnalysis(page, "scenes", { full: true });
  await filter(page, { type: "duplicate_scenes", status: "open" });
  out.openAfterRerun = await listed(page);
  await filter(page, { type: "duplicate_scenes", status: "dismissed" });
  out.dismissedAfterRerun = await listed(page);
  out.countsAfterRerun = await counts(page);

  // 4. Duplicate files, fixed in bulk: the plan shows codecs and sizes and keeps a file.
  await runAnalysis(page, "files");
  await filter(page, { type: "duplicate_files", status: "open" });
  out.filesListed = await listed(page);
  await page.getByLabel("Select all on this page").check();
  await page.getByRole("button", { name: "Fix selected…" }).click();
  await dialog.waitFor();
  out.bulkConfirmText = await dialog.innerText();
  await page.getByRole("button", { name: /^Yes, fix/ }).click();
  await page.locator("#rec-bulk-state", { hasText: /^Fixed/ }).waitFor({ timeout: 60000 });
  out.bulkState = await page.locator("#rec-bulk-state").innerText();

  // 5. A performer pair: the review renders it and preselects the suggested keeper.
  await runAnalysis(page, "performers");
  await filter(page, { type: "duplicate_performers", status: "open" });
  await openItem(page, PERFORMERS);
  out.performerReview = await detail(page);
  await page.getByRole("button", { name: "Back to the list" }).click();
  await page.locator("#rec-browse").waitFor();

  await filter(page, { type: "", status: "open" });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  out.checks["list@390x844"] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
  await screenshot(page, "dashboard-recommendations-list-390x844");
  out.errors = errors;
  await context.close();
  return out;
});
