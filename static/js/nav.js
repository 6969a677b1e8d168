// The header's "Menu" button on phones (templates/base.html).
//
// Progressive enhancement: the CSS folds the menu only under `html.js`, which this module
// sets, so a page whose scripts fail or are off still shows every link. The button is a
// disclosure (aria-expanded / aria-controls): Enter or Space toggles it, Escape closes the
// menu and puts focus back on the button, a click outside the header closes it too.

document.documentElement.classList.add("js");

const toggle = document.querySelector("[data-nav-toggle]");
const menu = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
const header = toggle?.closest(".site-header");

function isOpen() {
  return toggle.getAttribute("aria-expanded") === "true";
}

function setOpen(open) {
  toggle.setAttribute("aria-expanded", String(open));
  header.classList.toggle("site-header--menu-open", open);
}

if (toggle && menu && header) {
  toggle.addEventListener("click", () => setOpen(!isOpen()));

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    setOpen(false);
    // Only pull focus back when it was in the menu (or on the button): Escape pressed in
    // some other widget on the page must not move the user away from it.
    if (menu.contains(document.activeElement) || document.activeElement === toggle) {
      toggle.focus();
    }
  });

  document.addEventListener("click", (event) => {
    if (isOpen() && !header.contains(event.target)) setOpen(false);
  });

  // Back from the browser's cache (bfcache) the page keeps its last state: start folded.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) setOpen(false);
  });
}
