// In-site notifications for signed-in users, on every page: one WebSocket to
// /ws/notifications/ (protocol: docs/realtime.md) that brings
//   {"type": "notification", "notification": {...}}  -> a toast linking to the show, and
//   {"type": "unread-count", "count": n}               -> the nav's unread badge.
// A dropped connection comes back by itself, with backoff and jitter.
//
// The words come translated from the page (#toasts data-dismiss, data-open); the
// notification's own title and text come translated from the server.

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const MAX_TOASTS = 3; // older ones make room: a burst of shows going live must not fill the screen

const region = document.getElementById("toasts");
const badge = document.getElementById("notification-count");
let attempt = 0;

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/ws/notifications/`;
}

function setCount(count) {
  if (!badge || !Number.isInteger(count) || count < 0) return;
  badge.textContent = String(count);
  badge.hidden = count === 0;
}

function safeUrl(url) {
  // Only this site's pages: the server sends paths like /rooms/5/.
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}

function showToast(notification) {
  if (!region || !notification || typeof notification !== "object") return;
  const toast = document.createElement("div");
  toast.className = "notify-toast";
  toast.dataset.notificationId = String(notification.id ?? "");

  const body = document.createElement("div");
  body.className = "notify-toast__body";
  const title = document.createElement("p");
  title.className = "notify-toast__title";
  const url = safeUrl(notification.url);
  if (url) {
    const link = document.createElement("a");
    link.href = url;
    link.textContent = notification.title || region.dataset.open;
    title.append(link);
  } else {
    title.textContent = notification.title || "";
  }
  const text = document.createElement("p");
  text.className = "notify-toast__text";
  text.textContent = notification.text || "";
  body.append(title, text);
  if (url) {
    const open = document.createElement("a");
    open.className = "btn btn--primary btn--small";
    open.href = url;
    open.textContent = region.dataset.open;
    body.append(open);
  }

  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "notify-toast__dismiss";
  dismiss.setAttribute("aria-label", region.dataset.dismiss);
  dismiss.textContent = "×";
  dismiss.addEventListener("click", () => toast.remove());
  toast.addEventListener("keydown", (event) => {
    if (event.key === "Escape") toast.remove();
  });

  toast.append(body, dismiss);
  region.append(toast);
  while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
}

function connect() {
  // The session cookie authenticates the socket and the browser sends Origin by itself.
  const socket = new WebSocket(socketUrl());
  socket.addEventListener("open", () => {
    attempt = 0;
  });
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // the server only sends JSON; anything else is not ours to act on
    }
    if (message?.type === "notification") showToast(message.notification);
    else if (message?.type === "unread-count") {
      setCount(message.count);
      // The server's first message: from now on this page hears every notification.
      region.dataset.connected = "true";
    }
  });
  socket.addEventListener("close", () => {
    delete region.dataset.connected;
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  // Exponential backoff with jitter: after a server restart, pages must not all come back
  // in the same instant. The delay doubles from 1 s up to 30 s; a random half of it spreads
  // the crowd out.
  const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt);
  attempt += 1;
  setTimeout(connect, ceiling / 2 + (Math.random() * ceiling) / 2);
}

if (region && "WebSocket" in window) connect();
