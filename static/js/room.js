// The live parts of a room page: chat, viewer count, spotlight, queue, host controls and
// the live video, over one WebSocket to /ws/rooms/<id>/ (the protocol: docs/realtime.md).
// The seller's studio page runs this same module (studio.js imports it) and adds the
// camera on top through `room`, the small interface exported at the end.
//
// Rules this file keeps:
// - Everything people typed (chat text, names, product names) reaches the page through
//   textContent, never innerHTML: HTML in a chat message shows as text.
// - The page works on its own first (server-rendered); the socket only brings it to life,
//   and a lost connection comes back by itself with backoff.

import { enhanceCartForms } from "./cart.js";
import { ViewerPlayer } from "./live-video.js";

const root = document.querySelector("[data-room-id]");
const T = JSON.parse(document.getElementById("room-i18n").textContent);
const $ = (id) => document.getElementById(id);

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
const CLOSE_BANNED = 4403;
const CHAT_KEPT = 200; // messages kept in the page; a long show must not grow the DOM forever
const ERROR_SHOWN_MS = 10000;
// At or under this many units the count is emphasised ("2 left"); the templates use 5 too.
const LOW_STOCK = 5;

const el = {
  status: $("room-status"),
  viewers: $("viewer-count"),
  banner: $("connection-banner"),
  ended: $("room-ended"),
  video: $("live-video"), // the viewer's player; absent in the studio
  spotlight: $("spotlight"),
  spotlightAdd: $("spotlight-add"), // absent for the room's seller
  spotlightSoldOut: $("spotlight-sold-out"), // idem
  spotlightStock: $("spotlight-stock"),
  chatLog: $("chat-log"),
  chatNew: $("chat-new"), // the "N new messages" pill
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
  chatError: $("chat-error"),
  slowMode: $("slow-mode"),
  queueButton: $("queue-button"),
  queueStatus: $("queue-status"),
  host: document.querySelector(".host"),
  hostNotice: $("host-notice"),
  spotlightForm: $("spotlight-form"),
  spotlightSelect: $("spotlight-select"),
  slowModeSelect: $("slow-mode-select"),
  queueList: $("queue-list"),
  queueEmpty: $("queue-empty"),
  presenceList: $("presence-list"),
  presenceEmpty: $("presence-empty"),
};

const state = {
  socket: null,
  connected: false,
  everConnected: false,
  attempt: 0,
  leaving: false, // the page is being left: a closed socket is expected, not an outage
  banned: false,
  status: root.dataset.status,
  you: { id: null, role: root.dataset.role },
  sellerId: null,
  inQueue: false,
  admitted: false,
  lastSent: "",
  messages: new Map(), // message id -> element, for dedupe and deletion
  unread: 0, // messages that arrived while the reader was scrolled up
  spotlight: null, // the product summary the card shows (its stock follows product-stock)
  names: new Map(), // user id -> display name, to name people in host notices
  presence: new Map(),
};

/** Fill {placeholders} in a translated string. */
const fill = (text, values = {}) => text.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
// The server sends each plural string as <key>_one and <key>_other (ngettext); the page's
// language rules say which one a number takes.
const pluralRules = new Intl.PluralRules(document.documentElement.lang || undefined);
const plural = (key, n) =>
  fill(pluralRules.select(n) === "one" ? T[`${key}_one`] : T[`${key}_other`], { n });
// Prices as the page's language writes them ("24.50" / "24,50"), like the server's `money`
// filter; the currency code follows, as everywhere on the site.
const amountFormat = new Intl.NumberFormat(document.documentElement.lang || undefined, {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  useGrouping: false, // as Django writes it (USE_THOUSAND_SEPARATOR is off)
});
const formatAmount = (amount) => {
  const value = Number(amount);
  return Number.isFinite(value) ? amountFormat.format(value) : String(amount ?? "");
};
const isHost = () => state.you.role === "seller" || state.you.role === "moderator";
const nameOf = (user) => user.display_name || user.username;
const sameId = (a, b) => a != null && b != null && String(a) === String(b);

function remember(user) {
  if (user && user.id != null) state.names.set(String(user.id), nameOf(user));
}

// --- connection ---------------------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  // batch=chat: a busy room's chat lines come a tick at a time in one chat-batch frame.
  const room = encodeURIComponent(root.dataset.roomId);
  return `${scheme}://${location.host}/ws/rooms/${room}/?batch=chat`;
}

function connect() {
  // The session cookie authenticates the socket and the browser sends Origin by itself.
  const socket = new WebSocket(socketUrl());
  state.socket = socket;
  socket.addEventListener("message", (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // the server only sends JSON; anything else is not ours to act on
    }
    const type = message?.type;
    if (type === "error") {
      if (!emit("error", message)) handlers.error(message);
      return;
    }
    handlers[type]?.(message);
    if (typeof type === "string") emit(type, message);
  });
  socket.addEventListener("close", (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    setConnected(false);
    emit("socket-close", event);
    if (state.leaving || state.banned || event.code === CLOSE_BANNED) return;
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  // Exponential backoff with jitter: after a server restart, viewers must not all come
  // back in the same instant. The delay doubles from 1 s up to 30 s; a random half of it
  // spreads the crowd out.
  const ceiling = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** state.attempt);
  const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
  state.attempt += 1;
  showBanner(state.everConnected ? T.reconnecting : T.connecting);
  setTimeout(connect, delay);
}

/** Send a frame if the socket is open; false otherwise (the caller decides what to say). */
function sendFrame(frame) {
  if (state.socket?.readyState !== WebSocket.OPEN) return false;
  state.socket.send(JSON.stringify(frame));
  return true;
}

function send(frame) {
  if (sendFrame(frame)) return true;
  showChatError(T.not_connected);
  return false;
}

// Other modules (the live video) listen to the socket too: listeners[type] run after this
// file's own handler. An "error" listener that returns true has dealt with the error, and
// the chat does not show it.
const listeners = new Map();

function emit(type, message) {
  let handled = false;
  for (const listener of listeners.get(type) ?? []) {
    if (listener(message) === true) handled = true;
  }
  return handled;
}

function showBanner(text) {
  el.banner.textContent = text;
  el.banner.hidden = false;
}

function setConnected(connected) {
  state.connected = connected;
  if (connected) el.banner.hidden = true;
  updateControls();
}

/** Controls work only while connected and the show has not ended. */
function updateControls() {
  const usable = state.connected && state.status !== "ended" && !state.banned;
  if (el.chatForm) {
    el.chatForm.hidden = state.status === "ended";
    for (const control of el.chatForm.elements) control.disabled = !usable;
  }
  if (el.queueButton) el.queueButton.disabled = !usable;
  if (el.host) {
    for (const control of el.host.querySelectorAll("button, select")) control.disabled = !usable;
  }
}

// --- what the server says ---------------------------------------------------------------

const handlers = {
  "room-state"(message) {
    // Sent first on every (re)connection: it replaces whatever the page showed.
    state.attempt = 0;
    state.everConnected = true;
    state.you = message.you;
    state.sellerId = message.room.seller.id;
    remember(message.room.seller);
    setConnected(true);
    applyStatus(message.room.status);
    setViewerCount(message.viewer_count);
    renderSpotlight(message.spotlight);
    // The counts read at (re)connection: a page that was away missed the product-stock
    // frames sent meanwhile. Applied after the spotlight, they are the fresher figures.
    for (const entry of message.product_stock ?? []) setProductStock(entry.product_id, entry.stock);
    replaceChat(message.chat);
    setQueuePosition(message.queue_position);
    setSlowMode(message.slow_mode);
  },
  "viewer-count": (message) => setViewerCount(message.count),
  "room-status": (message) => applyStatus(message.status),
  "spotlight-product": (message) => renderSpotlight(message.product),
  "product-stock": (message) => setProductStock(message.product_id, message.stock),
  "chat-message"(message) {
    appendMessage(message);
    if (sameId(message.user.id, state.you.id)) hideChatError();
  },
  "chat-batch"(message) {
    for (const line of message.messages ?? []) handlers["chat-message"](line);
  },
  "message-deleted"(message) {
    state.messages.get(message.message_id)?.remove();
    state.messages.delete(message.message_id);
  },
  "slow-mode": (message) => setSlowMode(message.seconds),
  "queue-position"(message) {
    setQueuePosition(message.position);
  },
  "queue-admitted"() {
    state.admitted = true;
    if (el.queueStatus) {
      el.queueStatus.textContent = T.queue_admitted;
      el.queueStatus.classList.add("queue__status--turn");
    }
  },
  "queue-update"(message) {
    if (!el.queueList) return;
    el.queueList.replaceChildren(
      ...message.queue.map(({ user }) => {
        remember(user);
        const item = document.createElement("li");
        item.textContent = nameOf(user);
        return item;
      }),
    );
    el.queueEmpty.hidden = message.queue.length > 0;
  },
  "join-room"(message) {
    remember(message.user);
    state.presence.set(String(message.user.id), message.user);
    renderPresence();
  },
  "leave-room"(message) {
    state.presence.delete(String(message.user.id));
    renderPresence();
  },
  muted: (message) => showChatError(fill(T.muted, { n: message.minutes })),
  "user-muted"(message) {
    hostNotice(fill(T.user_muted, { name: knownName(message.user_id), n: message.minutes }));
  },
  "user-banned"(message) {
    hostNotice(fill(T.user_banned, { name: knownName(message.user_id) }));
    state.presence.delete(String(message.user_id));
    renderPresence();
  },
  error(message) {
    if (message.code === "banned") {
      state.banned = true;
      updateControls();
      showChatError(T.banned, { sticky: true });
      return;
    }
    showChatError(message.message);
    // A refused chat line goes back into the box, so the writer can send it again later.
    const refusedChat = ["rate_limited", "slow_mode", "muted"].includes(message.code);
    if (refusedChat && el.chatInput && !el.chatInput.value) el.chatInput.value = state.lastSent;
  },
};

function knownName(userId) {
  return state.names.get(String(userId)) ?? `#${userId}`;
}

function applyStatus(status) {
  state.status = status;
  root.dataset.status = status;
  el.status.textContent = T[`status_${status}`] ?? status;
  el.status.className = `badge ${{ live: "badge--live", ended: "badge--muted" }[status] ?? "badge--soon"}`;
  el.ended.hidden = status !== "ended";
  // The seller's Go live / End buttons follow the status, whoever changed it.
  for (const form of document.querySelectorAll("[data-show-when]")) {
    form.hidden = form.dataset.showWhen !== status;
  }
  if (status === "ended") {
    // Nothing can happen in an ended show: its live-only panels go away.
    el.spotlight.hidden = true;
    if (el.host) el.host.hidden = true;
    el.queueButton?.closest("section").setAttribute("hidden", "");
    for (const tools of el.chatLog.querySelectorAll(".chat-msg__tools")) tools.remove();
  }
  updateControls();
}

function setViewerCount(count) {
  el.viewers.textContent = String(count ?? 0);
}

function setSlowMode(seconds) {
  el.slowMode.hidden = !seconds;
  el.slowMode.textContent = seconds ? fill(T.slow_mode, { n: seconds }) : "";
  if (el.slowModeSelect) el.slowModeSelect.value = String(seconds || 0);
}

function setQueuePosition(position) {
  state.inQueue = position != null;
  if (!el.queueButton) return;
  el.queueButton.textContent = state.inQueue ? T.queue_leave : T.queue_join;
  el.queueButton.setAttribute("aria-pressed", String(state.inQueue));
  // Being admitted also ends one's place in the line: keep "It's your turn!" visible then.
  if (state.inQueue) {
    state.admitted = false;
    el.queueStatus.classList.remove("queue__status--turn");
    el.queueStatus.textContent = fill(T.queue_position, { n: position });
  } else if (!state.admitted) {
    el.queueStatus.textContent = "";
  }
}

function renderSpotlight(product) {
  const wasHidden = el.spotlight.hidden;
  const shown = el.spotlight.dataset.productId ?? "";
  el.spotlight.hidden = !product || state.status === "ended";
  state.spotlight = product ? { ...product } : null;
  el.spotlight.dataset.productId = product ? String(product.id) : "";
  if (!product) {
    if (el.spotlightAdd) el.spotlightAdd.hidden = true;
    if (el.spotlightSoldOut) el.spotlightSoldOut.hidden = true;
    return;
  }
  $("spotlight-name").textContent = product.name;
  $("spotlight-price").textContent = formatAmount(product.price);
  $("spotlight-currency").textContent = product.currency;
  const image = $("spotlight-image");
  image.hidden = !product.image_url;
  if (product.image_url) image.src = product.image_url;
  // Without a picture, the name's first letter (as in the product list).
  const placeholder = $("spotlight-placeholder");
  if (placeholder) {
    placeholder.hidden = Boolean(product.image_url);
    placeholder.textContent = (product.name ?? "").charAt(0).toUpperCase();
  }
  // The socket's product summary carries no page address; the product list has it.
  const listed = listedProduct(product.id)?.querySelector(".room-product__name");
  const link = $("spotlight-link");
  link.hidden = !listed;
  if (listed) link.href = listed.href;
  if (el.spotlightSelect) el.spotlightSelect.value = String(product.id);
  // "Add to cart" follows the spotlight.
  if (el.spotlightAdd) {
    el.spotlightAdd.dataset.productId = String(product.id);
    el.spotlightAdd.form.elements.product_id.value = String(product.id);
  }
  renderSpotlightStock(product.stock);
  renderListedStock(product.id, product.stock);
  // A product that comes into the spotlight (or replaces another) animates in; a resync
  // (room-state after a reconnect) of the same product does not.
  if (!el.spotlight.hidden && (wasHidden || shown !== String(product.id))) animateSpotlight();
}

function animateSpotlight() {
  // Restart the entrance animation: take the class off, flush styles, put it back. It stays
  // on afterwards (harmless), so the card never flickers back to the start frame.
  el.spotlight.classList.remove("spotlight--enter");
  void el.spotlight.offsetWidth;
  el.spotlight.classList.add("spotlight--enter");
}

// --- stock -----------------------------------------------------------------------------

const stockText = (stock) => (stock > 0 ? plural("stock_left", stock) : T.sold_out);
const isLow = (stock) => stock > 0 && stock <= LOW_STOCK;

function listedProduct(productId) {
  return document.querySelector(`.room-product[data-product-id="${CSS.escape(String(productId))}"]`);
}

/** A product's count changed (someone bought, an order was cancelled, the seller restocked). */
function setProductStock(productId, stock) {
  if (!Number.isInteger(stock)) return;
  renderListedStock(productId, stock);
  if (state.spotlight && sameId(state.spotlight.id, productId)) {
    state.spotlight.stock = stock;
    renderSpotlightStock(stock);
  }
}

function renderSpotlightStock(stock) {
  const soldOut = !(stock > 0);
  el.spotlightStock.textContent = stockText(stock);
  el.spotlightStock.classList.toggle("stock--low", isLow(stock));
  el.spotlight.classList.toggle("spotlight--sold-out", soldOut);
  // Sold out: "Add to cart" gives way to a disabled "Sold out" (nothing to add that could
  // only fail); a restock brings it back.
  if (el.spotlightAdd) el.spotlightAdd.hidden = soldOut;
  if (el.spotlightSoldOut) el.spotlightSoldOut.hidden = !soldOut;
}

function renderListedStock(productId, stock) {
  const item = listedProduct(productId);
  if (!item) return;
  const soldOut = !(stock > 0);
  item.classList.toggle("room-product--sold-out", soldOut);
  const line = item.querySelector("[data-stock]");
  if (line) {
    line.classList.toggle("stock--low", isLow(stock));
    if (soldOut) {
      const badge = document.createElement("span");
      badge.className = "badge badge--muted";
      badge.textContent = T.sold_out;
      line.replaceChildren(badge);
    } else {
      line.textContent = stockText(stock);
    }
  }
  const form = item.querySelector("form[data-cart-form]");
  if (form) form.hidden = soldOut;
}

function renderPresence() {
  if (!el.presenceList) return;
  el.presenceList.replaceChildren(
    ...[...state.presence.values()].map((user) => {
      const item = document.createElement("li");
      item.textContent = nameOf(user);
      return item;
    }),
  );
  el.presenceEmpty.hidden = state.presence.size > 0;
}

function hostNotice(text) {
  if (!el.hostNotice) return;
  el.hostNotice.textContent = text;
  el.hostNotice.hidden = false;
}

let errorTimer = null;
function showChatError(text, { sticky = false } = {}) {
  el.chatError.textContent = text;
  el.chatError.hidden = false;
  clearTimeout(errorTimer);
  if (!sticky) errorTimer = setTimeout(hideChatError, ERROR_SHOWN_MS);
}

function hideChatError() {
  if (state.banned) return;
  el.chatError.hidden = true;
  el.chatError.textContent = "";
}

// --- chat ------------------------------------------------------------------------------

function nearBottom() {
  const log = el.chatLog;
  return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
}

function scrollToBottom() {
  el.chatLog.scrollTop = el.chatLog.scrollHeight;
  setUnread(0);
}

/** The "N new messages" pill: shown while the reader is scrolled up and lines arrived. */
function setUnread(count) {
  state.unread = count;
  if (!el.chatNew) return;
  el.chatNew.hidden = count === 0;
  if (count) el.chatNew.textContent = plural("new_messages", count);
}

function chatPlaceholder() {
  const note = document.createElement("p");
  note.className = "chat__placeholder muted";
  note.textContent = T.chat_empty;
  return note;
}

function replaceChat(messages) {
  // After a reconnect the server's recent history is the truth: messages deleted while we
  // were away disappear, and ones we saw twice (before and after) appear once.
  // aria-busy: screen readers should not read fifty old messages out as new ones.
  // A reader who had scrolled up keeps their place; lines they had not seen count as new.
  const stick = nearBottom();
  const top = el.chatLog.scrollTop;
  const seen = new Set(state.messages.keys());
  el.chatLog.setAttribute("aria-busy", "true");
  state.messages.clear();
  el.chatLog.replaceChildren();
  for (const message of messages) appendMessage(message, { scroll: false });
  if (!state.messages.size) el.chatLog.append(chatPlaceholder());
  if (stick || !seen.size) {
    scrollToBottom();
  } else {
    el.chatLog.scrollTop = top;
    const unseen = [...state.messages.keys()].filter((id) => !seen.has(id)).length;
    setUnread(state.unread + unseen);
  }
  el.chatLog.removeAttribute("aria-busy");
}

function appendMessage(message, { scroll = true } = {}) {
  if (!message?.id || state.messages.has(message.id)) return;
  const stick = nearBottom(); // measured before adding: a reader who scrolled up stays put
  el.chatLog.querySelector(".chat__placeholder")?.remove();
  const item = renderMessage(message);
  state.messages.set(message.id, item);
  el.chatLog.append(item);
  while (state.messages.size > CHAT_KEPT) {
    const [oldest, element] = state.messages.entries().next().value;
    element.remove();
    state.messages.delete(oldest);
  }
  if (!scroll) return;
  if (stick) scrollToBottom();
  else setUnread(state.unread + 1);
}

function renderMessage(message) {
  remember(message.user);
  const fromSeller = sameId(message.user.id, state.sellerId);
  const item = document.createElement("div");
  item.className = fromSeller ? "chat-msg chat-msg--seller" : "chat-msg";
  item.dataset.messageId = message.id;
  item.dataset.userId = String(message.user.id);

  const author = document.createElement("span");
  author.className = "chat-msg__author";
  author.textContent = nameOf(message.user);
  item.append(author);
  if (fromSeller) {
    const tag = document.createElement("span");
    tag.className = "badge badge--seller";
    tag.textContent = T.seller;
    item.append(" ", tag);
  }
  const sentAt = new Date(message.sent_at);
  if (!Number.isNaN(sentAt.getTime())) {
    const time = document.createElement("time");
    time.className = "chat-msg__time";
    time.dateTime = message.sent_at;
    time.textContent = sentAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    item.append(" ", time);
  }
  const text = document.createElement("p");
  text.className = "chat-msg__text";
  text.textContent = message.text;
  item.append(text);

  // Hosts moderate everyone but the seller; nobody can mute or ban themselves.
  if (isHost() && !fromSeller && state.status !== "ended") {
    const name = nameOf(message.user);
    const tools = document.createElement("div");
    tools.className = "chat-msg__tools";
    tools.append(toolButton("delete", T.delete, fill(T.delete_label, { name })));
    if (!sameId(message.user.id, state.you.id)) {
      tools.append(toolButton("mute", T.mute, fill(T.mute_label, { name })));
      tools.append(toolButton("ban", T.ban, fill(T.ban_label, { name })));
    }
    item.append(tools);
  }
  return item;
}

function toolButton(action, text, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "chat-msg__tool";
  button.dataset.action = action;
  button.textContent = text;
  button.setAttribute("aria-label", label);
  return button;
}

// Back at the bottom (by scrolling, or the End key in the focused log): nothing is unread.
el.chatLog.addEventListener("scroll", () => {
  if (state.unread && nearBottom()) setUnread(0);
});
el.chatNew?.addEventListener("click", () => {
  scrollToBottom();
  // The pill goes away under the keyboard's focus: the log (focusable) takes it over.
  el.chatLog.focus({ preventScroll: true });
});

// One listener for every message's buttons, however many messages arrive.
el.chatLog.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  const item = button?.closest(".chat-msg");
  if (!item || state.status === "ended") return;
  const { messageId, userId } = item.dataset;
  const name = knownName(userId);
  if (button.dataset.action === "delete") {
    send({ type: "delete-message", message_id: messageId });
  } else if (button.dataset.action === "mute") {
    send({ type: "mute-user", user_id: userId, minutes: 5 });
  } else if (button.dataset.action === "ban" && window.confirm(fill(T.confirm_ban, { name }))) {
    send({ type: "ban-user", user_id: userId });
  }
});

el.chatForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = el.chatInput.value.trim();
  if (!text) return;
  if (send({ type: "chat-message", text })) {
    state.lastSent = text;
    el.chatInput.value = "";
    scrollToBottom(); // whoever writes wants to see their line and the answers
  }
});

// --- queue and host controls -----------------------------------------------------------

el.queueButton?.addEventListener("click", () => {
  state.admitted = false;
  send({ type: state.inQueue ? "leave-queue" : "join-queue" });
});

el.spotlightForm?.addEventListener("submit", (event) => {
  event.preventDefault();
  if (el.spotlightSelect.value) {
    send({ type: "spotlight-product", product_id: el.spotlightSelect.value });
  }
});
$("spotlight-clear")?.addEventListener("click", () => {
  send({ type: "spotlight-product", product_id: null });
});
el.slowModeSelect?.addEventListener("change", () => {
  send({ type: "slow-mode", seconds: Number(el.slowModeSelect.value) });
});
$("queue-admit")?.addEventListener("click", () => send({ type: "queue-admit-next" }));

// Ending a show cannot be undone: ask first.
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// --- cart ---------------------------------------------------------------------------------

// The spotlight card's and the product list's "Add to cart" forms post over fetch: the
// stream and the chat stay as they are, only the cart badge changes.
enhanceCartForms(root);

// --- what other modules use ---------------------------------------------------------------

/** The room socket for the live video (here) and the studio (studio.js). */
export const room = {
  root,
  strings: T,
  /** Send a frame; false when the socket is not open (nothing is shown then). */
  send: sendFrame,
  /** Run `listener(message)` for each server frame of `type` (after this file's own
   * handling); "socket-close" runs when the socket closes. */
  on(type, listener) {
    if (!listeners.has(type)) listeners.set(type, []);
    listeners.get(type).push(listener);
  },
  get status() {
    return state.status;
  },
  get connected() {
    return state.connected;
  },
};

/** ICE servers for the first connection: the page has them before room-state does. */
export function initialIceServers() {
  const script = document.getElementById("ice-servers");
  try {
    return script ? JSON.parse(script.textContent) : [];
  } catch {
    return [];
  }
}

/** room-state's stream status; a server without live video yet gives none, and the room's
 * own status stands in for it. */
export function streamStatusOf(message) {
  if (message.stream_status) return message.stream_status;
  return { scheduled: "waiting", ended: "ended" }[message.room.status] ?? "live";
}

// --- live video ---------------------------------------------------------------------------

if (el.video) {
  const player = new ViewerPlayer({
    elements: {
      video: el.video,
      overlay: $("video-overlay"),
      overlayTitle: $("video-overlay-title"),
      overlayDetail: $("video-overlay-detail"),
      unmute: $("video-unmute"),
      unmuteLabel: $("video-unmute-label"),
      play: $("video-play"),
    },
    strings: T,
    send: sendFrame,
    iceServers: initialIceServers(),
  });
  room.on("room-state", (message) =>
    player.joined({ iceServers: message.ice_servers, streamStatus: streamStatusOf(message) }),
  );
  room.on("stream-status", (message) => player.setStreamStatus(message.status));
  room.on("room-status", (message) => {
    if (message.status === "ended") player.setStreamStatus("ended");
  });
  room.on("webrtc-answer", (message) => player.handleAnswer(message));
  room.on("error", (message) => player.handleError(message));
  room.on("socket-close", () => player.socketClosed());
  window.addEventListener("pagehide", () => player.suspend());
}

// --- start -------------------------------------------------------------------------------

// Leaving the page closes the socket on purpose; a page restored from the back/forward
// cache needs a fresh one.
window.addEventListener("pagehide", () => {
  state.leaving = true;
  state.socket?.close(1000);
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    state.leaving = false;
    connect();
  }
});

updateControls();
connect();
