// Identify an uploaded image; visit every panel at 1280x800 and 390x844 (accessible names,
// no horizontal scrolling, screenshots); open a benchmark report; test the connection.
import { DESKTOP, PHONE, horizontalOverflow, openDashboard, run, screenshot, unnamedControls, watchErrors } from "./lib.mjs";
import { readFileSync } from "node:fs";

const PANELS = ["scene", "image", "fingerprints", "facedb", "benchmarks", "settings"];

run(async (browser) => {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors = watchErrors(page);
  const out = { panels: {} };
  await openDashboard(page, "#image");

  await page.getByLabel("Drop an image here, or choose a file").setInputFiles(process.env.IMAGE_PATH);
  await page.getByRole("button", { name: "Identify image" }).click();
  await page.locator("#image-state", { hasText: /face.* found/ }).waitFor({ timeout: 120000 });
  out.imageState = await page.locator("#image-state").innerText();
  out.imageFaces = await page.locator("#image-faces > li").evaluateAll((items) => items.map((li) => ({
    best: li.querySelector(".best strong") ? li.querySelector(".best strong").textContent : null,
    confidence: li.querySelector(".conf") ? li.querySelector(".conf").textContent : null,
  })));
  out.imageBoxes = await page.locator("#image-boxes .facebox").count();
  await screenshot(page, "dashboard-image-1280x800");

  // A dropped file is identified straight away, as the drop zone promises.
  const dropped = readFileSync(process.env.DROP_IMAGE_PATH).toString("base64");
  const transfer = await page.evaluateHandle((data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], "dropped.jpg", { type: "image/jpeg" }));
    return dt;
  }, dropped);
  await page.locator("#drop-zone").dispatchEvent("drop", { dataTransfer: transfer });
  await page.locator('#image-result[data-file="dropped.jpg"]').waitFor({ timeout: 120000 });
  out.droppedState = await page.locator("#image-state").innerText();
  out.droppedBest = await page.locator("#image-faces > li .best strong").first().innerText();

  await page.getByRole("tab", { name: "Face DB" }).click();
  await page.locator("#db-version").waitFor();
  out.faceDB = { version: await page.locator("#db-version").innerText(), faces: await page.locator("#db-faces").innerText(),
    bars: await page.locator("#db-buckets .bar").count() };
  await page.getByRole("button", { name: "Reload face DB" }).click();
  await page.locator("#db-state", { hasText: /^Reloaded/ }).waitFor({ timeout: 60000 });
  out.faceDBReload = await page.locator("#db-state").innerText();

  await page.getByRole("tab", { name: "Benchmarks" }).click();
  await page.locator("#bench-list button").first().click();
  await page.locator("#bench-view").waitFor();
  out.benchmarkSummary = await page.locator("#bench-summary").innerText();
  const frame = page.frameLocator("#bench-frame");
  out.benchmarkHeading = await frame.locator("h1").innerText();

  await page.getByRole("tab", { name: "Connection" }).click();
  await page.getByRole("button", { name: "Test connection" }).click();
  await page.locator("#conn-state", { hasText: /Stash/ }).waitFor();
  out.connection = await page.locator("#conn-state").innerText();
  await page.locator("#settings-table tbody tr").first().waitFor();
  out.settingsText = await page.locator("#settings-table").innerText();
  await screenshot(page, "dashboard-connection-1280x800");

  for (const viewport of [DESKTOP, PHONE]) {
    await page.setViewportSize(viewport);
    for (const panel of PANELS) {
      await page.getByRole("tab", { name: { scene: "Scenes", image: "Image", fingerprints: "Fingerprints", facedb: "Face DB", benchmarks: "Benchmarks", settings: "Connection" }[panel] }).click();
      await page.locator(`#panel-${panel}`).waitFor();
      await page.waitForTimeout(300);
      const key = `${panel}@${viewport.width}x${viewport.height}`;
      out.panels[key] = { names: await unnamedControls(page), overflow: await horizontalOverflow(page) };
      await screenshot(page, `dashboard-${panel}-${viewport.width}x${viewport.height}`);
    }
  }
  out.errors = errors;
  await context.close();
  return out;
});
