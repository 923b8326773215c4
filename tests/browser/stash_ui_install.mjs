// Install the plugin the way a user does, in Stash's own Settings > Plugins: add the sidecar's
// plugin source (GET /plugin/index.yml), install Stash Sense from it, then set its settings
// (Sidecar URL, Sidecar API key, Show rejected candidates) and reload the UI, which now loads
// the plugin's files.
import { DESKTOP, run, screenshot } from "./lib.mjs";
import { openStash, outsideBase, stashContext, watchConsole } from "./stash_ui_lib.mjs";

const { SIDECAR_URL, SIDECAR_KEY } = process.env;
const SOURCE = `${SIDECAR_URL}/plugin/index.yml`;

// Settings are saved half a second after the last change (one ConfigurePlugin with all of them).
function waitForSavedSettings(page, expected) {
  return page.waitForResponse(async (response) => {
    const request = response.request();
    if (!request.url().endsWith("/graphql") || request.method() !== "POST") return false;
    const body = JSON.parse(request.postData() || "{}");
    if (body.operationName !== "ConfigurePlugin") return false;
    const input = body.variables.input || {};
    return Object.entries(expected).every(([k, v]) => input[k] === v) && response.ok();
  }, { timeout: 30000 });
}

async function editString(page, id, value) {
  const setting = page.locator(`#plugin-stash-sense-${id}`);
  await setting.getByRole("button", { name: "Edit" }).click();
  const dialog = page.locator("#setting-dialog");
  await dialog.locator("input.text-input").fill(value);
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await dialog.waitFor({ state: "detached" });
}

run(async (browser) => {
  const out = {};
  const { context, requests } = await stashContext(browser, { viewport: DESKTOP });
  const page = await context.newPage();
  const watch = watchConsole(page);

  await openStash(page, "settings?tab=plugins");
  const available = page.locator(".available-packages");
  await available.getByRole("button", { name: "Add Source" }).click();
  const dialog = page.locator("#setting-dialog");
  await dialog.getByPlaceholder("Name").fill("Stash Sense sidecar");
  await dialog.getByPlaceholder("Source URL").fill(SOURCE);
  await dialog.getByRole("button", { name: "Confirm" }).click();
  // The source is listed; opening it lists its packages, read from the sidecar's index.
  const source = available.locator("tr.package-source", { hasText: "Stash Sense sidecar" });
  await source.locator(".source-name").click();
  const pkg = available.locator("tr", { has: page.locator(".package-id", { hasText: "stash-sense" }) });
  await pkg.waitFor({ timeout: 30000 });
  out.available = await pkg.innerText();
  await pkg.locator(".package-cell").click();  // selects it
  await available.getByRole("button", { name: "Install" }).click();
  // The install job runs; when it ends the page lists the plugin with its settings.
  const section = page.locator(".setting-group", { has: page.locator("h3", { hasText: /^Stash Sense \(/ }) });
  await section.waitFor({ timeout: 60000 });
  out.pluginHeading = await section.locator("h3").first().innerText();
  out.settingsListed = await section.locator(".plugin-settings .setting h3").allInnerTexts();

  const saved = waitForSavedSettings(page, { sidecarUrl: SIDECAR_URL, sidecarApiKey: SIDECAR_KEY, showRejected: true });
  await editString(page, "sidecarUrl", SIDECAR_URL);
  await editString(page, "sidecarApiKey", SIDECAR_KEY);
  await page.locator("#plugin-stash-sense-showRejected").check();
  await saved;

  // Stash loads plugins' files once per page load: reload the UI to get the plugin.
  await page.reload();
  await page.locator(".setting-group", { has: page.locator("h3", { hasText: /^Stash Sense \(/ }) }).waitFor({ timeout: 30000 });
  out.afterReload = {
    sidecarUrl: await page.locator("#plugin-stash-sense-sidecarUrl .value").innerText(),
    showRejected: await page.locator("#plugin-stash-sense-showRejected").isChecked(),
    navEntries: await page.locator("a.stash-sense-nav").count(),
    navVisible: await page.getByRole("link", { name: "Stash Sense" }).filter({ visible: true }).count(),
  };
  out.installedSection = await page.locator(".installed-packages").innerText();
  await screenshot(page, "stash-ui-settings-plugins-1280x800");
  out.errors = watch.errors;
  out.ignored = watch.ignored;
  out.outsideBase = outsideBase(requests);
  out.operations = [...new Set(requests.map((r) => r.operation).filter(Boolean))];
  await context.close();
  return out;
});
