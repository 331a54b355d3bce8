// Tiny fetch wrapper: JSON in and out, the CSRF token from the page, one error shape (the server's
// message, and its code and details for a page that branches on them).
const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export async function postJSON(url, body = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, error: "Network error: check your connection and try again." };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    return {
      ok: false,
      status: response.status,
      error: data?.error?.message ?? `Request failed (${response.status}).`,
      code: data?.error?.code ?? null,
      details: data?.error?.details ?? {},
    };
  }
  return { ok: true, status: response.status, data };
}
