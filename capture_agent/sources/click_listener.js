// Vectra's click listener. The browser source evaluates it in an isolated world of every frame — never the page's
// own — and reports each click on a control through a CDP binding that exists only in that world: the page can
// neither see it nor call it, and its own scripts (a patched Element.prototype, JSON, …) cannot reach this code.
// The source calls this function with {binding, selectors, amountSelector}. Nothing here reads an input's value
// except the amount field's, and that only when it is a plain number.
(function vectraClickListener(options) {
  "use strict";
  if (globalThis.__vectraListening) return;  // this world's global: a second evaluation in the same frame is a no-op
  globalThis.__vectraListening = true;

  const BUTTON_LIKE = [
    "button", "[role=button]", "a[href]", "[role=link]", "summary", "input[type=button]", "input[type=submit]",
    "input[type=reset]", "input[type=image]", "[role=menuitem]", "[role=tab]", "[role=option]", "[role=switch]",
    "[role=checkbox]", "[role=radio]",
  ].join(", ");
  const IMPLICIT_ROLES = { button: "button", a: "link", summary: "button", input: "button" };
  const LABEL_INPUTS = new Set(["button", "submit", "reset"]);  // their value is their label, not something typed
  const TEXT_LIMIT = 80;
  const PATH_DEPTH = 24;
  const POINTER_DEPTH = 8;  // a styled clickable <div> rarely wraps the clicked node deeper than this
  const NEAR_LEVELS = 5;  // how far up from the control to look for the amount field
  const AMOUNT_FIELDS = "input[type=number], input[inputmode=decimal]";
  const PLAIN_NUMBER = /^\s*\d{0,15}[.,]?\d{1,15}\s*$/;
  const PRIVATE_FIELD = /otp|pin|code|pass|secret|seed|phrase|mnemonic|key/i;  // never taken for the amount

  const clean = (text) => (text || "").replace(/\s+/g, " ").trim().slice(0, TEXT_LIMIT) || null;

  function cssPath(element) {
    // ids first (React's generated ":r1:" ids change between loads: skipped), then nth-of-type up to the nearest id
    const parts = [];
    for (let node = element; node instanceof Element && parts.length < PATH_DEPTH; node = node.parentElement) {
      if (node.id && !node.id.includes(":")) {
        parts.unshift(`#${CSS.escape(node.id)}`);
        break;
      }
      const tag = node.localName;
      if (tag === "html" || tag === "body") {
        parts.unshift(tag);
        break;
      }
      let index = 1;
      for (let sibling = node.previousElementSibling; sibling; sibling = sibling.previousElementSibling) {
        if (sibling.localName === tag) index += 1;
      }
      parts.unshift(`${tag}:nth-of-type(${index})`);
    }
    return parts.join(" > ");
  }

  function visibleText(element) {
    if (element.isContentEditable) return null;  // typed by the user
    if (element.localName === "input") return LABEL_INPUTS.has(element.type) ? clean(element.value) : null;
    return clean(element.innerText);
  }

  function accessibleName(element) {
    const owner = element.ownerDocument;
    const ids = (element.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean);
    const labelled = clean(ids.map((id) => owner.getElementById(id)?.textContent || "").join(" "));
    if (labelled) return labelled;
    const label = clean(element.getAttribute("aria-label"));
    if (label) return label;
    if (element.localName === "input" && element.type === "image") return clean(element.alt) || clean(element.title);
    const inner = element.querySelector("img[alt], [aria-label], svg title");  // an icon-only button
    const fromIcon = inner && clean(inner.getAttribute("alt") || inner.getAttribute("aria-label") || inner.textContent);
    return visibleText(element) || fromIcon || clean(element.getAttribute("title"));
  }

  function pointerControl(path) {
    // A <div> made clickable with CSS: the outermost element of the cursor:pointer chain the click started in.
    let styled = null;
    for (const node of path.slice(0, POINTER_DEPTH)) {
      if (node.localName === "body" || node.localName === "html") break;
      if (node.hasAttribute("onclick")) return node;
      if (getComputedStyle(node).cursor !== "pointer") break;
      styled = node;
    }
    return styled;
  }

  function control(event) {
    const path = event.composedPath().filter((node) => node instanceof Element);  // through open shadow roots
    if (options.selectors.length) {
      for (const selector of options.selectors) {
        const match = path.find((node) => node.matches(selector));
        if (match) return [match, selector];
      }
      return [null, null];
    }
    return [path.find((node) => node.matches(BUTTON_LIKE)) || pointerControl(path), null];
  }

  function amountField(element) {
    const chosen = options.amountSelector ? document.querySelector(options.amountSelector) : null;
    if (chosen) return chosen;
    for (let node = element.parentElement, level = 0; node && level < NEAR_LEVELS; node = node.parentElement, level += 1) {
      const near = [...node.querySelectorAll(AMOUNT_FIELDS)].find((input) => {
        const about = [input.name, input.id, input.autocomplete, input.placeholder, input.getAttribute("aria-label")];
        return input.type !== "password" && !PRIVATE_FIELD.test(about.join(" "));
      });
      if (near) return near;
    }
    return null;
  }

  window.addEventListener("click", (event) => {
    const ts_ms = performance.timeOrigin + performance.now();  // before anything else: the click's own time
    const report = globalThis[options.binding];
    if (typeof report !== "function") return;  // the capture that installed this has detached
    let detail;
    try {
      const [element, selector] = control(event);
      if (!element) return;
      const field = amountField(element);
      const value = field && typeof field.value === "string" ? field.value : null;
      detail = {
        ts_ms, trusted: event.isTrusted, tag: element.localName,
        role: element.getAttribute("role") || IMPLICIT_ROLES[element.localName] || null,
        name: accessibleName(element), text: visibleText(element), id: element.id || null,
        path: cssPath(element), selector,
        amount: value !== null && PLAIN_NUMBER.test(value) ? value.trim() : null,
        amount_field: field ? cssPath(field) : null,
      };
    } catch (error) {
      detail = { ts_ms, trusted: event.isTrusted, error: String(error).slice(0, 200) };  // kept, never dropped
    }
    report(JSON.stringify(detail));
  }, true);  // capture phase, registered before the page's scripts run: sees the click before the page's handler
})
