// Live video over the room socket (the signaling contract is in docs/realtime.md):
// - ViewerPlayer: the room page's <video>, its status overlay and its Unmute button, fed by a
//   receive-only peer connection to the server's forwarding unit;
// - PublisherPeer: the seller's camera and microphone sent to the unit (the studio page);
// - readHealth: outgoing bitrate, packet loss and round trip from getStats().
//
// Both peers follow one routine: offer, wait for the answer (the server puts its ICE
// candidates in it, so only ours trickle), watch the connection, and start over with a new
// offer, with backoff and jitter, when it fails, when no answer comes, or when the socket
// comes back (a new socket has no peer on the server). The room socket itself belongs to
// room.js; these classes only get a `send(frame)` function and the frames it receives.

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
const ANSWER_TIMEOUT_MS = 10000;
const DISCONNECTED_GRACE_MS = 3000; // "disconnected" often heals by itself within a second or two
const CANDIDATE_ERROR_WINDOW_MS = 3000;

// The server forwards VP8 and Opus without re-encoding: offer those first.
const PREFERRED_CODECS = { video: "video/vp8", audio: "audio/opus" };

// Error codes the server answers a webrtc-offer or a candidate with. Some (rate_limited,
// permission_denied, invalid, room_ended) are also chat's: those count as ours only while an
// offer waits for its answer or a candidate was just sent (see SignalingPeer.handleError).
const OWN_ERRORS = new Set([
  "invalid_sdp",
  "no_peer",
  "media_unavailable",
  "unsupported",
  "room_full",
  "publisher_replaced",
]);
const SHARED_ERRORS = new Set(["rate_limited", "permission_denied", "invalid", "room_ended"]);
// Retrying these cannot help.
const FINAL_ERRORS = new Set(["unsupported", "permission_denied", "room_ended", "publisher_replaced"]);
// These come unprompted, whenever the server decides (the room ended; the seller broadcast
// from another tab or device, which now has the stream): they stop the peer at any time.
const UNPROMPTED_ERRORS = new Set(["room_ended", "publisher_replaced"]);
// These may answer a trickled candidate as well as the offer (an mDNS name the server cannot
// use, say). Starting over on them could loop for ever, offer after offer: they are let be,
// and the answer timeout or the connection watch starts over if the peer really is lost.
const CANDIDATE_ERRORS = new Set(["invalid", "no_peer"]);

/** Exponential backoff with jitter: 1 s doubling to 30 s, a random half of it added, so a
 * crowd of viewers that lost the server at once does not come back in the same instant. */
export function backoffDelay(attempt, minMs = MIN_RETRY_MS, maxMs = MAX_RETRY_MS) {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/** Put the codec the server forwards first, keeping the others as fallbacks. */
function preferCodec(transceiver, kind, direction) {
  const capabilities =
    direction === "recvonly" ? RTCRtpReceiver.getCapabilities?.(kind) : RTCRtpSender.getCapabilities?.(kind);
  if (!capabilities || typeof transceiver.setCodecPreferences !== "function") return;
  const preferred = PREFERRED_CODECS[kind];
  const codecs = [...capabilities.codecs].sort(
    (a, b) => (b.mimeType.toLowerCase() === preferred) - (a.mimeType.toLowerCase() === preferred),
  );
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {
    // An older browser refusing the list still offers VP8 and Opus, just not first.
  }
}

/** One role's peer connection to the forwarding unit, renegotiated whenever it is lost.
 *
 * Callbacks: onState(state) with "idle" | "connecting" | "connected" | "retrying" |
 * "stopped"; onError(message) with the server's error frame when it concerns this peer. */
class SignalingPeer {
  constructor({ role, send, iceServers = [], onState = () => {}, onError = () => {} }) {
    this.role = role;
    this.send = send;
    this.iceServers = iceServers;
    this.onState = onState;
    this.onError = onError;
    this.pc = null;
    this.wanted = false; // started and not stopped: keep a connection up
    this.attempt = 0;
    this.awaitingAnswer = false;
    this.lastCandidateAt = 0;
    this.timers = { answer: null, retry: null, grace: null };
    this.state = "idle";
  }

  setIceServers(servers) {
    if (Array.isArray(servers)) this.iceServers = servers;
  }

  /** Connect, and keep connecting until stop(). */
  start() {
    this.wanted = true;
    this.attempt = 0;
    return this.negotiate();
  }

  /** Close the connection for good (the show ended, the page is left). */
  stop() {
    this.wanted = false;
    this.closePeer();
    this.setState("stopped");
  }

  /** The room socket closed: the server dropped this socket's peer along with it. Nothing
   * can be signalled until a new socket is open (socketOpened). */
  socketClosed() {
    this.clearTimers();
    this.awaitingAnswer = false;
    if (this.wanted) this.setState("retrying");
  }

  /** A (new) socket is open and has its room-state: offer again if connected before. */
  socketOpened() {
    if (!this.wanted) return;
    this.attempt = 0;
    this.negotiate();
  }

  /** A webrtc-answer frame. */
  async handleAnswer(message) {
    const pc = this.pc;
    if (message.role !== this.role || !pc || pc.signalingState !== "have-local-offer") return;
    this.awaitingAnswer = false;
    clearTimeout(this.timers.answer);
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    } catch (error) {
      console.warn("live video: the answer could not be applied", error);
      if (pc === this.pc) this.retry();
    }
  }

  /** An error frame: true when it answered this peer's offer or candidate (then it is
   * handled here and the chat need not show it). */
  handleError(message) {
    if (!this.wanted) return false; // stopped: nothing of ours is in flight
    const code = message.code;
    const recentCandidate = Date.now() - this.lastCandidateAt < CANDIDATE_ERROR_WINDOW_MS;
    const ours =
      OWN_ERRORS.has(code) || (SHARED_ERRORS.has(code) && (this.awaitingAnswer || recentCandidate));
    if (!ours || !this.pc) return ours;
    if (CANDIDATE_ERRORS.has(code) || (!this.awaitingAnswer && !UNPROMPTED_ERRORS.has(code))) {
      // About a candidate (the answer is in, or may still come): the other candidates and
      // the server's own still connect.
      return true;
    }
    this.awaitingAnswer = false;
    clearTimeout(this.timers.answer);
    if (FINAL_ERRORS.has(code)) {
      this.wanted = false;
      this.closePeer();
      this.setState("stopped");
    } else {
      this.retry();
    }
    this.onError(message);
    return true;
  }

  // --- internals -------------------------------------------------------------------------

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  clearTimers() {
    for (const key of Object.keys(this.timers)) {
      clearTimeout(this.timers[key]);
      this.timers[key] = null;
    }
  }

  closePeer() {
    this.clearTimers();
    this.awaitingAnswer = false;
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      pc.onicecandidate = pc.onconnectionstatechange = pc.ontrack = null;
      pc.close();
    }
  }

  /** Start over with a new offer after a backoff delay. */
  retry() {
    if (!this.wanted) return;
    this.clearTimers();
    this.awaitingAnswer = false;
    this.setState("retrying");
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.timers.retry = setTimeout(() => this.negotiate(), delay);
  }

  async negotiate() {
    if (!this.wanted) return;
    this.closePeer();
    this.setState(this.attempt ? "retrying" : "connecting");
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    let offerSent = false;
    const early = []; // candidates found before the offer went out: they must follow it
    pc.onicecandidate = ({ candidate }) => {
      if (pc !== this.pc) return;
      const frame = {
        type: "webrtc-ice-candidate",
        candidate: candidate
          ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
          : null,
      };
      if (!offerSent) early.push(frame);
      else this.sendCandidate(frame);
    };
    pc.onconnectionstatechange = () => {
      if (pc === this.pc) this.connectionChanged(pc);
    };
    try {
      this.setUp(pc);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
    } catch (error) {
      console.warn("live video: no offer could be made", error);
      if (pc === this.pc) this.retry();
      return;
    }
    if (pc !== this.pc) return; // replaced while the offer was being made
    if (!this.send({ type: "webrtc-offer", role: this.role, sdp: pc.localDescription.sdp })) {
      // No open socket: socketOpened() offers again once room.js has reconnected.
      this.setState("retrying");
      return;
    }
    offerSent = true;
    this.awaitingAnswer = true;
    for (const frame of early) this.sendCandidate(frame);
    this.timers.answer = setTimeout(() => {
      if (pc === this.pc && this.awaitingAnswer) this.retry();
    }, ANSWER_TIMEOUT_MS);
  }

  sendCandidate(frame) {
    this.lastCandidateAt = Date.now();
    this.send(frame);
  }

  connectionChanged(pc) {
    const state = pc.connectionState;
    if (state === "connected") {
      clearTimeout(this.timers.grace);
      this.timers.grace = null;
      this.attempt = 0;
      this.setState("connected");
    } else if (state === "failed" || state === "disconnected") {
      if (this.timers.grace) return;
      this.timers.grace = setTimeout(() => {
        this.timers.grace = null;
        if (pc === this.pc && ["failed", "disconnected"].includes(pc.connectionState)) this.retry();
      }, DISCONNECTED_GRACE_MS);
    }
  }

  /** Add the transceivers (and handlers) of this role. */
  setUp(_pc) {}
}

// --- the viewer ----------------------------------------------------------------------------

/** Receive-only peer: its tracks go into one MediaStream handed to onStream. */
export class ViewerPeer extends SignalingPeer {
  constructor({ onStream = () => {}, ...options }) {
    super({ role: "view", ...options });
    this.onStream = onStream;
  }

  setUp(pc) {
    const stream = new MediaStream();
    for (const kind of ["video", "audio"]) {
      const transceiver = pc.addTransceiver(kind, { direction: "recvonly" });
      preferCodec(transceiver, kind, "recvonly");
    }
    // The server's SDP may name no stream: gather the tracks ourselves.
    pc.ontrack = ({ track }) => {
      if (pc !== this.pc) return;
      if (!stream.getTracks().includes(track)) stream.addTrack(track);
      this.onStream(stream);
    };
  }
}

/** The room page's player: video element, overlay (aria-live) and Unmute button.
 *
 * `elements`: {video, overlay, overlayTitle, overlayDetail, unmute, unmuteLabel, play}; `strings`: the
 * page's translated strings (video_* keys). The stream status comes from room-state and
 * stream-status frames; the player adds its own "the connection is being remade" state. */
export class ViewerPlayer {
  constructor({ elements, strings, send, iceServers = [] }) {
    this.el = elements;
    this.T = strings;
    this.streamStatus = elements.video.closest("[data-stream-status]")?.dataset.streamStatus ?? "waiting";
    this.peerState = "idle";
    this.blocked = false; // autoplay refused: a Play button is shown
    this.playing = false; // pictures are showing (until the stream is replaced)
    this.peer = new ViewerPeer({
      send,
      iceServers,
      onStream: (stream) => this.attach(stream),
      onState: (state) => {
        this.peerState = state;
        this.render();
      },
      onError: (message) => {
        if (message.code === "room_ended") this.setStreamStatus("ended");
        this.render();
      },
    });
    this.el.unmute.addEventListener("click", () => this.toggleSound());
    this.el.play?.addEventListener("click", () => this.play());
    this.el.video.addEventListener("volumechange", () => this.renderSound());
    this.el.video.addEventListener("playing", () => {
      this.blocked = false;
      this.playing = true;
      this.render();
    });
    this.render();
  }

  /** room-state arrived on a (new) socket. */
  joined({ iceServers, streamStatus }) {
    this.peer.setIceServers(iceServers);
    this.setStreamStatus(streamStatus);
    if (this.streamStatus === "ended") return;
    if (this.peer.wanted) this.peer.socketOpened();
    else this.peer.start();
  }

  setStreamStatus(status) {
    if (!status) return;
    this.streamStatus = status;
    this.el.video.closest("[data-stream-status]")?.setAttribute("data-stream-status", status);
    if (status === "ended") {
      this.peer.stop();
      this.el.video.srcObject = null;
      this.playing = false;
    }
    this.render();
  }

  handleAnswer(message) {
    return this.peer.handleAnswer(message);
  }

  handleError(message) {
    return this.peer.handleError(message);
  }

  socketClosed() {
    this.peer.socketClosed();
  }

  /** Leaving the page: close the connection (a page restored from the back/forward cache
   * gets a new room-state, and with it a new offer). */
  suspend() {
    this.peer.stop();
  }

  attach(stream) {
    const video = this.el.video;
    if (video.srcObject !== stream) {
      video.srcObject = stream;
      this.playing = false;
      this.render();
    }
    this.play();
  }

  play() {
    const playing = this.el.video.play();
    // Muted autoplay is allowed everywhere; should a browser still refuse (a data-saver
    // mode, say), the viewer gets a Play button instead of a frozen black box.
    playing?.catch?.((error) => {
      if (error?.name === "NotAllowedError") {
        this.blocked = true;
        this.render();
      }
    });
  }

  toggleSound() {
    const video = this.el.video;
    video.muted = !video.muted;
    if (!video.muted) video.volume = video.volume || 1;
    this.play(); // a click is a user gesture: sound may start now
    this.renderSound();
  }

  overlayState() {
    const status = this.streamStatus;
    if (status === "ended" || status === "waiting" || status === "interrupted") return status;
    if (this.peerState === "stopped") return "unavailable";
    if (this.peerState === "retrying") return "interrupted";
    if (this.blocked) return "play";
    // Live, but no picture yet: say so rather than show a black box.
    if (status === "connecting" || !this.playing) return "connecting";
    return "live";
  }

  render() {
    const state = this.overlayState();
    const { video, overlayTitle, overlayDetail, play, unmute } = this.el;
    // The overlay stays in the page as the aria-live region; in the "live" state the CSS
    // hides it from the eye only, and screen readers hear "The show is live".
    video.parentElement.dataset.videoState = state;
    const title = this.T[`video_${state}`] ?? "";
    if (overlayTitle.textContent !== title) overlayTitle.textContent = title;
    overlayDetail.textContent = this.T[`video_${state}_detail`] ?? "";
    overlayDetail.hidden = !overlayDetail.textContent;
    if (play) play.hidden = state !== "play";
    unmute.hidden = state === "ended" || state === "unavailable";
    this.renderSound();
  }

  renderSound() {
    const muted = this.el.video.muted;
    const label = this.el.unmuteLabel ?? this.el.unmute;
    label.textContent = muted ? this.T.video_unmute : this.T.video_mute;
    this.el.unmute.dataset.muted = String(muted);
  }
}

// --- the publisher -------------------------------------------------------------------------

/** Send-only peer with the seller's camera and microphone. `stream` is the preview's
 * MediaStream; switching a device goes through replaceTrack, without renegotiating. */
export class PublisherPeer extends SignalingPeer {
  constructor({ stream, ...options }) {
    super({ role: "publish", ...options });
    this.stream = stream;
    this.transceivers = {};
  }

  setUp(pc) {
    this.transceivers = {};
    for (const kind of ["video", "audio"]) {
      const track = this.stream.getTracks().find((candidate) => candidate.kind === kind);
      // A missing microphone still gets its line, so the offer has the shape the server
      // expects; nothing is sent on it.
      const transceiver = pc.addTransceiver(track ?? kind, {
        direction: "sendonly",
        streams: [this.stream],
      });
      preferCodec(transceiver, kind, "sendonly");
      this.transceivers[kind] = transceiver;
    }
  }

  /** Swap the camera or microphone on the live connection (no new offer needed). */
  async replaceTrack(kind, track) {
    const sender = this.transceivers[kind]?.sender;
    if (this.pc && sender) await sender.replaceTrack(track);
  }
}

/** Stream health from a getStats() report. `previous` is the last result (for the
 * bitrate, which is a difference over time). Values are null when not (yet) known. */
export function readHealth(report, previous = null) {
  let bytesSent = 0;
  let timestamp = 0;
  let outbound = 0;
  let packetsLost = null;
  let fractionLost = null;
  let rtt = null;
  let selectedPair = null;
  const pairs = new Map();
  report.forEach((stat) => {
    if (stat.type === "outbound-rtp") {
      outbound += 1;
      bytesSent += stat.bytesSent ?? 0;
      timestamp = Math.max(timestamp, stat.timestamp ?? 0);
    } else if (stat.type === "remote-inbound-rtp") {
      if (typeof stat.packetsLost === "number") packetsLost = (packetsLost ?? 0) + stat.packetsLost;
      if (typeof stat.fractionLost === "number") {
        // The worse of audio and video is the one the seller has to act on.
        fractionLost = Math.max(fractionLost ?? 0, stat.fractionLost);
      }
      if (typeof stat.roundTripTime === "number" && (rtt === null || stat.kind === "video")) {
        rtt = stat.roundTripTime;
      }
    } else if (stat.type === "transport" && stat.selectedCandidatePairId) {
      selectedPair = stat.selectedCandidatePairId;
    } else if (stat.type === "candidate-pair") {
      pairs.set(stat.id, stat);
    }
  });
  if (rtt === null) {
    const pair =
      pairs.get(selectedPair) ?? [...pairs.values()].find((p) => p.nominated && p.state === "succeeded");
    if (typeof pair?.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime;
  }
  let kbps = null;
  if (outbound && previous?.timestamp && timestamp > previous.timestamp && bytesSent >= previous.bytesSent) {
    // bits per millisecond are kilobits per second
    kbps = ((bytesSent - previous.bytesSent) * 8) / (timestamp - previous.timestamp);
  }
  return {
    bytesSent,
    timestamp,
    kbps,
    packetsLost,
    lossPercent: fractionLost === null ? null : fractionLost * 100,
    rttMs: rtt === null ? null : rtt * 1000,
  };
}
