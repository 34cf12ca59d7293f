// Reins for any web page: one module script, then the element.
//
//   <script type="module" src="https://reins.example/embed.js"></script>
//   <reins-chat endpoint="https://reins.example/api/chat"></reins-chat>
//
// Attributes: endpoint, placeholder, title, storage-key (read when the
// element is added), token (a bearer token, read before each request).
// Property: getToken, a function the page sets that returns the token (or a
// promise of it); called before each request, so expiring tokens are
// refreshed, and preferred to the attribute. Methods: send(text), stop().
// Events (bubbling, composed): reins-status {status}, reins-finish {text,
// stopped}, reins-error {message}.
// The chat renders in a Shadow DOM with its own styles; theme it with the
// --reins-* custom properties on the element.

const base = new URL('./', import.meta.url);

// Whether this page's origin may use the server; null if so, else why not.
// The server answers a refused origin with a reason the page may read.
let originCheck;
function checkOrigin() {
  originCheck ??= fetch(new URL('api/embed/check', base)).then(
    async (response) => {
      if (response.ok) return null;
      try {
        return (await response.json()).error.message;
      } catch {
        return `The chat server answered with HTTP status ${response.status}.`;
      }
    },
    () => `The chat server at ${base.origin} could not be reached.`,
  );
  return originCheck;
}

// The chat's files, named by their content so they can be cached for good;
// `scripts/build-embed` fills the names in when it writes this file to
// the site root (this file itself is revalidated on every use).
const files = {
  js: '__REINS_EMBED_JS__',
  wasm: '__REINS_EMBED_WASM__',
  css: '__REINS_EMBED_CSS__',
};

// The chat's wasm, loaded once for every element on the page.
let wasm;
function loadWasm() {
  wasm ??= import(new URL(files.js, base).href).then(async (module) => {
    await module.default({ module_or_path: new URL(files.wasm, base) });
    return module;
  });
  return wasm;
}

class ReinsChat extends HTMLElement {
  #chat = null;
  // Counts connections, so a chat mounted after the element left is dropped.
  #connection = 0;

  connectedCallback() {
    const root = this.shadowRoot ?? this.attachShadow({ mode: 'open' });
    const styles = document.createElement('link');
    styles.rel = 'stylesheet';
    styles.href = new URL(files.css, base).href;
    const container = document.createElement('div');
    container.className = 'reins-embed';
    root.replaceChildren(styles, container);
    const connection = ++this.#connection;
    this.#mount(container, connection);
  }

  async #mount(container, connection) {
    const refusal = await checkOrigin();
    if (connection !== this.#connection) return;
    if (refusal) {
      const notice = document.createElement('p');
      notice.className = 'reins-note reins-error reins-refusal';
      notice.setAttribute('role', 'alert');
      notice.textContent = refusal;
      container.append(notice);
      this.dispatchEvent(
        new CustomEvent('reins-error', { detail: { message: refusal }, bubbles: true, composed: true }),
      );
      return;
    }
    const module = await loadWasm();
    if (connection !== this.#connection) return;
    this.#chat = module.mount_chat(
      container,
      this,
      this.getAttribute('endpoint') ?? new URL('api/chat', base).href,
      this.getAttribute('storage-key') ?? 'reins-chat',
      this.getAttribute('placeholder'),
      this.getAttribute('title'),
      () => this.#token(),
    );
  }

  // The token for the next request: the page's getToken, else the attribute.
  async #token() {
    if (typeof this.getToken === 'function') return (await this.getToken()) ?? null;
    return this.getAttribute('token');
  }

  // Removed from the page: unmounting aborts the request, which stops the model.
  disconnectedCallback() {
    this.#connection++;
    this.#chat?.unmount();
    this.#chat?.free();
    this.#chat = null;
  }

  /** Sends `text` as the user's message, unless a reply is in flight. */
  send(text) {
    this.#chat?.send(String(text));
  }

  /** Stops the reply in flight, if any. */
  stop() {
    this.#chat?.stop();
  }
}

if (!customElements.get('reins-chat')) {
  customElements.define('reins-chat', ReinsChat);
}
