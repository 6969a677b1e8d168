// The cart without page loads: "Add to cart" over fetch (the room page must not reload the
// stream), the navigation's cart badge, a short toast, and the checkout success page's wait
// for the payment confirmation.
//
// Every page works without this file: the forms it enhances post to the site as usual.

const API_CART_ITEMS = "/api/v1/cart/items/";
const TOAST_MS = 3500;
const POLL_GIVE_UP_MS = 10 * 60 * 1000; // a confirmation later than this is not worth waiting for

/** A refusal to show the buyer: the API's message (out of stock, off sale) or a fallback. */
export class CartError extends Error {
  constructor(message, code = "error") {
    super(message);
    this.code = code;
  }
}

function toastElement() {
  return document.getElementById("toast");
}

function csrfToken() {
  const cookie = document.cookie
    .split(";")
    .map((part) => part.trim())
    .find((part) => part.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  // The cookie may be HttpOnly; every page with a form carries the token too.
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

/** Put `productId` in the cart (session cart for visitors). Resolves to the API's answer;
 * rejects with a CartError whose message can be shown as it is. */
export async function addToCart(productId, quantity = 1, room = null) {
  let response;
  try {
    response = await fetch(API_CART_ITEMS, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(),
      },
      // `room`: the shopping room the add is made from (the seller's numbers count it).
      body: JSON.stringify(room ? { product_id: productId, quantity, room } : { product_id: productId, quantity }),
    });
  } catch {
    throw new CartError(toastElement()?.dataset.failed ?? "Could not add to cart.", "network");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON (a proxy's error page): the fallback message below
  }
  if (!response.ok) {
    const error = body?.error;
    throw new CartError(
      error?.message || toastElement()?.dataset.failed || "Could not add to cart.",
      error?.code,
    );
  }
  const count = body?.cart?.count;
  if (Number.isInteger(count)) setCartCount(count);
  return body;
}

export function setCartCount(count) {
  const badge = document.getElementById("cart-count");
  if (badge) badge.textContent = String(count);
}

let toastTimer = null;
/** A short message in the page's status region (screen readers announce it). */
export function toast(text, { error = false } = {}) {
  const element = toastElement();
  if (!element) return;
  element.classList.toggle("toast--error", error);
  element.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    element.textContent = "";
  }, TOAST_MS);
}

/** Add to the cart, then say what happened. Resolves to true when added. */
export async function addToCartAndTell(productId, quantity = 1, room = null) {
  try {
    await addToCart(productId, quantity, room);
  } catch (error) {
    toast(error.message, { error: true });
    return false;
  }
  toast(toastElement()?.dataset.added ?? "Added to cart");
  return true;
}

/** Forms marked `data-cart-form` (fields product_id, quantity) add over fetch instead of
 * posting the page away. */
export function enhanceCartForms(root = document) {
  if (!root) return;
  root.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-cart-form]");
    if (!form) return;
    event.preventDefault();
    const data = new FormData(form);
    const quantity = Number.parseInt(data.get("quantity") ?? "1", 10) || 1;
    const buttons = form.querySelectorAll("button");
    for (const button of buttons) button.disabled = true;
    try {
      await addToCartAndTell(String(data.get("product_id")), quantity, data.get("room") || null);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}

/** Forms marked `data-submit-once` (checkout) cannot be sent twice by a double click. */
export function submitOnce(root = document) {
  for (const form of root.querySelectorAll("form[data-submit-once]")) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      for (const button of form.querySelectorAll("button")) button.setAttribute("aria-disabled", "true");
    });
  }
  // Back from the payment page (bfcache): the form may be used again.
  window.addEventListener("pageshow", () => {
    for (const form of root.querySelectorAll("form[data-submit-once]")) {
      delete form.dataset.sent;
      for (const button of form.querySelectorAll("button")) button.removeAttribute("aria-disabled");
    }
  });
}

/** The success page: ask for the order's status every few seconds until the payment
 * provider has confirmed (or the order was cancelled). This only reads; it never pays. */
export function watchOrderStatus(element) {
  if (!element || element.dataset.status !== "pending") return;
  const url = element.dataset.statusUrl;
  const every = (Number(element.dataset.pollSeconds) || 2) * 1000;
  const startedAt = Date.now();
  let timer = null;

  const show = (status) => {
    element.dataset.status = status;
    element.className = `order-progress order-progress--${status}`;
    const text = element.dataset[`text${status.charAt(0).toUpperCase()}${status.slice(1)}`];
    if (text) element.textContent = text;
  };

  const poll = async () => {
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (response.ok) {
        const { status } = await response.json();
        if (status && status !== "pending") {
          // paid, or anything after it (shipped...): all mean the payment went through
          show(["cancelled", "refunded"].includes(status) ? status : "paid");
          return;
        }
      }
    } catch {
      // offline for a moment: try again on the next tick
    }
    if (Date.now() - startedAt > POLL_GIVE_UP_MS) {
      element.textContent = element.dataset.textSlow ?? element.textContent;
      return;
    }
    timer = setTimeout(poll, every);
  };

  timer = setTimeout(poll, every);
  window.addEventListener("pagehide", () => clearTimeout(timer));
  window.addEventListener("pageshow", (event) => {
    // Restored from the back/forward cache: pick up where it stopped.
    if (event.persisted && element.dataset.status === "pending") timer = setTimeout(poll, 0);
  });
}
