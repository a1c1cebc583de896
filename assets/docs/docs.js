// gatehouse API reference: fetches /openapi.json and renders it as plain HTML.
// No framework, no build step, nothing from another origin. Every piece of text is
// inserted as a text node (never as HTML), so the document cannot inject markup.

const SPEC_URL = "/openapi.json";
const METHODS = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];
const MAX_DEPTH = 8;

// ---------------------------------------------------------------------------
// DOM helpers

/** Creates an element: h("p", {class: "x"}, "text", child, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Inline markdown: `code`, **bold**, [text](url). Returns nodes, never HTML. */
function inline(text) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("code", {}, m[1]));
    else if (m[2] !== undefined) out.push(h("strong", {}, m[2]));
    else {
      const href = m[4];
      const safe = href.startsWith("/") || href.startsWith("#") || /^https?:\/\//.test(href);
      out.push(safe ? h("a", { href }, m[3]) : m[3]);
    }
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Block markdown: paragraphs separated by blank lines. */
function prose(text, cls = "prose") {
  const div = h("div", { class: cls });
  if (!text) return div;
  for (const para of String(text).split(/\n\s*\n/)) {
    if (para.trim()) div.append(h("p", {}, inline(para.trim())));
  }
  return div;
}

function slug(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

// ---------------------------------------------------------------------------
// $ref resolution

let SPEC = null;

function lookup(ref) {
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  let node = SPEC;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

/** Follows $ref chains; returns [resolved object, name of the last ref or null]. */
function deref(obj) {
  let name = null;
  const seen = new Set();
  while (obj && typeof obj === "object" && typeof obj.$ref === "string") {
    if (seen.has(obj.$ref)) break;
    seen.add(obj.$ref);
    name = obj.$ref.split("/").pop();
    const target = lookup(obj.$ref);
    if (target === undefined) return [{ description: `Unresolved reference ${obj.$ref}` }, name];
    obj = target;
  }
  return [obj, name];
}

// ---------------------------------------------------------------------------
// Schemas

function typeLabel(schema) {
  const [s, name] = deref(schema);
  if (!s || typeof s !== "object") return "any";
  const one = (t) => (t === "array" ? `array of ${s.items ? typeLabel(s.items) : "any"}` : t);
  let t;
  if (Array.isArray(s.type)) t = s.type.map(one).join(" | ");
  else if (s.type) t = one(s.type);
  else if (s.allOf) t = "object";
  else if (s.oneOf) t = s.oneOf.map(typeLabel).join(" | ");
  else if (s.anyOf) t = s.anyOf.map(typeLabel).join(" | ");
  else t = "any";
  if (s.format) t += ` (${s.format})`;
  if (!name) return t;
  return t === "object" || s.oneOf || s.anyOf ? name : `${name} (${t})`;
}

function constraints(s) {
  const out = [];
  const fmt = (v) => JSON.stringify(v);
  if (s.const !== undefined) out.push(`always ${fmt(s.const)}`);
  if (s.enum) out.push(`one of ${s.enum.map(fmt).join(", ")}`);
  if (s.default !== undefined) out.push(`default ${fmt(s.default)}`);
  if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) out.push(`≤ ${s.maximum}`);
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.exclusiveMaximum !== undefined) out.push(`< ${s.exclusiveMaximum}`);
  if (s.minLength !== undefined && s.maxLength !== undefined) out.push(`${s.minLength}–${s.maxLength} characters`);
  else if (s.minLength !== undefined) out.push(`at least ${s.minLength} character${s.minLength === 1 ? "" : "s"}`);
  else if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} items`);
  if (s.maxItems !== undefined) out.push(`at most ${s.maxItems} items`);
  if (s.pattern) out.push(`pattern ${s.pattern}`);
  if (s.writeOnly) out.push("write-only");
  if (s.readOnly) out.push("read-only");
  return out;
}

/** Merges an allOf into one object schema (properties and required lists). */
function merged(s, depth) {
  const props = {};
  const required = new Set();
  const descriptions = [];
  const visit = (part, d) => {
    const [p] = deref(part);
    if (!p || d > MAX_DEPTH) return;
    if (p.allOf) p.allOf.forEach((x) => visit(x, d + 1));
    Object.assign(props, p.properties || {});
    (p.required || []).forEach((r) => required.add(r));
  };
  visit(s, depth);
  if (s.description) descriptions.push(s.description);
  return { type: "object", properties: props, required: [...required], description: descriptions.join("\n\n") };
}

/** The body of a schema: its properties, items or alternatives, as nested lists. */
function schemaBody(schema, depth = 0, seen = new Set()) {
  const [s0, name] = deref(schema);
  if (!s0 || typeof s0 !== "object") return null;
  if (depth > MAX_DEPTH || (name && seen.has(name))) {
    return h("p", { class: "schema-note" }, name ? `${name} (see above)` : "…");
  }
  const nextSeen = new Set(seen);
  if (name) nextSeen.add(name);
  const s = s0.allOf ? merged(s0, depth) : s0;

  const alternatives = s.oneOf || s.anyOf;
  if (alternatives) {
    const list = h("ol", { class: "alternatives" });
    alternatives.forEach((alt) => {
      const [a, altName] = deref(alt);
      const title = altName || a.title || typeLabel(alt);
      list.append(h("li", {},
        h("span", { class: "alt-title" }, s.oneOf ? "One of: " : "Any of: ", h("code", {}, title)),
        a.description && altName === null ? prose(a.description, "prose small") : null,
        schemaBody(alt, depth + 1, nextSeen)));
    });
    return list;
  }

  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (s.properties && (types.includes("object") || s.type === undefined)) {
    const required = new Set(s.required || []);
    const list = h("ul", { class: "props" });
    for (const [prop, ps] of Object.entries(s.properties)) list.append(property(prop, ps, required.has(prop), depth, nextSeen));
    return list;
  }
  if (types.includes("array") && s.items) {
    const [items] = deref(s.items);
    if (items && (items.properties || items.allOf || items.oneOf || items.anyOf)) {
      return h("div", { class: "items" },
        h("p", { class: "schema-note" }, "Each item:"),
        schemaBody(s.items, depth + 1, nextSeen));
    }
  }
  return null;
}

function property(prop, schema, required, depth, seen) {
  const [s] = deref(schema);
  const cons = constraints(s || {});
  const desc = (schema && schema.description) || (s && s.description);
  return h("li", { class: "prop" },
    h("div", { class: "prop-head" },
      h("code", { class: "prop-name" }, prop),
      h("span", { class: "prop-type" }, typeLabel(schema)),
      required ? h("span", { class: "badge required" }, "required") : h("span", { class: "badge optional" }, "optional")),
    cons.length ? h("p", { class: "constraints" }, cons.join(" · ")) : null,
    desc ? prose(desc, "prose small") : null,
    schemaBody(schema, depth + 1, seen));
}

/** A schema with its type line, description and structure. */
function schemaView(schema, { showDescription = true } = {}) {
  const [s, name] = deref(schema);
  const wrap = h("div", { class: "schema" });
  const head = h("p", { class: "schema-type" }, "Schema: ", h("code", {}, typeLabel(schema)));
  wrap.append(head);
  const cons = constraints(s || {});
  if (cons.length) wrap.append(h("p", { class: "constraints" }, cons.join(" · ")));
  if (showDescription && s && s.description && name) wrap.append(prose(s.description, "prose small"));
  const body = schemaBody(schema);
  if (body) wrap.append(body);
  return wrap;
}

/** An example as text: JSON, or `a=b&c=d` for a form body. */
function exampleText(value, type) {
  if (typeof value === "string") return value;
  if (type === "application/x-www-form-urlencoded" && value && typeof value === "object" && !Array.isArray(value)) {
    return new URLSearchParams(Object.entries(value).map(([k, v]) => [k, String(v)])).toString();
  }
  return JSON.stringify(value, null, 2);
}

function exampleView(media, type) {
  const blocks = [];
  if (media.example !== undefined) blocks.push(["Example", media.example]);
  for (const [key, ex0] of Object.entries(media.examples || {})) {
    const [ex] = deref(ex0);
    if (ex && ex.value !== undefined) blocks.push([`Example: ${ex.summary || key}`, ex.value]);
  }
  return blocks.map(([label, value]) =>
    h("figure", { class: "example" },
      h("figcaption", {}, label),
      h("pre", { tabindex: "0" }, h("code", {}, exampleText(value, type)))));
}

function contentView(content) {
  return Object.entries(content || {}).map(([type, media0]) => {
    const [media] = deref(media0);
    return h("div", { class: "media" },
      h("p", { class: "media-type" }, h("span", { class: "label" }, "Content type "), h("code", {}, type)),
      media.schema ? schemaView(media.schema) : null,
      exampleView(media, type));
  });
}

// ---------------------------------------------------------------------------
// Operations

function securityView(op) {
  const schemes = (SPEC.components && SPEC.components.securitySchemes) || {};
  const reqs = op.security !== undefined ? op.security : SPEC.security || [];
  const box = h("div", { class: "security" });
  box.append(h("h4", {}, "Authorization"));
  if (!reqs.length || reqs.every((r) => Object.keys(r).length === 0)) {
    box.append(h("p", {}, "No credential needed."));
  } else {
    const list = h("ul", { class: "security-list" });
    reqs.forEach((req) => {
      const names = Object.keys(req);
      if (!names.length) {
        list.append(h("li", {}, "No credential (anonymous)"));
        return;
      }
      list.append(h("li", {}, names.map((n, i) => {
        const sch = schemes[n] || {};
        const how = sch.type === "oauth2" ? "Authorization: Bearer token"
          : sch.type === "apiKey" ? `${sch.name} ${sch.in}`
          : sch.type === "http" ? `HTTP ${sch.scheme}` : sch.type || "";
        const scopes = req[n] || [];
        return [i ? " and " : "",
          h("a", { href: `#scheme-${slug(n)}` }, n),
          how ? h("span", { class: "muted" }, ` (${how})`) : null,
          scopes.length ? [" with scope ", scopes.map((sc, j) => [j ? ", " : "", h("code", {}, sc)])] : null];
      })));
    });
    box.append(h("p", { class: "small" }, reqs.length > 1 ? "Any one of:" : "Requires:"), list);
  }
  const x = op["x-gatehouse-access"];
  if (x && (x.rule || x.scope)) {
    const facts = h("dl", { class: "facts" });
    if (x.rule) facts.append(h("dt", {}, "Caller must have"), h("dd", {}, h("code", {}, x.rule)));
    if (x.scope) facts.append(h("dt", {}, "Credential must carry"), h("dd", {}, h("code", {}, x.scope)));
    box.append(facts);
  }
  return box;
}

function parametersView(params) {
  if (!params.length) return null;
  const rows = params.map((p0) => {
    const [p] = deref(p0);
    const [s] = deref(p.schema || {});
    const cons = constraints(s || {});
    return h("tr", {},
      h("th", { scope: "row" }, h("code", {}, p.name)),
      h("td", {}, p.in),
      h("td", {}, p.required ? h("span", { class: "badge required" }, "required") : h("span", { class: "badge optional" }, "optional")),
      h("td", {}, h("code", {}, p.schema ? typeLabel(p.schema) : "string"),
        cons.length ? h("div", { class: "constraints" }, cons.join(" · ")) : null),
      h("td", {}, p.description ? prose(p.description, "prose small") : null,
        p.example !== undefined ? h("p", { class: "small" }, "Example: ", h("code", {}, String(p.example))) : null));
  });
  return h("div", { class: "block" },
    h("h4", {}, "Parameters"),
    h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": "Parameters" },
      h("table", { class: "params" },
        h("thead", {}, h("tr", {}, ["Name", "In", "", "Type", "Description"].map((t) => h("th", { scope: "col" }, t || h("span", { class: "visually-hidden" }, "Required"))))),
        h("tbody", {}, rows))));
}

function requestBodyView(body0) {
  if (!body0) return null;
  const [body] = deref(body0);
  return h("div", { class: "block" },
    h("h4", {}, "Request body ", body.required ? h("span", { class: "badge required" }, "required") : h("span", { class: "badge optional" }, "optional")),
    body.description ? prose(body.description, "prose small") : null,
    contentView(body.content));
}

function statusClass(code) {
  const c = String(code)[0];
  return c === "2" ? "ok" : c === "3" ? "redirect" : c === "4" ? "client" : c === "5" ? "server" : "other";
}

function responsesView(responses) {
  const list = h("div", { class: "responses" });
  for (const [code, r0] of Object.entries(responses || {})) {
    const [r] = deref(r0);
    const headers = Object.entries(r.headers || {});
    const hasMore = headers.length || (r.content && Object.keys(r.content).length);
    const head = [h("span", { class: `http-status http-status-${statusClass(code)}` }, code), " ", inline(r.description || "")];
    if (!hasMore) {
      list.append(h("div", { class: "response" }, h("p", { class: "response-line" }, head)));
      continue;
    }
    list.append(h("details", { class: "response" },
      h("summary", {}, head),
      headers.length ? h("div", { class: "headers" },
        h("p", { class: "label" }, "Headers"),
        h("ul", { class: "props" }, headers.map(([name, hd0]) => {
          const [hd] = deref(hd0);
          return h("li", { class: "prop" },
            h("div", { class: "prop-head" }, h("code", { class: "prop-name" }, name), hd.schema ? h("span", { class: "prop-type" }, typeLabel(hd.schema)) : null),
            hd.description ? prose(hd.description, "prose small") : null);
        }))) : null,
      contentView(r.content)));
  }
  return h("div", { class: "block" }, h("h4", {}, "Responses"), list);
}

/** A path with line-break opportunities after each "/" (for narrow screens). */
function pathWithBreaks(path) {
  return path.split("/").flatMap((seg, i) => (i === 0 ? [seg] : [document.createElement("wbr"), "/" + seg]));
}

function operationView(path, method, op, pathItem) {
  const id = `op-${slug(op.operationId || `${method}-${path}`)}`;
  const params = [...(pathItem.parameters || []), ...(op.parameters || [])];
  const x = op["x-gatehouse-access"] || {};
  const details = h("details", { class: "op", id });
  details.dataset.search = [method, path, op.summary, op.operationId, (op.tags || []).join(" "), x.rule, x.scope, x.credential]
    .filter(Boolean).join(" ").toLowerCase();
  details.append(
    h("summary", {},
      h("h3", { class: "op-title" },
        h("span", { class: `method method-${method}` }, method.toUpperCase()),
        h("code", { class: "path" }, pathWithBreaks(path)),
        h("span", { class: "op-summary" }, op.summary || "")),
      op.deprecated ? h("span", { class: "badge deprecated" }, "deprecated") : null),
    h("div", { class: "op-body" },
      h("p", { class: "permalink" }, h("a", { href: `#${id}` }, "Link to this endpoint"),
        op.operationId ? [" · operationId ", h("code", {}, op.operationId)] : null),
      prose(op.description),
      securityView(op),
      parametersView(params),
      requestBodyView(op.requestBody),
      responsesView(op.responses)));
  return details;
}

// ---------------------------------------------------------------------------
// Page sections

function overview() {
  const info = SPEC.info || {};
  const body = document.getElementById("overview-body");
  if (info.summary) body.append(h("p", { class: "lead" }, inline(info.summary)));
  body.append(prose(info.description));
  const servers = (SPEC.servers || []).map((s) => s.url);
  if (servers.length) body.append(h("p", { class: "small" }, "Base URL: ", servers.map((u, i) => [i ? ", " : "", h("code", {}, u)])));
  document.getElementById("overview").hidden = false;
}

function authSection() {
  const schemes = (SPEC.components && SPEC.components.securitySchemes) || {};
  const body = document.getElementById("auth-body");
  for (const [name, s] of Object.entries(schemes)) {
    const sec = h("section", { class: "scheme", id: `scheme-${slug(name)}`, "aria-labelledby": `scheme-${slug(name)}-title` },
      h("h3", { id: `scheme-${slug(name)}-title` }, name),
      h("p", { class: "small" }, h("span", { class: "label" }, "Type "), h("code", {}, s.type),
        s.in ? [" · in ", h("code", {}, s.in), " · name ", h("code", {}, s.name)] : null,
        s.scheme ? [" · scheme ", h("code", {}, s.scheme)] : null),
      s.description ? prose(s.description, "prose small") : null);
    for (const [flowName, flow] of Object.entries(s.flows || {})) {
      sec.append(h("p", { class: "small" }, `Flow `, h("code", {}, flowName),
        flow.tokenUrl ? [" · token URL ", h("code", {}, flow.tokenUrl)] : null,
        flow.refreshUrl ? [" · refresh URL ", h("code", {}, flow.refreshUrl)] : null));
      const scopes = Object.entries(flow.scopes || {});
      if (scopes.length) {
        sec.append(h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": `${name} scopes` },
          h("table", { class: "scopes" },
            h("caption", {}, "Scopes"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Scope"), h("th", { scope: "col" }, "Meaning"))),
            h("tbody", {}, scopes.map(([sc, d]) => h("tr", {}, h("th", { scope: "row" }, h("code", {}, sc)), h("td", {}, d)))))));
      }
    }
    body.append(sec);
  }
  document.getElementById("auth").hidden = !Object.keys(schemes).length;
}

function schemasSection() {
  const schemas = (SPEC.components && SPEC.components.schemas) || {};
  const body = document.getElementById("schemas-body");
  for (const [name, s] of Object.entries(schemas)) {
    body.append(h("details", { class: "schema-entry", id: `schema-${slug(name)}` },
      h("summary", {}, h("h3", { class: "schema-name" }, h("code", {}, name)), " ", h("span", { class: "muted" }, typeLabel(s))),
      s.description ? prose(s.description, "prose small") : null,
      schemaView({ $ref: `#/components/schemas/${name}` }, { showDescription: false })));
  }
  document.getElementById("schemas").hidden = !Object.keys(schemas).length;
}

function endpoints() {
  const root = document.getElementById("endpoints");
  const toc = document.getElementById("toc");
  const tagInfo = new Map((SPEC.tags || []).map((t) => [t.name, t]));
  const groups = new Map([...tagInfo.keys()].map((t) => [t, []]));
  let total = 0;
  for (const [path, item0] of Object.entries(SPEC.paths || {})) {
    const [item] = deref(item0);
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operationView(path, method, op, item));
      total += 1;
    }
  }
  const tocList = h("ul", {});
  for (const [tag, ops] of groups) {
    if (!ops.length) continue;
    const id = `tag-${slug(tag)}`;
    const info = tagInfo.get(tag) || {};
    const section = h("section", { class: "tag", id, "aria-labelledby": `${id}-title` },
      h("h2", { id: `${id}-title` }, tag, " ", h("span", { class: "count" }, `(${ops.length})`)),
      info.description ? prose(info.description, "prose tag-description") : null,
      ops);
    root.append(section);
    tocList.append(h("li", {}, h("a", { href: `#${id}` }, tag), " ", h("span", { class: "count" }, String(ops.length))));
  }
  tocList.append(h("li", { class: "toc-extra" }, h("a", { href: "#auth" }, "Authentication")));
  tocList.append(h("li", { class: "toc-extra" }, h("a", { href: "#schemas" }, "Schemas")));
  toc.append(tocList);
  return total;
}

// ---------------------------------------------------------------------------
// Filtering, expanding, deep links

function setupControls(total) {
  const input = document.getElementById("filter");
  const count = document.getElementById("filter-count");
  const ops = [...document.querySelectorAll("details.op")];
  // While filtering, the overview, authentication and schema sections step aside so
  // that the matching endpoints come first.
  const asides = ["overview", "auth", "schemas"].map((id) => document.getElementById(id)).filter((el) => !el.hidden);
  const apply = () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const op of ops) {
      const hit = words.every((w) => op.dataset.search.includes(w));
      op.hidden = !hit;
      if (hit) shown += 1;
    }
    for (const section of document.querySelectorAll("section.tag")) {
      section.hidden = !section.querySelector("details.op:not([hidden])");
    }
    for (const el of asides) el.hidden = words.length > 0;
    count.textContent = words.length ? `${shown} of ${total} endpoints match.` : `${total} endpoints.`;
  };
  input.addEventListener("input", apply);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && input.value) {
      input.value = "";
      apply();
    }
  });
  document.getElementById("expand-all").addEventListener("click", () => ops.forEach((o) => { if (!o.hidden) o.open = true; }));
  document.getElementById("collapse-all").addEventListener("click", () => ops.forEach((o) => { o.open = false; }));
  for (const el of [input, document.getElementById("expand-all"), document.getElementById("collapse-all")]) el.disabled = false;
  // /docs?filter=words starts filtered (a link to, say, every admin endpoint).
  const initial = new URLSearchParams(location.search).get("filter");
  if (initial) input.value = initial;
  apply();
}

function openFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  const target = document.getElementById(id);
  if (!target) return;
  let el = target;
  while (el) {
    if (el.tagName === "DETAILS") el.open = true;
    el = el.parentElement;
  }
  target.scrollIntoView();
}

// ---------------------------------------------------------------------------

function showError(message) {
  const status = document.getElementById("status");
  status.setAttribute("role", "alert");
  status.replaceChildren(
    h("p", { class: "error" }, "The API description could not be loaded: ", message, "."),
    h("p", {}, "The raw document is at ", h("a", { href: SPEC_URL }, SPEC_URL), "; reload the page to try again."));
  document.getElementById("doc-meta").replaceChildren("Not loaded.");
  document.querySelector(".toolbar").hidden = true;
}

async function main() {
  let spec;
  try {
    const resp = await fetch(SPEC_URL, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!resp.ok) throw new Error(`${SPEC_URL} answered HTTP ${resp.status}`);
    spec = await resp.json();
  } catch (e) {
    showError(e instanceof Error ? e.message : String(e));
    return;
  }
  if (!spec || typeof spec !== "object" || typeof spec.paths !== "object") {
    showError("the response is not an OpenAPI document");
    return;
  }
  SPEC = spec;
  try {
    const info = spec.info || {};
    document.title = `${info.title || "API"} ${info.version || ""} reference`.replace(/\s+/g, " ");
    document.getElementById("doc-meta").replaceChildren(
      `Version ${info.version || "?"} · OpenAPI ${spec.openapi || "?"} · `,
      h("a", { href: SPEC_URL }, "raw document"));
    overview();
    authSection();
    const total = endpoints();
    schemasSection();
    document.getElementById("status").replaceChildren();
    document.getElementById("status").hidden = true;
    setupControls(total);
    openFromHash();
    window.addEventListener("hashchange", openFromHash);
  } catch (e) {
    showError(`rendering failed (${e instanceof Error ? e.message : String(e)})`);
  }
}

main();
