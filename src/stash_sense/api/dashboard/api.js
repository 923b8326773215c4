// Every call to the sidecar goes through here, so the API key (when the sidecar has one) is
// asked for once and sent on every request.
const KEY_STORAGE = "stash-sense.api-key";

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

let keyPrompt = null; // set by the app: async () => key entered by the user

export function setKeyPrompt(fn) { keyPrompt = fn; }
export function storedKey() { return localStorage.getItem(KEY_STORAGE); }
export function storeKey(key) { localStorage.setItem(KEY_STORAGE, key); }
export function forgetKey() { localStorage.removeItem(KEY_STORAGE); }

async function send(method, path, body) {
  const headers = {};
  const key = storedKey();
  if (key) headers["X-API-Key"] = key;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "unreachable", "the sidecar did not answer (is it running?)");
  }
  return response;
}

async function decode(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) return response.json();
  return response.text();
}

// A 401 asks for the key (once per wrong or missing key) and retries the call with it.
export async function api(method, path, body) {
  let response = await send(method, path, body);
  let attempts = 0;
  while (response.status === 401 && keyPrompt && attempts < 5) {
    const data = await decode(response);
    const hadKey = Boolean(storedKey());
    const key = await keyPrompt(hadKey ? "That key was refused; enter the sidecar's API key." : (data.detail || ""));
    if (!key) break;
    storeKey(key);
    attempts += 1;
    response = await send(method, path, body);
  }
  const data = await decode(response);
  if (!response.ok) {
    throw new ApiError(response.status, data && data.error, (data && data.detail) || `HTTP ${response.status}`);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
