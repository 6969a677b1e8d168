// The seller's studio: camera and microphone preview with device choice, "Go live" (a
// WebRTC publish over the room socket), stream health, and the stream status. Chat, the
// viewer count and the spotlight controls are room.js's, exactly as on the room page.

import { initialIceServers, room, streamStatusOf } from "./room.js";
import { PublisherPeer, readHealth } from "./live-video.js";

const T = room.strings;
const $ = (id) => document.getElementById(id);
const fill = (text, values = {}) => text.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));

const HEALTH_EVERY_MS = 1000;
const VIDEO_SIZE = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

const el = {
  box: $("studio-video"),
  preview: $("studio-preview"),
  previewMessage: $("preview-message"),
  cameraRetry: $("camera-retry"),
  cameraSelect: $("camera-select"),
  microphoneSelect: $("microphone-select"),
  goLive: $("go-live"),
  publishStatus: $("publish-status"),
  publishError: $("publish-error"),
  streamStatus: $("stream-status"),
  bitrate: $("health-bitrate"),
  loss: $("health-loss"),
  rtt: $("health-rtt"),
};

const state = {
  // One stream for the whole visit: device switches swap tracks inside it, so the publisher
  // keeps sending from the same object.
  stream: new MediaStream(),
  cameraReady: false,
  streamStatus: "waiting",
  ended: false,
  health: null,
  healthPc: null,
};

const track = (kind) => state.stream.getTracks().find((candidate) => candidate.kind === kind);

// --- camera and microphone -----------------------------------------------------------------

function showPreviewMessage(text, { retry = false } = {}) {
  el.previewMessage.textContent = text;
  el.cameraRetry.hidden = !retry;
  el.box.dataset.videoState = text ? "message" : "live";
}

function cameraProblem(error) {
  if (error?.name === "NotAllowedError" || error?.name === "SecurityError") return T.camera_denied;
  if (error?.name === "NotFoundError" || error?.name === "OverconstrainedError") return T.camera_missing;
  return fill(T.camera_failed, { reason: error?.message || error?.name || "?" });
}

async function openCamera() {
  showPreviewMessage(T.camera_asking);
  el.cameraRetry.hidden = true;
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: VIDEO_SIZE, audio: true });
  } catch (error) {
    if (error?.name !== "NotFoundError") {
      showPreviewMessage(cameraProblem(error), { retry: true });
      return;
    }
    try {
      // No microphone is no reason not to show the products.
      media = await navigator.mediaDevices.getUserMedia({ video: VIDEO_SIZE });
    } catch (videoError) {
      showPreviewMessage(cameraProblem(videoError), { retry: true });
      return;
    }
  }
  for (const old of state.stream.getTracks()) {
    state.stream.removeTrack(old);
    old.stop();
  }
  for (const fresh of media.getTracks()) useTrack(fresh);
  state.cameraReady = Boolean(track("video"));
  showPreview();
  await fillDevices();
  updateControls();
}

function useTrack(fresh) {
  state.stream.addTrack(fresh);
  fresh.addEventListener("ended", () => {
    // Unplugged, or taken by the system: say so, the seller picks another.
    if (state.ended || !state.stream.getTracks().includes(fresh)) return;
    showError(fill(T.camera_ended, { kind: fresh.kind === "video" ? T.camera_kind : T.microphone_kind }));
  });
}

function showPreview() {
  // The preview shows the camera only: hearing oneself back would echo.
  const video = track("video");
  el.preview.srcObject = video ? new MediaStream([video]) : null;
  el.preview.play?.().catch(() => {});
  showPreviewMessage(video ? "" : T.camera_missing, { retry: !video });
}

async function fillDevices() {
  let devices = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  fillSelect(el.cameraSelect, devices, "videoinput", "video");
  fillSelect(el.microphoneSelect, devices, "audioinput", "audio");
}

function fillSelect(select, devices, deviceKind, trackKind) {
  const current = track(trackKind)?.getSettings?.().deviceId;
  const options = devices
    .filter((device) => device.kind === deviceKind && device.deviceId)
    .map((device, index) => {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || fill(T.device_default, { n: index + 1 });
      option.selected = device.deviceId === current;
      return option;
    });
  if (!options.length && trackKind === "audio") {
    const none = document.createElement("option");
    none.value = "";
    none.textContent = T.no_microphone;
    options.push(none);
  }
  select.replaceChildren(...options);
  select.disabled = !options.some((option) => option.value);
}

async function switchDevice(kind, deviceId) {
  if (!deviceId) return;
  const constraints =
    kind === "video"
      ? { video: { ...VIDEO_SIZE, deviceId: { exact: deviceId } } }
      : { audio: { deviceId: { exact: deviceId } } };
  const old = track(kind);
  if (old?.getSettings?.().deviceId === deviceId && old.readyState === "live") return;
  let fresh;
  try {
    [fresh] = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks();
  } catch (error) {
    if (!old) {
      showError(cameraProblem(error));
      return;
    }
    // Some cameras open only once: let go of the old one, then try again.
    old.stop();
    try {
      [fresh] = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks();
    } catch (retryError) {
      showError(cameraProblem(retryError));
      return;
    }
  }
  if (old) {
    state.stream.removeTrack(old);
    old.stop();
  }
  useTrack(fresh);
  if (kind === "video") {
    state.cameraReady = true;
    showPreview();
  }
  hideError();
  // On the live connection the new track replaces the old one in place: no new offer,
  // viewers just see the other camera.
  try {
    await publisher.replaceTrack(kind, fresh);
  } catch (error) {
    console.warn("studio: replaceTrack failed, renegotiating", error);
    if (publisher.wanted) publisher.start();
  }
  updateControls();
}

el.cameraSelect.addEventListener("change", () => switchDevice("video", el.cameraSelect.value));
el.microphoneSelect.addEventListener("change", () =>
  switchDevice("audio", el.microphoneSelect.value),
);
el.cameraRetry.addEventListener("click", () => openCamera());
navigator.mediaDevices?.addEventListener?.("devicechange", () => {
  if (state.cameraReady) fillDevices();
});

// --- publishing -----------------------------------------------------------------------------

const publisher = new PublisherPeer({
  stream: state.stream,
  send: room.send,
  iceServers: initialIceServers(),
  onState: (peerState) => {
    if (peerState === "connected") hideError();
    renderPublishStatus();
    updateControls();
  },
  onError: (message) => {
    if (message.code === "unsupported") showError(T.video_not_available);
    else if (message.code === "permission_denied") showError(T.error_permission);
    else if (message.code === "room_ended") setStreamStatus("ended");
    else if (message.code === "publisher_replaced") showError(T.taken_over);
    else showError(fill(T.error_retry, { code: message.code }));
  },
});

// Two studio windows of one show would take the broadcast from each other for ever (each
// new publish offer replaces the other's, which then reconnects): the window that goes live
// tells the others of this browser to stop.
const windows =
  typeof BroadcastChannel === "function"
    ? new BroadcastChannel(`liveshop-studio-${room.root.dataset.roomId}`)
    : null;
windows?.addEventListener("message", (event) => {
  if (event.data?.type !== "going-live" || !publisher.wanted) return;
  publisher.stop();
  showError(T.taken_over);
  renderPublishStatus();
  updateControls();
});

function goLive() {
  if (!state.cameraReady || state.ended) return;
  hideError();
  windows?.postMessage({ type: "going-live" });
  publisher.start();
  renderPublishStatus();
  updateControls();
}

el.goLive.addEventListener("click", goLive);

function renderPublishStatus() {
  const peerState = publisher.state;
  let text;
  if (state.ended) text = T.publish_ended;
  else if (peerState === "idle") text = state.cameraReady ? T.publish_idle : T.publish_stopped;
  else text = T[`publish_${peerState}`] ?? "";
  el.publishStatus.textContent = text;
  el.publishStatus.dataset.state = state.ended ? "ended" : peerState;
}

function updateControls() {
  const publishing = publisher.wanted;
  el.goLive.hidden = state.ended;
  el.goLive.disabled = !state.cameraReady || publishing || state.ended;
}

function setStreamStatus(status) {
  if (!status) return;
  state.streamStatus = status;
  el.streamStatus.textContent = T[`stream_${status}`] ?? status;
  el.streamStatus.dataset.status = status;
  if (status === "ended" && !state.ended) {
    state.ended = true;
    publisher.stop();
    stopCamera();
    showPreviewMessage(T.video_ended);
  }
  renderPublishStatus();
  updateControls();
}

function stopCamera() {
  for (const old of state.stream.getTracks()) {
    state.stream.removeTrack(old);
    old.stop();
  }
  el.preview.srcObject = null;
  state.cameraReady = false;
  el.cameraSelect.disabled = el.microphoneSelect.disabled = true;
}

function showError(text) {
  el.publishError.textContent = text;
  el.publishError.hidden = false;
}

function hideError() {
  el.publishError.hidden = true;
  el.publishError.textContent = "";
}

room.on("room-state", (message) => {
  publisher.setIceServers(message.ice_servers);
  setStreamStatus(streamStatusOf(message));
  // A new socket has no publisher on the server: publish again if we were live.
  if (!state.ended) publisher.socketOpened();
});
room.on("stream-status", (message) => setStreamStatus(message.status));
room.on("room-status", (message) => {
  if (message.status === "ended") setStreamStatus("ended");
});
room.on("webrtc-answer", (message) => publisher.handleAnswer(message));
room.on("error", (message) => publisher.handleError(message));
room.on("socket-close", () => {
  publisher.socketClosed();
  renderPublishStatus();
});

// --- stream health ---------------------------------------------------------------------------

async function sampleHealth() {
  const pc = publisher.pc;
  if (!pc || publisher.state !== "connected") {
    state.health = null;
    state.healthPc = null;
    renderHealth(null);
    return;
  }
  let report;
  try {
    report = await pc.getStats();
  } catch {
    return;
  }
  // Byte counters start again with a new connection: no bitrate across the change.
  const previous = state.healthPc === pc ? state.health : null;
  state.health = readHealth(report, previous);
  state.healthPc = pc;
  renderHealth(state.health);
}

function renderHealth(health) {
  const unknown = T.unknown;
  el.bitrate.textContent =
    health?.kbps != null ? fill(T.kbps, { n: Math.round(health.kbps) }) : unknown;
  el.loss.textContent =
    health?.lossPercent != null
      ? fill(T.loss, { n: health.lossPercent.toFixed(1), lost: health.packetsLost ?? 0 })
      : unknown;
  el.rtt.textContent = health?.rttMs != null ? fill(T.ms, { n: Math.round(health.rttMs) }) : unknown;
  el.bitrate.dataset.kbps = health?.kbps != null ? String(Math.round(health.kbps)) : "";
}

setInterval(sampleHealth, HEALTH_EVERY_MS);

// --- start ---------------------------------------------------------------------------------

// Leaving lets go of the camera (its light goes off) and of the connection; a page restored
// from the back/forward cache asks for the camera again.
window.addEventListener("pagehide", () => {
  publisher.stop();
  stopCamera();
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted && !state.ended) openCamera();
});

renderPublishStatus();
updateControls();
if (navigator.mediaDevices?.getUserMedia) {
  openCamera();
} else {
  // getUserMedia exists only on secure pages (https, or localhost).
  showPreviewMessage(T.camera_insecure, { retry: false });
}
