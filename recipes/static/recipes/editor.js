// The recipe manifest editor: CodeMirror 6 over the form's textarea, with two linters.
//
// - JSON syntax (lang-json's parser), and the manifest schema fetched from
//   /api/v1/schema/recipe-manifest, checked here in the browser (@cfworker/json-schema
//   interprets the schema: no eval, so the strict CSP's script-src 'self' holds). Each
//   problem is a lint diagnostic on the value it names, and a line under the editor with
//   its JSON Pointer.
// - When the browser finds nothing, the server's dry run (POST .../check, which writes
//   nothing) says which version it would make, or what else it refuses.
//
// This file is the source: `make setup` bundles it with the npm packages into
// build/static/recipes/editor.bundle.js (npm run build), which STATICFILES_DIRS serves.
// Without JavaScript the textarea is the editor and the server lists the errors on saving.
//
// CSP: CodeMirror's themes are <style> elements (style-mod); they carry the page's
// nonce (EditorView.cspNonce), read from this script's own nonce attribute. Inline
// geometry is set through the CSSOM (element.style), which style-src does not restrict.

import { Validator } from "@cfworker/json-schema";
import { json, jsonParseLinter } from "@codemirror/lang-json";
import { ensureSyntaxTree, syntaxTree } from "@codemirror/language";
import { forceLinting, linter, lintGutter } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { basicSetup, EditorView } from "codemirror";

const NONCE = (document.currentScript && document.currentScript.nonce) || "";

// Keywords that only say "something below me failed": the error below says what.
const WRAPPERS = new Set([
  "properties",
  "additionalProperties",
  "patternProperties",
  "unevaluatedProperties",
  "items",
  "prefixItems",
  "allOf",
  "$ref",
  "$dynamicRef",
  "if",
  "then",
  "else",
]);

const theme = EditorView.theme({
  "&": { border: "1px solid #c8ccd4", borderRadius: "6px", fontSize: "0.9rem" },
  "&.cm-focused": { outline: "2px solid #2f6fde" },
  ".cm-scroller": { minHeight: "18rem", maxHeight: "36rem", overflow: "auto" },
});

// A JSON Pointer ("/a/0/b", or "#/a/0/b" as the validator writes it) as its segments.
export function pointerSegments(pointer) {
  let text = pointer.startsWith("#") ? pointer.slice(1) : pointer;
  if (!text) return [];
  try {
    text = decodeURIComponent(text);
  } catch (error) {
    // Not percent-encoded: the pointer as it is.
  }
  return text
    .slice(1)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function valueOf(property) {
  // Property: PropertyName ":" value
  return property.lastChild && property.lastChild.name !== ":" ? property.lastChild : null;
}

function childValues(node) {
  const values = [];
  for (let child = node.firstChild; child; child = child.nextSibling) {
    if (!["[", "]", ",", "⚠"].includes(child.name)) values.push(child);
  }
  return values;
}

function findProperty(state, object, key) {
  for (let child = object.firstChild; child; child = child.nextSibling) {
    if (child.name !== "Property") continue;
    const name = child.getChild("PropertyName");
    if (!name) continue;
    let text = state.sliceDoc(name.from, name.to);
    try {
      text = JSON.parse(text);
    } catch (error) {
      continue;
    }
    if (text === key) return child;
  }
  return null;
}

// The text range a JSON Pointer names: the value (the key, for an object or array that
// is a property's value), or the nearest ancestor that exists.
export function locate(state, pointer) {
  const tree = ensureSyntaxTree(state, state.doc.length, 500) || syntaxTree(state);
  let node = tree.topNode.firstChild;
  let key = null;
  if (!node) return { from: 0, to: Math.min(1, state.doc.length) };
  for (const segment of pointerSegments(pointer)) {
    let next = null;
    let nextKey = null;
    if (node.name === "Object") {
      const property = findProperty(state, node, segment);
      if (property) {
        next = valueOf(property);
        nextKey = property.getChild("PropertyName");
      }
    } else if (node.name === "Array" && /^\d+$/.test(segment)) {
      next = childValues(node)[Number(segment)] || null;
    }
    if (!next) break;
    node = next;
    key = nextKey;
  }
  if (node.name === "Object" || node.name === "Array") {
    return key ? { from: key.from, to: key.to } : { from: node.from, to: node.from + 1 };
  }
  return { from: node.from, to: node.to };
}

function humane(error) {
  if (error.keyword === "false") {
    const segments = pointerSegments(error.instanceLocation);
    return `"${segments[segments.length - 1]}" is not a setting here.`;
  }
  return error.error.replace(/^Instance /, "The value ");
}

// The validator's errors, leaves only, one per pointer and message.
export function schemaProblems(validator, doc) {
  const errors = validator.validate(doc).errors;
  const seen = new Set();
  const problems = [];
  for (const error of errors) {
    if (WRAPPERS.has(error.keyword)) continue;
    const path = error.instanceLocation.replace(/^#/, "") || "/";
    const message = humane(error);
    if (seen.has(path + message)) continue;
    seen.add(path + message);
    problems.push({ path, message });
  }
  return problems;
}

function csrfToken(form) {
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

class ManifestEditor {
  constructor(textarea) {
    this.textarea = textarea;
    this.form = textarea.form;
    this.list = this.form.querySelector("[data-manifest-errors]");
    this.status = this.form.querySelector("[data-manifest-status]");
    this.validator = null;
    this.loadSchema(textarea.getAttribute("data-schema-url"));
    this.view = this.mount();
    this.form.addEventListener("submit", () => {
      this.textarea.value = this.view.state.doc.toString();
    });
    this.formatButton();
  }

  mount() {
    const parse = jsonParseLinter();
    const label = this.form.querySelector(`label[for="${this.textarea.id}"]`);
    const view = new EditorView({
      state: EditorState.create({
        doc: this.textarea.value,
        extensions: [
          basicSetup,
          json(),
          theme,
          lintGutter(),
          linter((v) => this.lint(v, parse), { delay: 400 }),
          EditorView.cspNonce.of(NONCE),
          EditorView.contentAttributes.of({
            "aria-label": label ? label.textContent.trim() : "Manifest (JSON)",
            "data-manifest-code": "",
          }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) this.textarea.value = update.state.doc.toString();
          }),
        ],
      }),
    });
    this.textarea.after(view.dom);
    this.textarea.hidden = true;
    if (label) label.addEventListener("click", () => view.focus());
    return view;
  }

  loadSchema(url) {
    if (!url) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((schema) => {
        this.validator = new Validator(schema, "2020-12", false);
        if (this.view) forceLinting(this.view);
      })
      .catch(() => this.say("The schema could not be loaded: the server checks on saving.", ""));
  }

  async lint(view, parse) {
    this.version = null;
    const syntax = parse(view);
    if (syntax.length) {
      this.show(syntax.map((d) => ({ path: "(JSON)", message: d.message })));
      return syntax;
    }
    const text = view.state.doc.toString();
    if (!this.validator || !text.trim()) return [];
    const problems = schemaProblems(this.validator, JSON.parse(text));
    if (!problems.length) {
      problems.push(...(await this.serverCheck(JSON.parse(text))));
    }
    this.show(problems);
    if (view.state.doc.toString() !== text) return [];
    return problems.map((problem) => ({
      ...locate(view.state, problem.path),
      severity: "error",
      source: "manifest schema",
      message: `${problem.path}: ${problem.message}`,
    }));
  }

  async serverCheck(manifest) {
    const url = this.textarea.getAttribute("data-check-url");
    if (!url) return [];
    const base = this.form.querySelector("input[name=base_version]");
    let body;
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(this.form) },
        body: JSON.stringify({ manifest, base_version: base ? base.value : "" }),
      });
      body = await response.json();
    } catch (error) {
      this.say("Valid against the schema; the server could not be reached to check.", "");
      return [];
    }
    if (body.valid) {
      this.version = body.version;
      return [];
    }
    const errors = body.errors && Object.keys(body.errors).length ? body.errors : { "/": [body.message] };
    return Object.keys(errors)
      .sort()
      .flatMap((path) => errors[path].map((message) => ({ path, message })));
  }

  say(text, kind) {
    this.status.textContent = text;
    this.status.className = kind;
  }

  show(problems) {
    this.list.textContent = "";
    for (const { path, message } of problems) {
      const item = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = path;
      item.append(code, ` ${message}`);
      this.list.append(item);
    }
    if (problems.length) {
      this.say(`${problems.length} problem${problems.length === 1 ? "" : "s"}:`, "bad");
    } else {
      this.say(
        this.version ? `Valid: it would be version ${this.version}.` : "Valid against the manifest schema.",
        "good",
      );
    }
  }

  formatButton() {
    const button = this.form.querySelector("[data-manifest-format]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      const text = this.view.state.doc.toString();
      let formatted;
      try {
        formatted = JSON.stringify(JSON.parse(text), null, 2);
      } catch (error) {
        this.show([{ path: "(JSON)", message: error.message }]);
        return;
      }
      this.view.dispatch({ changes: { from: 0, to: text.length, insert: formatted } });
    });
  }
}

function setUp() {
  document.querySelectorAll("textarea[data-manifest-editor]").forEach((textarea) => {
    textarea.manifestEditor = new ManifestEditor(textarea);
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", setUp);
} else {
  setUp();
}
