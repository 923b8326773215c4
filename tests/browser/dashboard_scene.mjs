// Identify scenes in the dashboard and review them with the keyboard only: add a performer
// Stash has, create one it lacks from its stash-box entry, skip a stranger (scene 1); link an
// unconfident person to an existing performer (scene 2).
import { DESKTOP, PHONE, horizontalOverflow, run, screenshot, unnamedControls, watchErrors, BASE_URL } from "./lib.mjs";

const MISSING = process.env.MISSING_NAME;   // in the face DB and on stash-box, not in Stash
const PRESENT = process.env.PRESENT_NAME;   // in Stash, not yet on the scene
const LINK_TO = process.env.LINK_NAME;      // the performer to link scene 2's person to

async function rowsOf(page) {
  return page.locator("#persons > li.person").evaluateAll((items) => items.map((li) => ({
    label: li.getAttribute("aria-label"),
    best: li.querySelector(".best strong") ? li.querySelector(".best strong").textContent : null,
    state: li.querySelector(".state").textContent,
    stateKind: li.querySelector(".state").dataset.state,
    buttons: [...li.querySelectorAll("button")].filter((b) => !b.disabled).map((b) => b.textContent),
    thumbnail: Boolean(li.querySelector("img[src^='data:image/jpeg']")),
    frameThumbnails: li.querySelectorAll(".frames img[src^='data:image/jpeg']").length,
  })));
}

async function openScene(page, query, title) {
  await page.getByLabel("Scene title or id").fill(query);
  await page.keyboard.press("Enter");
  const pick = page.locator("#scene-results button", { hasText: title }).first();
  await pick.focus();
  await page.keyboard.press("Enter");
  await page.locator("#scene-title", { hasText: title }).waitFor();
  await page.locator("#scene-state", { hasText: /people in/ }).waitFor({ timeout: 120000 });
}

const focusedRow = (page) => page.evaluate(() => {
  const row = document.activeElement.closest("li.person");
  return row ? Number(row.dataset.index) : -1;
});

async function waitRowState(page, index, state) {
  await page.locator(`#persons > li.person[data-index="${index}"] .state[data-state=${state}]`).waitFor({ timeout: 60000 });
}

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = { keys: [] };

  // The API key is asked for once; a wrong key is refused and asked for again.
  await page.goto(`${BASE_URL}/`);
  await page.locator("#key-dialog").waitFor({ state: "visible", timeout: 15000 });
  out.promptedForKey = true;
  await page.getByLabel("Sidecar API key").fill("not-the-key");
  await page.keyboard.press("Enter");
  await page.locator("#key-error", { hasText: "refused" }).waitFor();
  out.wrongKeyMessage = await page.locator("#key-error").innerText();
  await page.getByLabel("Sidecar API key").fill(process.env.SIDECAR_KEY);
  await page.keyboard.press("Enter");
  await page.locator("#key-dialog").waitFor({ state: "hidden" });
  await page.locator("#status-stash").filter({ hasText: /Stash: (?!…)/ }).waitFor();
  out.stashBadge = await page.locator("#status-stash").innerText();
  await page.reload();
  await page.locator("#status-stash").filter({ hasText: /Stash: (?!…)/ }).waitFor();
  out.promptedAgainAfterReload = await page.locator("#key-dialog").isVisible();

  // Scene 1 (found by its id): every row decided from the keyboard. The quick setting keeps
  // the test short; the sidecar's result is the same kind either way.
  await page.getByLabel("Frames to sample").selectOption("20");
  // Scene 1 (found by its id): every row decided from the keyboard.
  await openScene(page, "1", "Scene 1");
  out.scene1Before = await rowsOf(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, "dashboard-scene-before-1280x800");
  await page.locator("#persons > li.person").first().focus();
  for (let i = 0; i < out.scene1Before.length; i += 1) {
    if (i > 0) await page.keyboard.press("j");
    const at = await focusedRow(page);
    const best = out.scene1Before[at].best;
    const key = best === MISSING ? "c" : best === PRESENT ? "a" : "s";
    out.keys.push({ row: at, best, key });
    await page.keyboard.press(key);
    await waitRowState(page, at, { c: "created", a: "added", s: "skipped" }[key]);
  }
  out.scene1After = await rowsOf(page);
  out.scene1Meta = await page.locator("#scene-meta").innerText();
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, "dashboard-scene-1280x800");
  out.names = await unnamedControls(page);
  await page.setViewportSize(PHONE);
  out.phoneOverflow = await horizontalOverflow(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, "dashboard-scene-390x844");
  await page.setViewportSize(DESKTOP);

  // Scene 2: nobody passes the threshold; link the person to an existing performer, then add.
  await page.getByLabel("Scene title or id").focus();
  await openScene(page, "Scene 2", "Scene 2");
  out.scene2Before = await rowsOf(page);
  await page.locator("#persons > li.person").first().focus();
  await page.keyboard.press("l");
  await page.locator("#link-dialog").waitFor({ state: "visible" });
  await page.keyboard.type(LINK_TO);
  await page.keyboard.press("Enter");
  const choice = page.locator("#link-results button", { hasText: LINK_TO }).first();
  await choice.waitFor();
  await choice.focus();
  await page.keyboard.press("Enter");
  await page.locator("#link-dialog").waitFor({ state: "hidden" });
  out.scene2Linked = await rowsOf(page);
  await page.keyboard.press("a");
  await waitRowState(page, 0, "added");
  out.scene2After = await rowsOf(page);

  // Identifying again reads the scene back from Stash: the linked performer is on it now.
  await page.getByRole("button", { name: "Identify again" }).click();
  await page.locator("#scene-state", { hasText: /^Identifying/ }).waitFor();
  await page.locator("#scene-state", { hasText: /people in/ }).waitFor({ timeout: 120000 });
  out.scene2Again = await rowsOf(page);
  out.errors = errors;
  await context.close();
  return out;
});
