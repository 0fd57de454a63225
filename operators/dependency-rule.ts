// The dependency rule between operators/ folders, checked over source text: api/ imports only api/,
// runtime/ only runtime/ and api/, and each product only itself, runtime/, api/ and platform's placement API.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

// The one file of another product a product may import: the scheduler's placement contract.
export const PLACEMENT_API = "operators/platform/placement-api.ts";

interface Token {
  kind: "word" | "string" | "punct";
  text: string;
}

// Words after which a `/` starts a regex literal rather than a division.
const beforeRegex = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "instanceof", "yield", "await"]);

function regexAllowed(prev: Token | undefined): boolean {
  if (!prev) return true;
  if (prev.kind === "string") return false;
  if (prev.kind === "word") return beforeRegex.has(prev.text);
  return !/^[)\]}]$/.test(prev.text);
}

// Index just past a '…' or "…" literal starting at i.
function skipQuoted(src: string, i: number): number {
  const quote = src[i];
  for (i++; i < src.length && src[i] !== quote && src[i] !== "\n"; i++) if (src[i] === "\\") i++;
  return i + 1;
}

// Index just past a `…` literal starting at i; ${…} holes may nest strings, templates and braces.
function skipTemplate(src: string, i: number): number {
  for (i++; i < src.length && src[i] !== "`"; i++) {
    if (src[i] === "\\") i++;
    else if (src[i] === "$" && src[i + 1] === "{") {
      let depth = 0;
      for (i++; i < src.length; i++) {
        const c = src[i];
        if (c === "{") depth++;
        else if (c === "}" && --depth === 0) break;
        else if (c === "'" || c === '"') i = skipQuoted(src, i) - 1;
        else if (c === "`") i = skipTemplate(src, i) - 1;
      }
    }
  }
  return i + 1;
}

// Index just past a /…/flags regex literal starting at i (a `/` inside [...] does not end it).
function skipRegex(src: string, i: number): number {
  let inClass = false;
  for (i++; i < src.length && src[i] !== "\n"; i++) {
    const c = src[i];
    if (c === "\\") i++;
    else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "/" && !inClass) break;
  }
  for (i++; i < src.length && /\w/.test(src[i] ?? ""); i++);
  return i;
}

// Index just past the next `end` at or after i, or the end of src.
function past(src: string, end: string, i: number): number {
  const j = src.indexOf(end, i);
  return j === -1 ? src.length : j + end.length;
}

const wordAt = /[\w$]+/y;

// Just enough of a lexer that comments, string contents and regexes never look like imports.
function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? "";
    const next = src[i + 1];
    if (/\s/.test(c)) i++;
    else if (c === "/" && next === "/") i = past(src, "\n", i);
    else if (c === "/" && next === "*") i = past(src, "*/", i + 2);
    else if (c === "'" || c === '"') {
      const end = skipQuoted(src, i);
      tokens.push({ kind: "string", text: src.slice(i + 1, end - 1) });
      i = end;
    } else if (c === "`") {
      i = skipTemplate(src, i);
      tokens.push({ kind: "string", text: "" });
    } else if (c === "/" && regexAllowed(tokens.at(-1))) {
      i = skipRegex(src, i);
      tokens.push({ kind: "string", text: "" });
    } else if (/[\w$]/.test(c)) {
      wordAt.lastIndex = i;
      const word = wordAt.exec(src)?.[0] ?? c;
      tokens.push({ kind: "word", text: word });
      i += word.length;
    } else {
      tokens.push({ kind: "punct", text: c });
      i++;
    }
  }
  return tokens;
}

// Tokens that can stand between `import`/`export` and `from` in a static import or re-export.
const clauseToken = /^([{},*]|[\w$]+)$/;

// The module specifier of the import/export statement whose keyword is tokens[k], if it has one.
function specifierAt(tokens: Token[], k: number): string | undefined {
  const keyword = tokens[k];
  const prev = tokens[k - 1];
  // `x.import`, `{ import: … }` and the like are property names, not statements.
  if (prev?.text === "." || tokens[k + 1]?.text === ":") return undefined;
  let j = k + 1;
  const first = tokens[j];
  if (keyword?.text === "import" && first?.kind === "string") return first.text;
  if (keyword?.text === "import" && first?.text === "(") return tokens[j + 1]?.kind === "string" ? tokens[j + 1]?.text : undefined;
  // `export const …`, `export function …`: only `export {…}`, `export *` and their `type` forms re-export.
  if (keyword?.text === "export" && !/^(\{|\*|type)$/.test(first?.text ?? "")) return undefined;
  for (; j < tokens.length; j++) {
    const t = tokens[j];
    if (t?.kind === "word" && t.text === "from" && tokens[j + 1]?.kind === "string") return tokens[j + 1]?.text;
    if (!t || t.kind === "string" || !clauseToken.test(t.text)) return undefined;
  }
  return undefined;
}

/** Every module specifier a source file imports or re-exports, static or dynamic. */
export function importSpecifiers(src: string): string[] {
  const tokens = tokenize(src);
  const found: string[] = [];
  tokens.forEach((t, k) => {
    if (t.kind !== "word" || (t.text !== "import" && t.text !== "export")) return;
    const spec = specifierAt(tokens, k);
    if (spec !== undefined) found.push(spec);
  });
  return found;
}

// The folder directly below operators/ that a repo-relative path sits in; "" for files directly
// in operators/, undefined for paths outside operators/.
function folderOf(file: string): string | undefined {
  const parts = file.split("/");
  if (parts[0] !== "operators" || parts.length < 2) return undefined;
  return parts.length === 2 ? "" : parts[1];
}

function label(folder: string): string {
  return folder === "api" || folder === "runtime" ? `${folder}/` : `product "${folder}"`;
}

function targetLabel(target: string): string {
  const folder = folderOf(target);
  if (folder === undefined) return `${target} outside operators/`;
  return folder === "" ? `the root file ${target}` : label(folder);
}

// Why `file` may not import `target`, or undefined when it may.
function ruleBroken(file: string, target: string): string | undefined {
  const from = folderOf(file);
  const to = folderOf(target);
  if (from === undefined || from === "" || from === to) return undefined;
  const what = `${label(from)} imports ${targetLabel(target)}`;
  if (from === "api") return `${what} (api/ holds the contracts and may import only api/)`;
  if (to === "api") return undefined;
  if (from === "runtime") return `${what} (runtime/ is product-agnostic and may import only runtime/ and api/)`;
  if (to === "runtime" || target === PLACEMENT_API) return undefined;
  if (to === undefined || to === "") return `${what} (a product may import only itself, runtime/, api/ and ${PLACEMENT_API})`;
  const platformNote = to === "platform" ? `; of platform only ${PLACEMENT_API} is open to other products` : "";
  return `${what} (products meet through api/ contracts and API objects${platformNote})`;
}

/** Every import in `files` (repo-relative path → source) that breaks the dependency rule. */
export function checkImports(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, src] of files) {
    for (const spec of importSpecifiers(src)) {
      // Bare specifiers are packages (zod, node:crypto, @kubernetes/client-node), outside the rule.
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue;
      const imports = path.posix.join(path.posix.dirname(file), spec);
      const rule = ruleBroken(file, imports);
      if (rule) violations.push({ file, imports, rule });
    }
  }
  return violations;
}

/** Every .ts file under <root>/operators (node_modules skipped), keyed by repo-relative path. */
export function scanRepo(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory() && entry.name !== "node_modules") walk(rel);
      else if (entry.isFile() && entry.name.endsWith(".ts")) files.set(rel, readFileSync(path.join(root, rel), "utf8"));
    }
  };
  walk("operators");
  return files;
}
