// Live countdowns for upcoming shows: every `<time data-countdown>` whose show starts within
// a day ticks down each second ("Starts in 1:05:09"). Further away, the server's wording
// ("in 3 days") is clearer than a ticking clock, so it is left alone. Once the start time has
// passed, the element says the show is about to start: the seller may go live a bit late.
//
// The words come translated from the template (data-countdown-label with a {time}
// placeholder, data-countdown-soon), so this file holds no user-facing text.

const DAY_MS = 24 * 60 * 60 * 1000;

const two = (n) => String(n).padStart(2, "0");

function clock(ms) {
  const total = Math.ceil(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${minutes}:${two(seconds)}`;
}

function tick(elements) {
  const now = Date.now();
  for (const element of elements) {
    const left = Date.parse(element.dataset.countdown) - now;
    if (Number.isNaN(left) || left > DAY_MS) continue;
    element.textContent =
      left > 0
        ? element.dataset.countdownLabel.replace("{time}", clock(left))
        : element.dataset.countdownSoon;
  }
}

const elements = [...document.querySelectorAll("[data-countdown]")];
if (elements.length) {
  tick(elements);
  setInterval(() => tick(elements), 1000);
}
