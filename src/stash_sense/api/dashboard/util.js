// Small DOM helpers: every piece of text from the API goes in through textContent.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

export function pct(x) { return x === null || x === undefined ? "–" : `${Math.round(x * 100)}%`; }

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60), r = s % 60;
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return m ? `${m} min ${r} s` : `${r} s`;
}

export function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function stats(dl, pairs) {
  dl.replaceChildren(...pairs.flatMap(([k, v, id]) => [h("dt", { text: k }), h("dd", { text: v ?? "–", id })]));
}

let noticeTimer = null;
export function notice(message, kind = "error") {
  const el = $("notice");
  el.textContent = message;
  el.className = `notice ${kind}`;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 12000);
}

// The name a stash ID / identity is shown with: the endpoint's host.
export function endpointName(identity) {
  const endpoint = identity.split("#")[0];
  if (endpoint.startsWith("local:")) return `local folder ${endpoint.slice(6)}`;
  try { return new URL(endpoint).host; } catch { return endpoint; }
}
